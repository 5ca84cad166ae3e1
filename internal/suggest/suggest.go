package suggest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
)

// Rule is a global rule for one direction.
type Rule string

const (
	// RuleObserved allows the included rows (the default).
	RuleObserved Rule = "observed"
	// RuleBlockAll allows nothing (egress keeps the cluster DNS).
	RuleBlockAll Rule = "block-all"
	// RuleAllowNamespace allows every pod of the subject's namespace.
	RuleAllowNamespace Rule = "allow-namespace"
	// RuleAllowAll allows everything, addresses included.
	RuleAllowAll Rule = "allow-all"
)

// Annotation keys of generated policies.
const (
	AnnotationWindow      = "redline.io/window"
	AnnotationGeneratedAt = "redline.io/generated-at"
	AnnotationSource      = "redline.io/source"
	LabelManagedBy        = "app.kubernetes.io/managed-by"
)

// DefaultNodeLocalDNSAddr is NodeLocal DNSCache's usual link-local address.
var DefaultNodeLocalDNSAddr = netip.MustParseAddr("169.254.20.10")

// Sentinel errors callers branch on.
var (
	ErrUnknownSubject = errors.New("subject not in the inventory")
	ErrHostNetwork    = errors.New("host-network pods are not subject to NetworkPolicies")
	ErrNoSelector     = errors.New("no stable labels to select the pods by")
	ErrBadChoice      = errors.New("invalid choice")
)

// Row identifies a row of the ingress or egress table: the peer is the
// source for ingress and the destination for egress; Port is the
// destination port as observed.
type Row struct {
	Direction netpol.Direction
	Peer      flow.Endpoint
	Protocol  flow.Protocol
	Port      uint16
}

func (r Row) String() string {
	return fmt.Sprintf("%s %s %s/%d", r.Direction, r.Peer, r.Protocol, r.Port)
}

// CIDRRule is a manual rule: allow egress to (or ingress from) CIDR, on
// Protocol/Port. Port 0 means every port of Protocol; ProtocolUnknown with
// port 0 means every port of every protocol.
type CIDRRule struct {
	CIDR     netip.Prefix
	Protocol flow.Protocol
	Port     uint16
}

// Choices are what the user picked in the tables. The zero value is the
// default: observed rows, addresses left out.
type Choices struct {
	// Ingress and Egress are the global rules; empty means RuleObserved.
	Ingress, Egress Rule
	// Exclude are rows left out of the policy.
	Exclude []Row
	// IncludeAddresses are unresolved addresses to allow as ipBlocks: the
	// alias's CIDRs for an aliased address, else /32 (/128).
	IncludeAddresses []netip.Addr
	// AllowEgressCIDRs and AllowIngressCIDRs are manual rules.
	AllowEgressCIDRs, AllowIngressCIDRs []CIDRRule
	// NamespaceLabelKey selects namespaces; empty means
	// kubernetes.io/metadata.name.
	NamespaceLabelKey string
	// NamedPorts uses container port names where the destination declares
	// them.
	NamedPorts bool
}

// Input is what a suggestion is made from.
type Input struct {
	// Subject is the workload, or the Service (WorkloadKind "Service").
	Subject flow.Endpoint
	// Inventory is the cluster view.
	Inventory *inventory.Inventory
	// Ingress and Egress are the subject's edges over the window (what
	// store.WorkloadEdges returns). Ingress edges to a Service backed by the
	// subject count as the subject's: callers add them (see
	// Lookup.ServicesSelecting).
	Ingress, Egress []flow.Edge
	// IngressRefs and EgressRefs, when either is set, are used instead of
	// Ingress and Egress: the same edges by pointer, for a caller that has
	// them in memory (the audit), saving a copy of each.
	IngressRefs, EgressRefs []*flow.Edge
	// IngressPeers and EgressPeers, when set, are Lookup.Peer of each
	// ref's peer (the source of an ingress edge, the destination of an
	// egress one), index for index: a caller that resolved them once for
	// many subjects saves Suggest a lookup per row.
	IngressPeers, EgressPeers []*Peer
	// Aliases map alias names to their CIDRs.
	Aliases map[string][]netip.Prefix
	Window  time.Duration
	Now     time.Time
	// Source says where the edges came from ("redline store", a file ...).
	Source string
	// NodeLocalDNSAddr is NodeLocal DNSCache's address; zero means
	// DefaultNodeLocalDNSAddr.
	NodeLocalDNSAddr netip.Addr
	// Lookup, if set, is NewLookup(Inventory), shared by the calls for many
	// subjects of one inventory (the audit) instead of built per call.
	Lookup *Lookup
	// SkipSelfCheck leaves out the engine's check that every included row
	// is allowed by the generated policy (a warning when not: a bug), and
	// validates the policy's metadata and pod selector but not its rules.
	// The property test proves both; the audit, which suggests for every
	// workload on every pass from objects the API server validated, skips
	// them because they cost most of a pass (the rules' label maps, shared
	// by thousands of policies, are cache misses to visit).
	SkipSelfCheck bool
	// fullCheck makes the check compile the whole policy (tests compare).
	fullCheck bool
}

// NamespaceLabelNeed says that rows could not be selected because a
// namespace lacks the namespace label key.
type NamespaceLabelNeed struct {
	Namespace string
	Key       string
	Rows      []Row
}

// Message is the sentence for people.
func (n NamespaceLabelNeed) Message() string {
	return fmt.Sprintf("namespace %s needs label %s: add it with kubectl label ns %s %s=...", n.Namespace, n.Key, n.Namespace, n.Key)
}

// Suggestion is a generated policy and what became of every row.
type Suggestion struct {
	// Policy is the generated policy. Its pod selectors may share label
	// maps with the Lookup it was made with (and so with other
	// suggestions made with it): treat it as read-only, or DeepCopy it.
	Policy *networkingv1.NetworkPolicy
	// Included rows are allowed by the policy; Excluded rows are left out
	// by choice or by default (addresses); Unselectable rows cannot be
	// expressed (Warnings and NeedsLabel say why). Sorted.
	Included, Excluded, Unselectable []Row
	// StillAllowed are excluded (or unselectable) rows the policy allows
	// anyway, as the engine judges it.
	StillAllowed []Row
	NeedsLabel   []NamespaceLabelNeed
	Warnings     []string
}

// PolicyName is the stable name of the policy for a subject.
func PolicyName(subject flow.Endpoint) string {
	name := "redline-" + strings.ToLower(subject.WorkloadKind) + "-" + subject.Name
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.TrimRight(name, "-.")
}

// portKey is one entry of a rule's ports: a protocol with a number, a name,
// or neither (every port of the protocol).
type portKey struct {
	proto corev1.Protocol
	num   int32
	name  string
}

// scratch are a builder's working slices, kept in its Lookup from one
// suggestion to the next: nothing a Suggestion holds points into them.
type scratch struct {
	rows, sorted                []keyedRow
	keys                        []sortKey
	order                       []int32
	sortedParts                 []rulePart
	parts                       [2][]rulePart // ingress, egress
	partPorts, rulePorts, ports []portKey
}

// release empties the scratch (letting go of what it pointed to) and
// hands it back to the Lookup.
func (b *builder) release() {
	sc := b.sc
	clear(sc.rows)
	clear(sc.sorted)
	clear(sc.parts[0])
	clear(sc.parts[1])
	clear(sc.sortedParts)
	*sc = scratch{rows: sc.rows[:0], sorted: sc.sorted[:0], keys: sc.keys[:0],
		parts:     [2][]rulePart{sc.parts[0][:0], sc.parts[1][:0]},
		partPorts: sc.partPorts[:0], rulePorts: sc.rulePorts[:0], ports: sc.ports[:0],
		order: sc.order[:0], sortedParts: sc.sortedParts[:0]}
	b.lookup.scratch = sc
}

// rulePart is what a row (or a global, manual or DNS rule) adds to the
// rule of its peer key: parts with equal keys merge into one rule when the
// policy is written, sorted by key (no map of rules per policy).
type rulePart struct {
	key      ruleKey
	spec     peerSpec
	allPorts bool
	ports    [2]int32 // builder.partPorts[ports[0]:ports[1]]
}

// ruleKey is what rows merge into one rule by: their peer.
type ruleKey struct {
	kind    byte // 0: every peer; 'p': pods here; 'n': pods in another namespace; 'c': CIDRs
	a, b, c string
	// lbl is the labels' (a of 'p', c of 'n') lblRank, or 0 (labels not
	// from a Lookup entry: the default DNS selector).
	lbl int32
}

// samePeer reports whether two keys are one rule's: lbl, which only one
// of them may have, is left out.
func (k ruleKey) samePeer(o ruleKey) bool {
	return k.kind == o.kind && k.a == o.a && k.b == o.b && k.c == o.c
}

// compareRuleKeys is the order rules are written in: every peer, pods of
// the namespace (by their labels), pods of other namespaces (by
// "key=value|labels"), CIDRs — the order of the keys as the strings
// "", "0pod:"+labels, "1ns:"+key+"="+value+"|"+labels, "2cidr:"+cidrs.
func compareRuleKeys(x, y ruleKey) int {
	if x.kind != y.kind {
		return cmp.Compare(ruleRank(x.kind), ruleRank(y.kind))
	}
	ranked := x.lbl != 0 && y.lbl != 0
	switch x.kind {
	case 'p':
		if ranked {
			return cmp.Compare(x.lbl, y.lbl)
		}
	case 'n':
		if x.a == y.a {
			switch {
			case x.b == y.b && ranked:
				return cmp.Compare(x.lbl, y.lbl)
			case x.b != y.b && !strings.HasPrefix(x.b, y.b) && !strings.HasPrefix(y.b, x.b):
				return strings.Compare(x.b, y.b) // they differ before either ends
			}
		}
		return compareJoined([]string{x.a, "=", x.b, "|", x.c}, []string{y.a, "=", y.b, "|", y.c})
	}
	return strings.Compare(x.a, y.a)
}

// boolOrder orders true before false, for two different bools.
func boolOrder(a bool) int {
	if a {
		return -1
	}
	return 1
}

func ruleRank(kind byte) int { return strings.IndexByte("\x00pnc", kind) }

// compareJoined compares the concatenations of a's and b's parts without
// building them.
func compareJoined(a, b []string) int {
	var x, y string
	for {
		for len(x) == 0 && len(a) > 0 {
			x, a = a[0], a[1:]
		}
		for len(y) == 0 && len(b) > 0 {
			y, b = b[0], b[1:]
		}
		if len(x) == 0 || len(y) == 0 {
			return cmp.Compare(len(x), len(y))
		}
		n := min(len(x), len(y))
		if c := strings.Compare(x[:n], y[:n]); c != 0 {
			return c
		}
		x, y = x[n:], y[n:]
	}
}

// peerSpec is a rule's peer, built only when the rule is new: most rows
// join a rule another row started.
type peerSpec struct {
	peers []networkingv1.NetworkPolicyPeer // ready-made (ipBlocks, global rules)
	// A pod peer selects lbls — the entry's, whose built peers it shares,
	// or a copy — in its namespace, by nsKey=nsVal when that is not the
	// subject's.
	pod          bool
	ent          *peerEntry
	lbls         map[string]string
	nsKey, nsVal string
}

// build makes the peers; l is the Lookup of the entry.
func (s peerSpec) build(l *Lookup) []networkingv1.NetworkPolicyPeer {
	if !s.pod {
		return s.peers
	}
	if s.ent != nil {
		return l.peersFrom(s.ent, s.nsKey, s.nsVal)
	}
	return podPeers(maps.Clone(s.lbls), s.nsKey, s.nsVal)
}

func podPeers(lbls map[string]string, nsKey, nsVal string) []networkingv1.NetworkPolicyPeer {
	p := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: lbls}}
	if nsKey != "" {
		p.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{nsKey: nsVal}}
	}
	return []networkingv1.NetworkPolicyPeer{p}
}

// peersFrom are the rule peers selecting an entry's pods: from the
// subject's namespace when nsKey is empty, else by nsKey=nsVal. Built once
// and shared by every policy of the Lookup (they are read-only).
func (l *Lookup) peersFrom(e *peerEntry, nsKey, nsVal string) []networkingv1.NetworkPolicyPeer {
	if nsKey == "" {
		if e.same == nil {
			e.same = podPeers(e.lbls, "", "")
			l.fragments[&e.same[0]] = &e.sameYAML
		}
		return e.same
	}
	if e.cross == nil || e.crossKey != nsKey || e.crossVal != nsVal {
		if e.cross != nil {
			delete(l.fragments, &e.cross[0])
		}
		e.cross, e.crossKey, e.crossVal, e.crossYAML = podPeers(e.lbls, nsKey, nsVal), nsKey, nsVal, nil
		l.fragments[&e.cross[0]] = &e.crossYAML
	}
	return e.cross
}

type builder struct {
	in     Input
	ch     Choices
	key    string
	ns     string
	sel    map[string]string
	dsts   []*netpol.Workload // the subject's workloads
	lookup *Lookup

	nss map[string]netpol.Namespace

	sc       *scratch
	excluded map[Row]bool
	incAddr  map[netip.Addr]bool
	keyed    []keyedRow              // the rows, with their vias
	via      map[Row][]flow.Endpoint // the vias by row, made when the check needs them
	needs    map[string][]Row
	warn     map[string]bool
	sug      Suggestion
}

// Suggest builds the policy for in.Subject under the choices. See the
// package documentation for the semantics.
func Suggest(in Input, ch Choices) (Suggestion, error) {
	if in.Inventory == nil {
		return Suggestion{}, fmt.Errorf("suggest for %s: no inventory", in.Subject)
	}
	for _, r := range []*Rule{&ch.Ingress, &ch.Egress} {
		switch *r {
		case "":
			*r = RuleObserved
		case RuleObserved, RuleBlockAll, RuleAllowNamespace, RuleAllowAll:
		default:
			return Suggestion{}, fmt.Errorf("%w: global rule %q: use observed, block-all, allow-namespace or allow-all", ErrBadChoice, *r)
		}
	}
	b := &builder{in: in, ch: ch, key: cmp.Or(ch.NamespaceLabelKey, netpol.NamespaceNameLabel)}
	if !b.in.NodeLocalDNSAddr.IsValid() {
		b.in.NodeLocalDNSAddr = DefaultNodeLocalDNSAddr
	}
	b.index()
	defer b.release()
	if err := b.subject(); err != nil {
		return Suggestion{}, fmt.Errorf("suggest for %s: %w", in.Subject, err)
	}
	for _, c := range append(slices.Clone(ch.AllowEgressCIDRs), ch.AllowIngressCIDRs...) {
		if !c.CIDR.IsValid() {
			return Suggestion{}, fmt.Errorf("%w: manual rule without a valid CIDR", ErrBadChoice)
		}
	}
	rows := b.rows()
	// Most rows are included: one allocation, not a doubling series.
	b.sug.Included = make([]Row, 0, len(rows))
	for i := range rows {
		r := rows[i].row
		rule := ch.Ingress
		if r.Direction == netpol.Egress {
			rule = ch.Egress
		}
		if rule != RuleObserved {
			continue // classified by the engine below
		}
		if b.excluded[r] {
			b.sug.Excluded = append(b.sug.Excluded, r)
			continue
		}
		if r.Peer.Kind == flow.EndpointAddress && !b.incAddr[r.Peer.Addr.Unmap()] {
			b.sug.Excluded = append(b.sug.Excluded, r)
			continue
		}
		if b.addRow(&rows[i]) {
			b.sug.Included = append(b.sug.Included, r)
		} else {
			b.sug.Unselectable = append(b.sug.Unselectable, r)
		}
	}
	if len(b.sug.Included) == 0 {
		b.sug.Included = nil // as before the allocation above
	}
	b.global(netpol.Ingress, ch.Ingress)
	b.global(netpol.Egress, ch.Egress)
	for _, c := range ch.AllowEgressCIDRs {
		b.addCIDR(netpol.Egress, c)
	}
	for _, c := range ch.AllowIngressCIDRs {
		b.addCIDR(netpol.Ingress, c)
	}
	if ch.Egress != RuleAllowAll {
		b.dns()
	}
	b.sug.Policy = b.policy()
	if errs := netpol.Validate(b.validated()); len(errs) > 0 {
		return Suggestion{}, fmt.Errorf("suggest for %s: generated policy is invalid (a bug): %w", in.Subject, errs.ToAggregate())
	}
	if err := b.check(rows); err != nil {
		return Suggestion{}, fmt.Errorf("suggest for %s: %w", in.Subject, err)
	}
	b.finish()
	return b.sug, nil
}

// Lookup finds an inventory's namespaces, workloads and Services by name.
type Lookup struct {
	inv *inventory.Inventory
	nss map[string]netpol.Namespace
	// podsByNS are the workloads off the host network, per namespace.
	podsByNS map[string][]*netpol.Workload
	// nodeLocalDNS: a workload labelled k8s-app=node-local-dns exists.
	nodeLocalDNS bool
	// peers has an entry per workload and Service endpoint: the workload
	// or Service, and what rows with that peer need, resolved once for
	// every suggestion made with the Lookup instead of once per row.
	peers map[flow.Endpoint]*peerEntry
	// onePort are rules' ports lists of a single port, shared.
	onePort map[portKey][]networkingv1.NetworkPolicyPort
	scratch *scratch // the last builder's
	// fragments are the YAML of the entries' peers lists, written when
	// first needed (YAMLString).
	fragments map[*networkingv1.NetworkPolicyPeer]*[]byte
}

// Peer is a Lookup's entry for a workload or Service: what rows with that
// peer need.
type Peer = peerEntry

// Peer is the entry of a workload or Service endpoint, nil for any other
// endpoint (an address, a node, an unknown workload).
func (l *Lookup) Peer(e flow.Endpoint) *Peer { return l.peers[e] }

// String is the endpoint as written (flow.Endpoint.String).
func (e *Peer) String() string { return e.str }

// Workload is the entry's workload; nil for a Service, or no entry.
func (e *Peer) Workload() *netpol.Workload {
	if e == nil {
		return nil
	}
	return e.w
}

// Service is the entry's Service; nil for a workload, or no entry.
func (e *Peer) Service() *inventory.Service {
	if e == nil {
		return nil
	}
	return e.svc
}

// peerEntry is a workload or Service as the peer of rows.
type peerEntry struct {
	// What every row with the peer reads comes first, on one cache line:
	// a pass reads thousands of entries, scattered over the heap.
	str    string // the endpoint as written (flow.Endpoint.String)
	lblStr string // labelString(lbls)
	// rank is str's place among the entries' strings, from 1: rows
	// compare ranks instead of strings scattered over the heap. lblRank
	// is lblStr's likewise (equal strings, equal ranks), for rules.
	rank, lblRank int32
	hostNetwork   bool // w's
	noLabels      bool // len(lbls) == 0
	// same and cross are rule peers selecting lbls, built on first use:
	// from the subject's namespace, and from another one by
	// crossKey=crossVal.
	same  []networkingv1.NetworkPolicyPeer
	cross []networkingv1.NetworkPolicyPeer

	w   *netpol.Workload   // the workload, or nil
	svc *inventory.Service // the Service, or nil
	// backends are the pods (workloads off the host network) svc selects.
	backends []*netpol.Workload
	// selecting are the Services selecting w (host network or not).
	selecting           []flow.Endpoint
	lbls                map[string]string // the workload's stable labels or the Service's selector
	crossKey, crossVal  string
	sameYAML, crossYAML []byte // same's and cross's YAML (Lookup.fragments)
}

// NewLookup indexes inv; it must not change while the Lookup is in use. A
// Lookup is not safe for concurrent use: suggestions fill caches in it.
func NewLookup(inv *inventory.Inventory) *Lookup {
	l := &Lookup{
		inv:       inv,
		nss:       make(map[string]netpol.Namespace, len(inv.Namespaces)),
		peers:     make(map[flow.Endpoint]*peerEntry, len(inv.Workloads)+len(inv.Services)),
		onePort:   map[portKey][]networkingv1.NetworkPolicyPort{},
		fragments: map[*networkingv1.NetworkPolicyPeer]*[]byte{},
	}
	for _, n := range inv.Namespaces {
		l.nss[n.Name] = n
	}
	l.podsByNS = map[string][]*netpol.Workload{}
	allByNS := map[string][]*netpol.Workload{}
	for _, w := range inv.Workloads {
		allByNS[w.Namespace] = append(allByNS[w.Namespace], w)
		if !w.HostNetwork {
			l.podsByNS[w.Namespace] = append(l.podsByNS[w.Namespace], w)
		}
		st := StableLabels(w.Kind, w.Labels)
		ep := flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)
		l.peers[ep] = &peerEntry{w: w, hostNetwork: w.HostNetwork, lbls: st, noLabels: len(st) == 0, lblStr: labelString(st), str: ep.String()}
		if w.Labels["k8s-app"] == "node-local-dns" {
			l.nodeLocalDNS = true
		}
	}
	for i := range inv.Services {
		s := &inv.Services[i]
		ep := inventory.ServiceEndpoint(s.Namespace, s.Name)
		// A copy: policies share it, and must not share the inventory's.
		e := &peerEntry{svc: s, lbls: maps.Clone(s.Selector), noLabels: len(s.Selector) == 0, lblStr: labelString(s.Selector), str: ep.String()}
		l.peers[ep] = e
		if len(s.Selector) == 0 {
			continue
		}
		for _, w := range l.podsByNS[s.Namespace] {
			if s.Selects(w.Labels) {
				e.backends = append(e.backends, w)
			}
		}
		// ServicesSelecting counts host-network workloads too.
		for _, w := range allByNS[s.Namespace] {
			if s.Selects(w.Labels) {
				// Only w's own entry: a later workload of the same name took its place.
				if we := l.peers[flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)]; we.w == w {
					we.selecting = append(we.selecting, ep)
				}
			}
		}
	}
	ranked := slices.SortedFunc(maps.Values(l.peers), func(a, b *peerEntry) int { return strings.Compare(a.str, b.str) })
	for i, e := range ranked {
		e.rank = int32(i + 1)
	}
	slices.SortFunc(ranked, func(a, b *peerEntry) int { return strings.Compare(a.lblStr, b.lblStr) })
	for i, e := range ranked {
		e.lblRank = 1
		if i > 0 {
			e.lblRank = ranked[i-1].lblRank
			if e.lblStr != ranked[i-1].lblStr {
				e.lblRank++
			}
		}
	}
	return l
}

// NodeLocalDNS reports whether NodeLocal DNSCache runs: suggestions then
// allow egress to its address.
func (l *Lookup) NodeLocalDNS() bool { return l.nodeLocalDNS }

// ServicesSelecting returns the Service endpoints whose selector picks the
// workload subject (none for an unknown workload): the package's
// ServicesSelecting without a scan.
func (l *Lookup) ServicesSelecting(subject flow.Endpoint) []flow.Endpoint {
	if e := l.peers[subject]; e != nil {
		return e.selecting
	}
	return nil
}

// workload is the workload of an endpoint, nil for any other.
func (l *Lookup) workload(e flow.Endpoint) *netpol.Workload {
	if p := l.peers[e]; p != nil {
		return p.w
	}
	return nil
}

// service is the Service ns/name, or nil.
func (l *Lookup) service(ns, name string) *inventory.Service {
	if p := l.peers[inventory.ServiceEndpoint(ns, name)]; p != nil {
		return p.svc
	}
	return nil
}

// Gather is the package's Gather for an inventory already indexed: it
// finds the subject and the Services selecting it without a scan.
func (l *Lookup) Gather(ctx context.Context, r EdgeReader, subject flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	if ingress, egress, err = r.WorkloadEdges(ctx, subject, from, to); err != nil {
		return nil, nil, err
	}
	for _, svc := range l.ServicesSelecting(subject) {
		in, _, err := r.WorkloadEdges(ctx, svc, from, to)
		if err != nil {
			return nil, nil, err
		}
		ingress = append(ingress, in...)
	}
	return ingress, egress, nil
}

func (b *builder) index() {
	l := b.in.Lookup
	if l == nil || l.inv != b.in.Inventory {
		l = NewLookup(b.in.Inventory)
	}
	b.nss, b.lookup = l.nss, l
	if b.sc, l.scratch = l.scratch, nil; b.sc == nil {
		b.sc = &scratch{}
	}
	b.excluded = make(map[Row]bool, len(b.ch.Exclude))
	for _, r := range b.ch.Exclude {
		b.excluded[normRow(r)] = true
	}
	b.incAddr = make(map[netip.Addr]bool, len(b.ch.IncludeAddresses))
	for _, a := range b.ch.IncludeAddresses {
		b.incAddr[a.Unmap()] = true
	}
	b.needs = map[string][]Row{}
	b.warn = map[string]bool{}
}

// normRow makes rows comparable: address peers compare by address only.
func normRow(r Row) Row {
	if r.Peer.Kind == flow.EndpointAddress {
		r.Peer = flow.Endpoint{Kind: flow.EndpointAddress, Addr: r.Peer.Addr.Unmap(), Class: r.Peer.Class, Alias: r.Peer.Alias}
	}
	return r
}

func (b *builder) warnf(format string, args ...any) { b.warn[fmt.Sprintf(format, args...)] = true }

func isService(e flow.Endpoint) bool {
	return e.Kind == flow.EndpointWorkload && e.WorkloadKind == inventory.ServiceEndpointKind
}

func (b *builder) subject() error {
	s := b.in.Subject
	if s.Kind != flow.EndpointWorkload {
		return fmt.Errorf("%w: a %s is not a workload or Service", ErrUnknownSubject, s.Kind)
	}
	b.ns = s.Namespace
	if isService(s) {
		svc := b.lookup.service(s.Namespace, s.Name)
		if svc == nil {
			return ErrUnknownSubject
		}
		if len(svc.Selector) == 0 {
			return fmt.Errorf("%w: Service %s/%s has no selector", ErrNoSelector, s.Namespace, s.Name)
		}
		b.sel = svc.Selector
		b.dsts = b.backends(svc)
		return nil
	}
	w := b.lookup.workload(s)
	if w == nil {
		return ErrUnknownSubject
	}
	if w.HostNetwork {
		return ErrHostNetwork
	}
	b.sel = b.lookup.peers[s].lbls
	if len(b.sel) == 0 {
		return fmt.Errorf("%w: add a label to the pod template of %s", ErrNoSelector, w.Key())
	}
	b.dsts = []*netpol.Workload{w}
	for _, o := range b.lookup.podsByNS[w.Namespace] {
		if o != w && selects(b.sel, o.Labels) {
			b.warnf("the pod selector %s also selects %s: the policy applies to it too", labelString(b.sel), o.Key())
		}
	}
	return nil
}

// backends are the non-host-network workloads a Service's selector picks.
func (b *builder) backends(svc *inventory.Service) []*netpol.Workload {
	return b.lookup.peers[inventory.ServiceEndpoint(svc.Namespace, svc.Name)].backends
}

// keyedRow is a row with what sorting and adding it need.
type keyedRow struct {
	row  Row
	peer string     // row.Peer as written
	ent  *peerEntry // the peer's entry, for a workload or Service peer
	// vias are the Services, other than the subject, an ingress row's
	// connections went through.
	vias []flow.Endpoint
}

// rows lists the table rows, deduplicated and sorted.
func (b *builder) rows() []keyedRow {
	ingress, egress := b.in.IngressRefs, b.in.EgressRefs
	inPeers, outPeers := b.in.IngressPeers, b.in.EgressPeers
	if len(inPeers) != len(ingress) || len(outPeers) != len(egress) {
		inPeers, outPeers = nil, nil // not given (or not for these refs)
	}
	if ingress == nil && egress == nil {
		for i := range b.in.Ingress {
			ingress = append(ingress, &b.in.Ingress[i])
		}
		for i := range b.in.Egress {
			egress = append(egress, &b.in.Egress[i])
		}
	}
	out := slices.Grow(b.sc.rows[:0], len(ingress)+len(egress))
	add := func(r Row, via flow.Endpoint, peers []*Peer, i int) {
		k := keyedRow{row: normRow(r)}
		if peers != nil {
			k.ent = peers[i]
		} else {
			k.ent = b.lookup.peers[k.row.Peer]
		}
		if k.ent != nil {
			k.peer = k.ent.str
		} else {
			k.peer = k.row.Peer.String()
		}
		if via.Kind != 0 {
			k.vias = []flow.Endpoint{via}
		}
		out = append(out, k)
	}
	for i, e := range ingress {
		if b.isSubject(e.Src) {
			continue // traffic to itself is always allowed
		}
		var via flow.Endpoint
		if isService(e.Dst) && e.Dst != b.in.Subject {
			via = e.Dst
		}
		add(Row{Direction: netpol.Ingress, Peer: e.Src, Protocol: e.Protocol, Port: e.Port}, via, inPeers, i)
	}
	for i, e := range egress {
		if b.isSubject(e.Dst) {
			continue
		}
		add(Row{Direction: netpol.Egress, Peer: e.Dst, Protocol: e.Protocol, Port: e.Port}, flow.Endpoint{}, outPeers, i)
	}
	b.sc.rows = out
	b.keyed = sortKeyed(out, true, b.sc)
	return b.keyed
}

// viaOf are the Services an ingress row's connections went through.
func (b *builder) viaOf(r Row) []flow.Endpoint {
	if b.via == nil {
		b.via = map[Row][]flow.Endpoint{}
		for _, k := range b.keyed {
			if len(k.vias) > 0 {
				b.via[k.row] = k.vias
			}
		}
	}
	return b.via[r]
}

func (b *builder) isSubject(e flow.Endpoint) bool {
	if e == b.in.Subject {
		return true
	}
	for _, w := range b.dsts {
		if e == flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name) {
			return true
		}
	}
	return false
}

// sortRows orders rows by direction, peer (as written), protocol and port,
// rows that read the same (an address seen with two classes) in the order
// given. It returns the rows, sorted in place.
func sortRows(rs []Row) []Row {
	if len(rs) < 2 {
		return rs
	}
	ks := make([]keyedRow, len(rs))
	for i, r := range rs {
		ks[i] = keyedRow{row: r, peer: r.Peer.String()}
	}
	for i, k := range sortKeyed(ks, false, nil) {
		rs[i] = k.row
	}
	return rs
}

// sortKey is what sortKeyed orders rows by.
type sortKey struct {
	rank   int32 // the peer's entry's, or 0
	peer   string
	egress bool
	proto  flow.Protocol
	port   uint16
	i      int32
}

// sortKeyed orders rows as sortRows does and, when dedup, drops repeated
// rows, merging their vias into the first. It returns the sorted rows, in
// the scratch's slice when there is one.
func sortKeyed(ks []keyedRow, dedup bool, sc *scratch) []keyedRow {
	if sc == nil {
		sc = &scratch{}
	}
	if len(ks) < 2 {
		return ks
	}
	// Sorting small keys and moving each row once is cheaper than moving
	// the rows in the sort.
	keys := sc.keys[:0]
	for i := range ks {
		r := &ks[i].row
		k := sortKey{peer: ks[i].peer, egress: r.Direction == netpol.Egress, proto: r.Protocol, port: r.Port, i: int32(i)}
		if ks[i].ent != nil {
			k.rank = ks[i].ent.rank
		}
		keys = append(keys, k)
	}
	sc.keys = keys
	slices.SortFunc(keys, func(a, b sortKey) int {
		if a.egress != b.egress {
			return boolOrder(a.egress) // "Egress" before "Ingress"
		}
		if a.rank != 0 && b.rank != 0 {
			if a.rank != b.rank {
				return cmp.Compare(a.rank, b.rank)
			}
		} else if c := strings.Compare(a.peer, b.peer); c != 0 {
			return c
		}
		if a.proto != b.proto {
			return cmp.Compare(a.proto, b.proto)
		}
		if a.port != b.port {
			return cmp.Compare(a.port, b.port)
		}
		return cmp.Compare(a.i, b.i) // stable
	})
	sorted := sc.sorted[:0]
	for _, k := range keys {
		sorted = append(sorted, ks[k.i])
	}
	sc.sorted = sorted
	ks = sorted
	if !dedup {
		return ks
	}
	out := ks[:0]
	run := 0 // where the rows reading like the last one start in out
	for _, k := range ks {
		if n := len(out); n == 0 || out[n-1].peer != k.peer || out[n-1].row.Direction != k.row.Direction ||
			out[n-1].row.Protocol != k.row.Protocol || out[n-1].row.Port != k.row.Port {
			run = n
		}
		dup := false
		for j := run; j < len(out); j++ {
			if out[j].row == k.row {
				for _, v := range k.vias {
					if !slices.Contains(out[j].vias, v) {
						out[j].vias = append(out[j].vias, v)
					}
				}
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}

// addRow adds the rule for an included row; false when it cannot be
// expressed (the reason is recorded).
func (b *builder) addRow(k *keyedRow) bool {
	r := k.row
	proto, ok := r.Protocol.Kubernetes()
	if !ok {
		b.warnf("%s: protocol %s cannot be expressed in a NetworkPolicy", r, r.Protocol)
		return false
	}
	if r.Direction == netpol.Egress && r.Port == 53 && b.isDNS(r.Peer) && b.ch.Egress != RuleAllowAll {
		return true // the DNS rule, always added, covers it
	}
	spec, key, ok := b.peer(k)
	if !ok {
		return false
	}
	ports := b.sc.ports[:0]
	switch {
	case r.Direction == netpol.Egress && isService(r.Peer):
		ports = append(ports, b.servicePorts(k.ent.svc, proto, r.Port, k.ent.backends, b.ch.NamedPorts)...)
	case r.Direction == netpol.Egress && r.Peer.Kind == flow.EndpointWorkload:
		if b.ch.NamedPorts {
			ports = append(ports, b.named(proto, int32(r.Port), []*netpol.Workload{k.ent.w}, true))
		} else {
			ports = append(ports, portKey{proto: proto, num: int32(r.Port)})
		}
	case r.Direction == netpol.Egress:
		ports = append(ports, portKey{proto: proto, num: int32(r.Port)})
	default: // ingress: the subject is the destination
		if len(k.vias) > 0 {
			for _, v := range k.vias {
				svc := b.lookup.service(v.Namespace, v.Name)
				if svc == nil {
					ports = append(ports, b.named(proto, int32(r.Port), b.dsts, b.ch.NamedPorts))
					continue
				}
				ports = append(ports, b.servicePorts(svc, proto, r.Port, b.dsts, b.ch.NamedPorts)...)
			}
		} else if isService(b.in.Subject) {
			ports = append(ports, b.servicePorts(b.lookup.service(b.ns, b.in.Subject.Name), proto, r.Port, b.dsts, b.ch.NamedPorts)...)
		} else {
			ports = append(ports, b.named(proto, int32(r.Port), b.dsts, b.ch.NamedPorts))
		}
	}
	b.sc.ports = ports
	if len(ports) == 0 {
		b.warnf("%s: the Service's named target port is declared by no backing pod", r)
		return false
	}
	b.addRule(r.Direction, key, spec, false, ports...)
	return true
}

// addRule adds a part to the rule of a peer key: ports, or all of them.
func (b *builder) addRule(dir netpol.Direction, key ruleKey, spec peerSpec, allPorts bool, ports ...portKey) {
	start := int32(len(b.sc.partPorts))
	b.sc.partPorts = append(b.sc.partPorts, ports...)
	i := dirIndex(dir)
	b.sc.parts[i] = append(b.sc.parts[i], rulePart{key: key, spec: spec, allPorts: allPorts, ports: [2]int32{start, int32(len(b.sc.partPorts))}})
}

func dirIndex(dir netpol.Direction) int {
	if dir == netpol.Egress {
		return 1
	}
	return 0
}

// named is port num, by name when NamedPorts asks for it and every
// destination declares that number and protocol under the same name.
func (b *builder) named(proto corev1.Protocol, num int32, dsts []*netpol.Workload, named bool) portKey {
	pk := portKey{proto: proto, num: num}
	if !named || len(dsts) == 0 {
		return pk
	}
	name := ""
	for _, w := range dsts {
		if w == nil {
			return pk
		}
		n := ""
		for _, cp := range w.Ports {
			if cp.Port == num && cmp.Or(cp.Protocol, corev1.ProtocolTCP) == proto {
				n = cp.Name
				break
			}
		}
		if n == "" || (name != "" && n != name) {
			return pk
		}
		name = n
	}
	return portKey{proto: proto, name: name}
}

// servicePorts maps an observed port of a connection through svc to the
// ports its backends receive it on. The store records the target port when
// the ingest could translate it, else the Service port.
func (b *builder) servicePorts(svc *inventory.Service, proto corev1.Protocol, port uint16, dsts []*netpol.Workload, named bool) []portKey {
	if svc == nil {
		return []portKey{b.named(proto, int32(port), dsts, named)}
	}
	for _, sp := range svc.Ports {
		if cmp.Or(sp.Protocol, corev1.ProtocolTCP) == proto && sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == int32(port) {
			return []portKey{b.named(proto, int32(port), dsts, named)}
		}
	}
	for _, sp := range svc.Ports {
		if cmp.Or(sp.Protocol, corev1.ProtocolTCP) != proto || sp.Port != int32(port) {
			continue
		}
		if sp.TargetPort.Type == intstr.Int {
			return []portKey{b.named(proto, cmp.Or(sp.TargetPort.IntVal, sp.Port), dsts, named)}
		}
		name := sp.TargetPort.StrVal
		if named {
			return []portKey{{proto: proto, name: name}}
		}
		var out []portKey
		for _, w := range dsts {
			for _, cp := range w.Ports {
				if cp.Name == name && cmp.Or(cp.Protocol, corev1.ProtocolTCP) == proto {
					pk := portKey{proto: proto, num: cp.Port}
					if !slices.Contains(out, pk) {
						out = append(out, pk)
					}
				}
			}
		}
		return out
	}
	return []portKey{b.named(proto, int32(port), dsts, named)}
}

// targetNums are the numeric ports a row's connections reach the given
// destination workload on (for the engine check).
func (b *builder) targetNums(svc *inventory.Service, proto corev1.Protocol, port uint16, dst *netpol.Workload) []int32 {
	if svc == nil {
		return []int32{int32(port)}
	}
	pks := b.servicePorts(svc, proto, port, []*netpol.Workload{dst}, false)
	var out []int32
	for _, p := range pks {
		out = append(out, p.num)
	}
	return out
}

// peer finds the peer of a row and the key rules merge by.
func (b *builder) peer(k *keyedRow) (peerSpec, ruleKey, bool) {
	r := k.row
	p := r.Peer
	switch p.Kind {
	case flow.EndpointAddress:
		var cidrs []netip.Prefix
		if p.Alias != "" {
			cidrs = b.in.Aliases[p.Alias]
		}
		if len(cidrs) == 0 {
			a := p.Addr.Unmap()
			cidrs = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		}
		return cidrPeers(cidrs)
	case flow.EndpointNode:
		b.warnf("%s: a node cannot be selected by a NetworkPolicy; add a manual CIDR rule for its address", r)
		return peerSpec{}, ruleKey{}, false
	case flow.EndpointWorkload:
	default:
		b.warnf("%s: unknown peer", r)
		return peerSpec{}, ruleKey{}, false
	}
	e := k.ent
	switch {
	case isService(p):
		if e == nil || e.noLabels {
			b.warnf("%s: Service %s/%s is unknown or has no selector", r, p.Namespace, p.Name)
			return peerSpec{}, ruleKey{}, false
		}
	case e == nil:
		b.warnf("%s: workload not in the inventory", r)
		return peerSpec{}, ruleKey{}, false
	case e.hostNetwork:
		b.warnf("%s: a host-network workload cannot be selected by a NetworkPolicy; add a manual CIDR rule for its node", r)
		return peerSpec{}, ruleKey{}, false
	case e.noLabels:
		b.warnf("%s: the peer has no stable labels to select it by", r)
		return peerSpec{}, ruleKey{}, false
	}
	spec, key, ok := b.podPeer(p.Namespace, peerSpec{ent: e}, e.lblStr, b.key)
	if !ok {
		b.needs[p.Namespace] = append(b.needs[p.Namespace], r)
		return peerSpec{}, ruleKey{}, false
	}
	return spec, key, true
}

// podPeer selects the pods of spec (lblStr is the labelString of their
// labels) in namespace ns, by namespace label key.
func (b *builder) podPeer(ns string, spec peerSpec, lblStr string, key string) (peerSpec, ruleKey, bool) {
	spec.pod = true
	var lbl int32
	if spec.ent != nil {
		lbl = spec.ent.lblRank
	}
	if ns == b.ns {
		return spec, ruleKey{kind: 'p', a: lblStr, lbl: lbl}, true
	}
	v, ok := b.nss[ns].Labels[key]
	if !ok && key == netpol.NamespaceNameLabel {
		v, ok = ns, true // the API server sets it on every namespace
	}
	if !ok {
		return spec, ruleKey{}, false
	}
	spec.nsKey, spec.nsVal = key, v
	return spec, ruleKey{kind: 'n', a: key, b: v, c: lblStr, lbl: lbl}, true
}

func cidrPeers(cidrs []netip.Prefix) (peerSpec, ruleKey, bool) {
	cidrs = slices.Clone(cidrs)
	for i := range cidrs {
		cidrs[i] = cidrs[i].Masked()
	}
	slices.SortFunc(cidrs, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	cidrs = slices.Compact(cidrs)
	var peers []networkingv1.NetworkPolicyPeer
	var keys []string
	for _, c := range cidrs {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c.String()}})
		keys = append(keys, c.String())
	}
	return peerSpec{peers: peers}, ruleKey{kind: 'c', a: strings.Join(keys, ",")}, true
}

func (b *builder) addCIDR(dir netpol.Direction, c CIDRRule) {
	spec, key, _ := cidrPeers([]netip.Prefix{c.CIDR})
	proto, ok := c.Protocol.Kubernetes()
	switch {
	case !ok:
		b.addRule(dir, key, spec, true)
	case c.Port == 0:
		b.addRule(dir, key, spec, false, portKey{proto: proto})
	default:
		b.addRule(dir, key, spec, false, portKey{proto: proto, num: int32(c.Port)})
	}
}

// global adds the rule of a global choice.
func (b *builder) global(dir netpol.Direction, r Rule) {
	switch r {
	case RuleAllowNamespace:
		b.addRule(dir, ruleKey{kind: 'p', a: "*"}, peerSpec{peers: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}, true)
	case RuleAllowAll:
		b.addRule(dir, ruleKey{}, peerSpec{}, true)
	}
}

const dnsNamespace, dnsService = "kube-system", "kube-dns"

// DNSNamespace is the namespace suggestions find the cluster DNS in.
const DNSNamespace = dnsNamespace

// isDNS reports whether a peer is the cluster DNS: its Service or a
// workload it selects.
func (b *builder) isDNS(p flow.Endpoint) bool {
	if p.Kind != flow.EndpointWorkload || p.Namespace != dnsNamespace {
		return false
	}
	if isService(p) {
		return p.Name == dnsService
	}
	sel := map[string]string{"k8s-app": "kube-dns"}
	if svc := b.lookup.service(dnsNamespace, dnsService); svc != nil && len(svc.Selector) > 0 {
		sel = svc.Selector
	}
	w := b.lookup.workload(p)
	return w != nil && !w.HostNetwork && selects(sel, w.Labels)
}

// dns adds egress to the cluster DNS.
func (b *builder) dns() {
	sel := map[string]string{"k8s-app": "kube-dns"}
	ports := []portKey{{proto: corev1.ProtocolUDP, num: 53}, {proto: corev1.ProtocolTCP, num: 53}}
	if svc := b.lookup.service(dnsNamespace, dnsService); svc != nil && len(svc.Selector) > 0 {
		sel = svc.Selector
		backends := b.backends(svc)
		var got []portKey
		for _, sp := range svc.Ports {
			got = append(got, b.servicePorts(svc, cmp.Or(sp.Protocol, corev1.ProtocolTCP), uint16(sp.Port), backends, false)...)
		}
		if len(got) > 0 {
			ports = got
		}
	} else {
		b.warnf("cluster DNS: Service %s/%s not found; allowing egress to pods labelled k8s-app=kube-dns in %s on TCP and UDP 53", dnsNamespace, dnsService, dnsNamespace)
	}
	key := b.key
	if _, ok := b.nss[dnsNamespace].Labels[key]; !ok && dnsNamespace != b.ns && key != netpol.NamespaceNameLabel {
		key = netpol.NamespaceNameLabel
		b.warnf("cluster DNS: namespace %s lacks label %s; DNS egress selects it by %s", dnsNamespace, b.key, key)
	}
	spec := peerSpec{lbls: sel}
	lblStr := ""
	if e := b.lookup.peers[inventory.ServiceEndpoint(dnsNamespace, dnsService)]; e != nil && !e.noLabels {
		spec, lblStr = peerSpec{ent: e}, e.lblStr
	} else {
		lblStr = labelString(sel)
	}
	spec, pkey, _ := b.podPeer(dnsNamespace, spec, lblStr, key)
	b.addRule(netpol.Egress, pkey, spec, false, ports...)
	if b.lookup.nodeLocalDNS {
		a := b.in.NodeLocalDNSAddr
		spec, k, _ := cidrPeers([]netip.Prefix{netip.PrefixFrom(a, a.BitLen())})
		b.addRule(netpol.Egress, k, spec, false, portKey{proto: corev1.ProtocolUDP, num: 53}, portKey{proto: corev1.ProtocolTCP, num: 53})
	}
}

// validated is what of the policy Suggest validates: all of it, or without
// its rules under SkipSelfCheck.
func (b *builder) validated() *networkingv1.NetworkPolicy {
	np := b.sug.Policy
	if !b.in.SkipSelfCheck {
		return np
	}
	return &networkingv1.NetworkPolicy{TypeMeta: np.TypeMeta, ObjectMeta: np.ObjectMeta,
		Spec: networkingv1.NetworkPolicySpec{PodSelector: np.Spec.PodSelector, PolicyTypes: np.Spec.PolicyTypes}}
}

func (b *builder) policy() *networkingv1.NetworkPolicy {
	s := b.in.Subject
	np := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      PolicyName(s),
			Namespace: s.Namespace,
			Labels:    map[string]string{LabelManagedBy: "redline"},
			Annotations: map[string]string{
				AnnotationWindow: b.in.Window.String(),
				AnnotationSource: cmp.Or(b.in.Source, "redline"),
			},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: maps.Clone(b.sel)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if !b.in.Now.IsZero() {
		np.Annotations[AnnotationGeneratedAt] = b.in.Now.UTC().Format(time.RFC3339)
	}
	b.rules(0, func(n int) { np.Spec.Ingress = make([]networkingv1.NetworkPolicyIngressRule, 0, n) },
		func(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports})
		})
	b.rules(1, func(n int) { np.Spec.Egress = make([]networkingv1.NetworkPolicyEgressRule, 0, n) },
		func(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports})
		})
	return np
}

// rules merges a direction's parts by key and hands each rule, in key
// order, to add, after telling size how many there are.
func (b *builder) rules(dir int, size func(int), add func([]networkingv1.NetworkPolicyPeer, []networkingv1.NetworkPolicyPort)) {
	parts := b.sc.parts[dir]
	if len(parts) == 0 {
		return
	}
	// Stable: parts of one key keep the order they were added in, and the
	// first one's peers are the rule's. Indexes are sorted, not the parts.
	order := b.sc.order[:0]
	for i := range parts {
		order = append(order, int32(i))
	}
	b.sc.order = order
	slices.SortFunc(order, func(x, y int32) int {
		return cmp.Or(compareRuleKeys(parts[x].key, parts[y].key), cmp.Compare(x, y))
	})
	sorted := b.sc.sortedParts[:0]
	for _, i := range order {
		sorted = append(sorted, parts[i])
	}
	b.sc.sortedParts, parts = sorted, sorted
	n := 1
	for i := 1; i < len(parts); i++ {
		if !parts[i].key.samePeer(parts[i-1].key) {
			n++
		}
	}
	size(n)
	for i := 0; i < len(parts); {
		j, all := i, false
		ports := b.sc.rulePorts[:0]
		for ; j < len(parts) && parts[j].key.samePeer(parts[i].key); j++ {
			all = all || parts[j].allPorts
			ports = append(ports, b.sc.partPorts[parts[j].ports[0]:parts[j].ports[1]]...)
		}
		b.sc.rulePorts = ports
		var rendered []networkingv1.NetworkPolicyPort
		if !all {
			rendered = b.lookup.render(ports)
		}
		add(parts[i].spec.build(b.lookup), rendered)
		i = j
	}
}

// render lists ports, sorted and without repeats; a single port's list is
// the Lookup's, shared.
func (l *Lookup) render(ports []portKey) []networkingv1.NetworkPolicyPort {
	slices.SortFunc(ports, func(x, y portKey) int {
		if x.proto != y.proto {
			return strings.Compare(string(x.proto), string(y.proto))
		}
		if x.num != y.num {
			return cmp.Compare(x.num, y.num)
		}
		return strings.Compare(x.name, y.name)
	})
	ports = slices.Compact(ports)
	if len(ports) == 1 {
		if ps, ok := l.onePort[ports[0]]; ok {
			return ps
		}
	}
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, k := range ports {
		proto := k.proto
		p := networkingv1.NetworkPolicyPort{Protocol: &proto}
		switch {
		case k.name != "":
			v := intstr.FromString(k.name)
			p.Port = &v
		case k.num != 0:
			v := intstr.FromInt32(k.num)
			p.Port = &v
		}
		out = append(out, p)
	}
	if len(out) == 1 {
		l.onePort[ports[0]] = out
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// conn is one connection a row stands for, in engine terms.
type conn struct {
	src, dst netpol.Endpoint
	proto    corev1.Protocol
	port     int32
}

// conns are the connections of a row between the subject's workloads and
// the peer's.
func (b *builder) conns(r Row) []conn {
	proto, ok := r.Protocol.Kubernetes()
	if !ok {
		return nil
	}
	var peers []netpol.Endpoint
	var peerWls []*netpol.Workload
	switch {
	case r.Peer.Kind == flow.EndpointAddress:
		peers = []netpol.Endpoint{netpol.AddrEndpoint(r.Peer.Addr.Unmap())}
	case isService(r.Peer):
		if svc := b.lookup.service(r.Peer.Namespace, r.Peer.Name); svc != nil {
			peerWls = b.backends(svc)
		}
	case r.Peer.Kind == flow.EndpointWorkload:
		if w := b.lookup.workload(r.Peer); w != nil {
			peerWls = []*netpol.Workload{w}
		}
	}
	var out []conn
	for _, s := range b.dsts {
		if r.Direction == netpol.Egress {
			var svc *inventory.Service
			if isService(r.Peer) {
				svc = b.lookup.service(r.Peer.Namespace, r.Peer.Name)
			}
			for _, pw := range peerWls {
				for _, n := range b.targetNums(svc, proto, r.Port, pw) {
					out = append(out, conn{netpol.WorkloadEndpoint(s), netpol.WorkloadEndpoint(pw), proto, n})
				}
			}
			for _, pe := range peers {
				out = append(out, conn{netpol.WorkloadEndpoint(s), pe, proto, int32(r.Port)})
			}
			continue
		}
		var svcs []*inventory.Service
		for _, v := range b.viaOf(r) {
			svcs = append(svcs, b.lookup.service(v.Namespace, v.Name))
		}
		if len(svcs) == 0 && isService(b.in.Subject) {
			svcs = append(svcs, b.lookup.service(b.ns, b.in.Subject.Name))
		}
		if len(svcs) == 0 {
			svcs = []*inventory.Service{nil}
		}
		for _, svc := range svcs {
			for _, n := range b.targetNums(svc, proto, r.Port, s) {
				for _, pw := range peerWls {
					out = append(out, conn{netpol.WorkloadEndpoint(pw), netpol.WorkloadEndpoint(s), proto, n})
				}
				for _, pe := range peers {
					out = append(out, conn{pe, netpol.WorkloadEndpoint(s), proto, n})
				}
			}
		}
	}
	return out
}

// check asks the engine what the policy alone does to every row: rows of a
// global rule are classified, excluded rows still allowed are reported.
func (b *builder) check(rows []keyedRow) error {
	if b.ch.Ingress == RuleObserved && b.ch.Egress == RuleObserved && len(b.sug.Excluded)+len(b.sug.Unselectable) == 0 &&
		(b.in.SkipSelfCheck || len(b.sug.Included) == 0) {
		return nil // nothing to ask the engine
	}
	ruleOf := func(r Row) Rule {
		if r.Direction == netpol.Egress {
			return b.ch.Egress
		}
		return b.ch.Ingress
	}
	// The rows asked about: those of a global rule, the excluded and
	// unselectable ones and, for the self-check, the included ones.
	asked := slices.Concat(b.sug.Excluded, b.sug.Unselectable)
	if !b.in.SkipSelfCheck {
		asked = append(asked, b.sug.Included...)
	}
	for _, k := range rows {
		if ruleOf(k.row) != RuleObserved {
			asked = append(asked, k.row)
		}
	}
	pol := b.checkedPolicy()
	var allowed func(r Row) (some, all bool)
	if b.deniesAll(pol, asked) {
		// What the engine would answer, without compiling the policy.
		allowed = func(Row) (bool, bool) { return false, false }
	} else {
		// Only the subject's pods are indexed: the policy selects nothing
		// else, and the engine judges the peers (not given to NewIndex) by
		// their labels all the same. Indexing every workload of a large
		// cluster for one policy cost most of an audit pass.
		ix, err := netpol.NewIndex(b.namespacesOf(asked), b.dsts, []*networkingv1.NetworkPolicy{pol}, netpol.DefaultOptions())
		if err != nil {
			return fmt.Errorf("index the generated policy: %w", err)
		}
		allowed = func(r Row) (some, all bool) {
			cs := b.conns(r)
			all = len(cs) > 0
			for _, c := range cs {
				ex := ix.Explain(c.src, c.dst, c.proto, c.port)
				side := ex.Egress
				if r.Direction == netpol.Ingress {
					side = ex.Ingress
				}
				ok := side.Allowed || ex.Self
				some = some || ok
				all = all && ok
			}
			return some, all
		}
	}
	for _, k := range rows {
		if r := k.row; ruleOf(r) != RuleObserved {
			if a, _ := allowed(r); a {
				b.sug.Included = append(b.sug.Included, r)
			} else {
				b.sug.Excluded = append(b.sug.Excluded, r)
			}
		}
	}
	for _, r := range append(slices.Clone(b.sug.Excluded), b.sug.Unselectable...) {
		if a, _ := allowed(r); a {
			b.sug.StillAllowed = append(b.sug.StillAllowed, r)
		}
	}
	for _, r := range b.sug.Included {
		if b.in.SkipSelfCheck {
			break
		}
		if _, all := allowed(r); !all && len(b.conns(r)) > 0 {
			b.warnf("%s: included but not allowed by the generated policy for every pod pair (a bug, please report)", r)
		}
	}
	return nil
}

// deniesAll reports whether pol surely denies every row asked about,
// without the engine: each row's peer is one only ipBlocks and rules
// without peers can allow (not a pod the policy could select, nor the
// subject itself), in a direction pol isolates and has no rules for.
func (b *builder) deniesAll(pol *networkingv1.NetworkPolicy, asked []Row) bool {
	if b.in.fullCheck {
		return false
	}
	for _, r := range asked {
		rules := len(pol.Spec.Ingress)
		if r.Direction == netpol.Egress {
			rules = len(pol.Spec.Egress)
		}
		if rules > 0 || b.selectablePeer(r.Peer) || !slices.Contains(pol.Spec.PolicyTypes, networkingv1.PolicyType(r.Direction)) {
			return false
		}
	}
	return true
}

// checkedPolicy is the generated policy with only the rules the check's
// rows can meet: a row is judged on its own direction's side, which the
// other direction's rules do not touch; and a row whose peer is an
// address is not selected by a peer of pod and namespace selectors, so
// when a direction's rows are all addresses only its rules with ipBlocks
// (or without peers) count. Compiling rules costs most of the check.
// policyTypes, which say what is isolated, stay as they are.
func (b *builder) checkedPolicy() *networkingv1.NetworkPolicy {
	type need struct{ any, nonAddr bool }
	var in, out need
	note := func(rs []Row) {
		for _, r := range rs {
			n := &in
			if r.Direction == netpol.Egress {
				n = &out
			}
			n.any = true
			n.nonAddr = n.nonAddr || b.selectablePeer(r.Peer)
		}
	}
	note(b.sug.Excluded)
	note(b.sug.Unselectable)
	if !b.in.SkipSelfCheck {
		note(b.sug.Included)
	}
	if b.ch.Ingress != RuleObserved {
		in = need{true, true}
	}
	if b.ch.Egress != RuleObserved {
		out = need{true, true}
	}
	if in.nonAddr && out.nonAddr || len(b.sug.Policy.Spec.PolicyTypes) == 0 || b.in.fullCheck {
		return b.sug.Policy // (without policyTypes the rules would decide them)
	}
	p := *b.sug.Policy
	switch {
	case !in.any:
		p.Spec.Ingress = nil
	case !in.nonAddr:
		var keep []networkingv1.NetworkPolicyIngressRule // few or none: not a clone of all
		for _, r := range p.Spec.Ingress {
			if meetsAddresses(r.From) {
				keep = append(keep, r)
			}
		}
		p.Spec.Ingress = keep
	}
	switch {
	case !out.any:
		p.Spec.Egress = nil
	case !out.nonAddr:
		var keep []networkingv1.NetworkPolicyEgressRule
		for _, r := range p.Spec.Egress {
			if meetsAddresses(r.To) {
				keep = append(keep, r)
			}
		}
		p.Spec.Egress = keep
	}
	return &p
}

// selectablePeer reports whether a row's peer can be a pod the engine selects by
// labels: a workload it knows off the host network (a host-network pod is
// its node's address to policies), or a Service's backends. Rows of other
// peers (addresses, nodes, unknown workloads) meet only ipBlocks and rules
// without peers.
func (b *builder) selectablePeer(p flow.Endpoint) bool {
	if p.Kind != flow.EndpointWorkload {
		return false
	}
	if isService(p) {
		return true
	}
	w := b.lookup.workload(p)
	return w != nil && !w.HostNetwork
}

// meetsAddresses reports whether a rule with these peers can allow an
// address: it has no peers (everything), or an ipBlock.
func meetsAddresses(peers []networkingv1.NetworkPolicyPeer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			return true
		}
	}
	return false
}

// namespacesOf are the namespaces the check of rows needs: the subject's
// and the rows' peers' (a peer's namespace labels decide whether
// namespaceSelectors match it). Compiling the policy against every namespace of a large cluster, for
// every workload, would cost more than the check.
func (b *builder) namespacesOf(rows []Row) []netpol.Namespace {
	seen := map[string]bool{}
	var out []netpol.Namespace
	add := func(name string) {
		if n, ok := b.nss[name]; ok && !seen[name] {
			seen[name] = true
			out = append(out, n)
		}
	}
	add(b.ns)
	for _, w := range b.dsts {
		add(w.Namespace)
	}
	for _, r := range rows {
		for _, v := range b.viaOf(r) {
			add(v.Namespace)
		}
		if r.Peer.Kind != flow.EndpointWorkload {
			continue
		}
		add(r.Peer.Namespace)
		if isService(r.Peer) {
			if svc := b.lookup.service(r.Peer.Namespace, r.Peer.Name); svc != nil {
				for _, w := range b.backends(svc) {
					add(w.Namespace)
				}
			}
		}
	}
	return out
}

func (b *builder) finish() {
	s := &b.sug
	// The tables are filled in the order of the sorted rows, but for the
	// rows a global rule classifies (after the others) and StillAllowed.
	if b.ch.Ingress != RuleObserved || b.ch.Egress != RuleObserved {
		for _, rs := range []*[]Row{&s.Included, &s.Excluded, &s.Unselectable} {
			*rs = sortRows(*rs)
		}
	}
	s.StillAllowed = sortRows(s.StillAllowed)
	for _, r := range s.StillAllowed {
		b.warnf("%s: excluded but still allowed: an included rule, the DNS rule or a global rule selects the peer too", r)
	}
	for _, ns := range sortedKeys(b.needs) {
		rows := sortRows(b.needs[ns])
		n := NamespaceLabelNeed{Namespace: ns, Key: b.key, Rows: rows}
		s.NeedsLabel = append(s.NeedsLabel, n)
		b.warnf("%s", n.Message())
	}
	s.Warnings = sortedKeys(b.warn)
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func labelString(m map[string]string) string {
	keys := sortedKeys(m)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}
