package rego

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the document the decision policies see as `input`. README.md
// documents every field; the json tags are the names Rego uses.
//
// The *Text fields are the human-readable pieces of the messages. The caller
// may fill them; Decide fills the empty ones (endpoint labels, "1.2k",
// "2h ago", "24h") so that policies only choose and join strings.
type Input struct {
	Request   Request         `json:"request"`
	Object    json.RawMessage `json:"object,omitempty"`    // the admitted object as sent (AdmissionRequest.Object.Raw); absent on DELETE
	OldObject json.RawMessage `json:"oldObject,omitempty"` // the object before the change (AdmissionRequest.OldObject.Raw); absent on CREATE
	Namespace Namespace       `json:"namespace"`
	// Mode is the effective mode (see ResolveMode); empty means ModeWarn.
	Mode Mode `json:"mode"`
	// ModeWarning, when set, says why the namespace label was not used; the
	// default policy reports it as a warning in every mode.
	ModeWarning string `json:"modeWarning,omitempty"`
	Impact      Impact `json:"impact"`
}

// Request is the part of the AdmissionRequest the policies need.
type Request struct {
	UID       string   `json:"uid"`
	Operation string   `json:"operation"` // CREATE, UPDATE, DELETE
	Kind      Kind     `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	UserInfo  UserInfo `json:"userInfo"`
	DryRun    bool     `json:"dryRun"`
}

// Kind is the admitted object's group, version and kind.
type Kind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// UserInfo is who asked.
type UserInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
}

// Namespace is the namespace of the admitted object.
type Namespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Impact summarises what the change does to observed connections.
type Impact struct {
	// TurnsRed lists the first connections that turn red, most important
	// first; Decide keeps at most Options.MaxConnections of them.
	TurnsRed        []Connection `json:"turnsRed"`
	TurnsRedTotal   int          `json:"turnsRedTotal"` // all connections that turn red, listed or not
	TurnsGreenTotal int          `json:"turnsGreenTotal"`
	StaysRedTotal   int          `json:"staysRedTotal"`
	// Unknown: the impact could not be computed (no data, store down); the
	// default policy warns and allows, whatever the mode.
	Unknown       bool   `json:"unknown"`
	UnknownReason string `json:"unknownReason,omitempty"`
	// Incomplete: the evaluation budget ran out; TurnsRed may be partial. The
	// default policy warns and allows, whatever the mode.
	Incomplete bool `json:"incomplete"`
	// Window is how far back observed connections were considered; it appears
	// in the input as text ("24h", "7d").
	Window time.Duration `json:"-"`
}

// MarshalJSON writes the impact as policies see it (window as text, turnsRed
// as an array even when empty).
func (i Impact) MarshalJSON() ([]byte, error) {
	type plain Impact
	p := plain(i)
	if p.TurnsRed == nil {
		p.TurnsRed = []Connection{}
	}
	return json.Marshal(struct {
		plain
		Window string `json:"window,omitempty"`
	}{p, FormatWindow(i.Window)})
}

// Connection is one observed edge that the change turns red.
type Connection struct {
	Src      Endpoint `json:"src"`
	Dst      Endpoint `json:"dst"`
	Protocol string   `json:"protocol"` // TCP, UDP, SCTP, ICMP
	Port     int32    `json:"port"`     // destination port; 0 when the protocol has none
	// PortText is "TCP/7070", or the protocol alone when Port is 0.
	PortText string `json:"portText"`
	Service  string `json:"service,omitempty"` // namespace/name of the Service it was reached through
	Count    int64  `json:"count"`             // connections observed in the window
	// CountText is Count for people: "950", "1.2k", "3M".
	CountText string    `json:"countText"`
	LastSeen  time.Time `json:"lastSeen,omitzero"` // RFC 3339
	// LastSeenText is LastSeen relative to now: "2h ago".
	LastSeenText string `json:"lastSeenText"`
	// Explanation says which policy denies it, in one line.
	Explanation string `json:"explanation,omitempty"`
}

// Endpoint is one side of a connection: a workload or an address.
type Endpoint struct {
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"` // Deployment, DaemonSet, StatefulSet, CronJob, Job, ReplicaSet, Pod
	Name      string `json:"name,omitempty"`
	Address   string `json:"address,omitempty"` // for endpoints that are not workloads
	Class     string `json:"class,omitempty"`   // internal, external, aliased, unknown (addresses only)
	Alias     string `json:"alias,omitempty"`   // the user alias or named CIDR that matched
	// Text is the endpoint for people: "shop/frontend[Deployment]",
	// "203.0.113.7 (external)", "payments-api (203.0.113.7)".
	Text string `json:"text"`
}

// Label returns the endpoint for people, as used in Text.
func (e Endpoint) Label() string {
	switch {
	case e.Text != "":
		return e.Text
	case e.Name != "":
		return e.Namespace + "/" + e.Name + "[" + e.Kind + "]"
	case e.Alias != "" && e.Address != "":
		return e.Alias + " (" + e.Address + ")"
	case e.Alias != "":
		return e.Alias
	case e.Class != "":
		return e.Address + " (" + e.Class + ")"
	default:
		return e.Address
	}
}

// FormatCount writes a count with three significant digits at most:
// 950, 1.2k, 12k, 123k, 1.2M.
func FormatCount(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10)
	}
	v := float64(n)
	for _, unit := range []string{"k", "M", "G", "T", "P", "E"} {
		v /= 1000
		switch {
		case v < 9.95:
			return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + unit
		case v < 999.5:
			return strconv.FormatFloat(v, 'f', 0, 64) + unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// FormatAgo writes how long before now t was: "just now", "40s ago",
// "5m ago", "2h ago", "3d ago". A zero t is "never".
func FormatAgo(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// FormatWindow writes a window as "90m", "24h", "7d"; zero is "".
func FormatWindow(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.String()
	}
}

// value builds the AST of the input directly (no JSON round trip except for
// the raw objects), filling the empty *Text fields. now is the reference for
// lastSeenText. Keys and common values are shared terms, built once.
func (in *Input) value(now time.Time) (ast.Value, error) {
	return in.valueWith(now, nil)
}

// valueWith is value, with the endpoint terms of earlier inputs in cache
// (nil: none).
func (in *Input) valueWith(now time.Time, cache *endpointCache) (ast.Value, error) {
	var f fields
	f.term("request", ast.NewTerm(in.Request.value()))
	for _, raw := range []struct {
		key string
		doc json.RawMessage
	}{{"object", in.Object}, {"oldObject", in.OldObject}} {
		if len(bytes.TrimSpace(raw.doc)) == 0 {
			continue
		}
		v, err := ast.ValueFromReader(bytes.NewReader(raw.doc))
		if err != nil {
			return nil, fmt.Errorf("input %s is not JSON: %w", raw.key, err)
		}
		f.term(raw.key, ast.NewTerm(v))
	}
	f.term("namespace", ast.NewTerm(in.Namespace.value()))
	mode := in.Mode
	if mode == "" {
		mode = ModeWarn
	}
	f.str("mode", string(mode))
	f.optStr("modeWarning", in.ModeWarning)
	f.term("impact", ast.NewTerm(in.Impact.value(now, cache)))
	return f.object(), nil
}

func (r *Request) value() ast.Value {
	var kind, user, f fields
	kind.str("group", r.Kind.Group)
	kind.str("version", r.Kind.Version)
	kind.str("kind", r.Kind.Kind)
	user.str("username", r.UserInfo.Username)
	if len(r.UserInfo.Groups) > 0 {
		groups := make([]*ast.Term, len(r.UserInfo.Groups))
		for i, g := range r.UserInfo.Groups {
			groups[i] = ast.StringTerm(g)
		}
		user.term("groups", ast.ArrayTerm(groups...))
	}
	f.str("uid", r.UID)
	f.str("operation", r.Operation)
	f.term("kind", ast.NewTerm(kind.object()))
	f.optStr("namespace", r.Namespace)
	f.optStr("name", r.Name)
	f.term("userInfo", ast.NewTerm(user.object()))
	f.term("dryRun", ast.InternedTerm(r.DryRun))
	return f.object()
}

func (n *Namespace) value() ast.Value {
	var f fields
	f.str("name", n.Name)
	if len(n.Labels) > 0 {
		labels := ast.NewObjectWithCapacity(len(n.Labels))
		for k, v := range n.Labels {
			labels.Insert(ast.StringTerm(k), ast.StringTerm(v))
		}
		f.term("labels", ast.NewTerm(labels))
	}
	return f.object()
}

func (i *Impact) value(now time.Time, cache *endpointCache) ast.Value {
	red := make([]*ast.Term, len(i.TurnsRed))
	eps := endpointTerms{cache: cache}
	for k := range i.TurnsRed {
		red[k] = ast.NewTerm(i.TurnsRed[k].value(now, &eps))
	}
	var f fields
	f.term("turnsRed", ast.ArrayTerm(red...))
	f.term("turnsRedTotal", ast.InternedTerm(i.TurnsRedTotal))
	f.term("turnsGreenTotal", ast.InternedTerm(i.TurnsGreenTotal))
	f.term("staysRedTotal", ast.InternedTerm(i.StaysRedTotal))
	f.term("unknown", ast.InternedTerm(i.Unknown))
	f.optStr("unknownReason", i.UnknownReason)
	f.term("incomplete", ast.InternedTerm(i.Incomplete))
	f.optStr("window", FormatWindow(i.Window))
	return f.object()
}

func (c *Connection) value(now time.Time, eps *endpointTerms) ast.Value {
	var f fields
	f.term("src", eps.term(&c.Src))
	f.term("dst", eps.term(&c.Dst))
	f.str("protocol", c.Protocol)
	f.term("port", ast.InternedTerm(int(c.Port)))
	f.str("portText", cmp.Or(c.PortText, c.portText()))
	f.optStr("service", c.Service)
	f.term("count", ast.InternedTerm(c.Count))
	f.str("countText", cmp.Or(c.CountText, FormatCount(c.Count)))
	if !c.LastSeen.IsZero() {
		f.str("lastSeen", c.LastSeen.Format(time.RFC3339Nano))
	}
	f.str("lastSeenText", cmp.Or(c.LastSeenText, FormatAgo(now, c.LastSeen)))
	f.optStr("explanation", c.Explanation)
	return f.object()
}

// portText is "TCP/7070", or the protocol alone when there is no port.
func (c *Connection) portText() string {
	if c.Port == 0 {
		return c.Protocol
	}
	return c.Protocol + "/" + strconv.Itoa(int(c.Port))
}

// endpointTerms are the endpoint terms of one input: the connections
// listed share endpoints (the busiest workloads), and equal endpoints
// share one term, from cache when it has one.
type endpointTerms struct {
	buf   [2 * DefaultMaxConnections]endpointTerm
	seen  []endpointTerm
	cache *endpointCache
}

type endpointTerm struct {
	e *Endpoint
	t *ast.Term
}

// term returns the term of e, built the first time.
func (ts *endpointTerms) term(e *Endpoint) *ast.Term {
	for _, s := range ts.seen {
		if *s.e == *e {
			return s.t
		}
	}
	if ts.seen == nil {
		ts.seen = ts.buf[:0]
	}
	t := ts.cache.get(e)
	if t == nil {
		t = ast.NewTerm(e.value())
		// The term is shared by concurrent evaluations: an object sorts
		// its keys on first use (under a sync.Once that Copy does not
		// take), so have it sorted before anyone else can see it.
		if o, ok := t.Value.(ast.Object); ok {
			o.Keys()
		}
		ts.cache.put(e, t)
	}
	ts.seen = append(ts.seen, endpointTerm{e, t})
	return t
}

// endpointCache keeps the terms of the endpoints of recent inputs: the
// connections an admission lists are the busiest of the namespace, and
// the next admission in the namespace lists many of them again. Terms
// never change once built, so inputs share them. It holds between
// endpointCacheSize and twice as many endpoints, the most recently used
// (two generations: a hit in the older one moves to the newer). The
// zero value is ready; a nil cache keeps nothing.
type endpointCache struct {
	mu        sync.Mutex
	cur, prev map[Endpoint]*ast.Term
}

const endpointCacheSize = 1024

func (c *endpointCache) get(e *Endpoint) *ast.Term {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cur[*e]; ok {
		return t
	}
	t, ok := c.prev[*e]
	if ok {
		c.putLocked(e, t)
	}
	return t
}

func (c *endpointCache) put(e *Endpoint, t *ast.Term) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(e, t)
}

func (c *endpointCache) putLocked(e *Endpoint, t *ast.Term) {
	if c.cur == nil || len(c.cur) >= endpointCacheSize {
		c.prev, c.cur = c.cur, make(map[Endpoint]*ast.Term, endpointCacheSize)
	}
	c.cur[*e] = t
}

func (e *Endpoint) value() ast.Value {
	var f fields
	f.optStr("cluster", e.Cluster)
	f.optStr("namespace", e.Namespace)
	f.optStr("kind", e.Kind)
	f.optStr("name", e.Name)
	f.optStr("address", e.Address)
	f.optStr("class", e.Class)
	f.optStr("alias", e.Alias)
	f.str("text", e.Label())
	return f.object()
}

// fields collects the items of one object (at most maxFields, on the
// stack); object builds it in one step (one map and one block of elements
// per object, see ast.NewObject).
type fields struct {
	n  int
	kv [maxFields][2]*ast.Term
}

// maxFields is the most items an object of the input has.
const maxFields = 12

func (f *fields) term(key string, value *ast.Term) {
	f.kv[f.n] = [2]*ast.Term{sharedString(key), value}
	f.n++
}

func (f *fields) str(key, value string) { f.term(key, sharedString(value)) }

func (f *fields) optStr(key, value string) {
	if value != "" {
		f.str(key, value)
	}
}

func (f *fields) object() ast.Object { return ast.NewObject(f.kv[:f.n]...) }

// sharedTerms are the input's keys and its most common values, built once.
// Terms are never modified after construction, so sharing them is safe.
var sharedTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range strings.Fields(`
		request object oldObject namespace mode modeWarning impact
		uid operation kind group version userInfo username groups dryRun name
		labels turnsRed turnsRedTotal turnsGreenTotal staysRedTotal unknown unknownReason incomplete window
		src dst protocol port portText service count countText lastSeen lastSeenText explanation
		cluster address class alias text
		CREATE UPDATE DELETE CONNECT networking.k8s.io v1 NetworkPolicy
		off warn enforce TCP UDP SCTP ICMP
		Deployment DaemonSet StatefulSet CronJob Job ReplicaSet Pod
		internal external aliased`) {
		m[s] = ast.StringTerm(s)
	}
	m[""] = ast.StringTerm("")
	return m
}()

func sharedString(s string) *ast.Term {
	if t, ok := sharedTerms[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}
