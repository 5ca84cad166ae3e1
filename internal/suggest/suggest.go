package suggest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	// is allowed by the generated policy (a warning when not: a bug). The
	// property test proves it; the audit, which suggests for every
	// workload on every pass, skips it because it costs most of a pass.
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

type ruleAcc struct {
	peers    []networkingv1.NetworkPolicyPeer
	allPorts bool
	ports    map[portKey]struct{}
}

// ruleKey is what rows merge into one rule by: their peer.
type ruleKey struct {
	kind    byte // 0: every peer; 'p': pods here; 'n': pods in another namespace; 'c': CIDRs
	a, b, c string
}

// String is the order rules are written in: every peer, pods of the
// namespace, pods of other namespaces, CIDRs.
func (k ruleKey) String() string {
	switch k.kind {
	case 'p':
		return "0pod:" + k.a
	case 'n':
		return "1ns:" + k.a + "=" + k.b + "|" + k.c
	case 'c':
		return "2cidr:" + k.a
	}
	return ""
}

// peerSpec is a rule's peer, built only when the rule is new: most rows
// join a rule another row started.
type peerSpec struct {
	peers []networkingv1.NetworkPolicyPeer // ready-made (ipBlocks, global rules)
	// A pod peer selects lbls (borrowed from the Lookup when shared, else
	// copied) in its namespace, by nsKey=nsVal when that is not the
	// subject's.
	pod, shared  bool
	lbls         map[string]string
	nsKey, nsVal string
}

func (s peerSpec) build() []networkingv1.NetworkPolicyPeer {
	if !s.pod {
		return s.peers
	}
	lbls := s.lbls
	if !s.shared {
		lbls = maps(lbls)
	}
	p := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: lbls}}
	if s.nsKey != "" {
		p.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{s.nsKey: s.nsVal}}
	}
	return []networkingv1.NetworkPolicyPeer{p}
}

type builder struct {
	in     Input
	ch     Choices
	key    string
	ns     string
	sel    map[string]string
	dsts   []*netpol.Workload // the subject's workloads
	lookup *Lookup

	nss  map[string]netpol.Namespace
	wls  map[flow.Endpoint]*netpol.Workload
	svcs map[[2]string]*inventory.Service

	rules    map[netpol.Direction]map[ruleKey]*ruleAcc
	excluded map[Row]bool
	incAddr  map[netip.Addr]bool
	via      map[Row][]flow.Endpoint // ingress rows reached through a Service
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
	if err := b.subject(); err != nil {
		return Suggestion{}, fmt.Errorf("suggest for %s: %w", in.Subject, err)
	}
	for _, c := range append(slices.Clone(ch.AllowEgressCIDRs), ch.AllowIngressCIDRs...) {
		if !c.CIDR.IsValid() {
			return Suggestion{}, fmt.Errorf("%w: manual rule without a valid CIDR", ErrBadChoice)
		}
	}
	rows := b.rows()
	for _, r := range rows {
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
		if b.addRow(r) {
			b.sug.Included = append(b.sug.Included, r)
		} else {
			b.sug.Unselectable = append(b.sug.Unselectable, r)
		}
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
	if errs := netpol.Validate(b.sug.Policy); len(errs) > 0 {
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
	inv  *inventory.Inventory
	nss  map[string]netpol.Namespace
	wls  map[flow.Endpoint]*netpol.Workload
	svcs map[[2]string]*inventory.Service
	// backends are the pods (workloads, off the host network) each
	// Service with a selector selects.
	backends map[*inventory.Service][]*netpol.Workload
	// podsByNS are the workloads off the host network, per namespace.
	podsByNS map[string][]*netpol.Workload
	// selecting are the Service endpoints selecting each workload.
	selecting map[*netpol.Workload][]flow.Endpoint
	// stable are each workload's StableLabels and their labelString.
	stable map[*netpol.Workload]stableLabels
	// nodeLocalDNS: a workload labelled k8s-app=node-local-dns exists.
	nodeLocalDNS bool
}

type stableLabels struct {
	labels map[string]string
	str    string
}

// NewLookup indexes inv; it must not change while the Lookup is in use.
func NewLookup(inv *inventory.Inventory) *Lookup {
	l := &Lookup{
		inv:  inv,
		nss:  make(map[string]netpol.Namespace, len(inv.Namespaces)),
		wls:  make(map[flow.Endpoint]*netpol.Workload, len(inv.Workloads)),
		svcs: make(map[[2]string]*inventory.Service, len(inv.Services)),
	}
	for _, n := range inv.Namespaces {
		l.nss[n.Name] = n
	}
	for _, w := range inv.Workloads {
		l.wls[flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name)] = w
	}
	l.podsByNS = map[string][]*netpol.Workload{}
	l.stable = make(map[*netpol.Workload]stableLabels, len(inv.Workloads))
	allByNS := map[string][]*netpol.Workload{}
	for _, w := range inv.Workloads {
		allByNS[w.Namespace] = append(allByNS[w.Namespace], w)
		if !w.HostNetwork {
			l.podsByNS[w.Namespace] = append(l.podsByNS[w.Namespace], w)
		}
		st := StableLabels(w.Kind, w.Labels)
		l.stable[w] = stableLabels{labels: st, str: labelString(st)}
		if w.Labels["k8s-app"] == "node-local-dns" {
			l.nodeLocalDNS = true
		}
	}
	l.backends = make(map[*inventory.Service][]*netpol.Workload, len(inv.Services))
	l.selecting = map[*netpol.Workload][]flow.Endpoint{}
	for i := range inv.Services {
		s := &inv.Services[i]
		l.svcs[[2]string{s.Namespace, s.Name}] = s
		if len(s.Selector) == 0 {
			continue
		}
		ep := inventory.ServiceEndpoint(s.Namespace, s.Name)
		for _, w := range l.podsByNS[s.Namespace] {
			if s.Selects(w.Labels) {
				l.backends[s] = append(l.backends[s], w)
			}
		}
		// ServicesSelecting counts host-network workloads too.
		for _, w := range allByNS[s.Namespace] {
			if s.Selects(w.Labels) {
				l.selecting[w] = append(l.selecting[w], ep)
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
	if w := l.wls[subject]; w != nil {
		return l.selecting[w]
	}
	return nil
}

// Gather is the package's Gather for an inventory already indexed: it
// finds the subject and the Services selecting it without a scan.
func (l *Lookup) Gather(ctx context.Context, r EdgeReader, subject flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	if ingress, egress, err = r.WorkloadEdges(ctx, subject, from, to); err != nil {
		return nil, nil, err
	}
	w := l.wls[subject]
	if w == nil {
		return ingress, egress, nil
	}
	for _, svc := range l.selecting[w] {
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
	b.nss, b.wls, b.svcs, b.lookup = l.nss, l.wls, l.svcs, l
	b.rules = map[netpol.Direction]map[ruleKey]*ruleAcc{netpol.Ingress: {}, netpol.Egress: {}}
	b.excluded = make(map[Row]bool, len(b.ch.Exclude))
	for _, r := range b.ch.Exclude {
		b.excluded[normRow(r)] = true
	}
	b.incAddr = make(map[netip.Addr]bool, len(b.ch.IncludeAddresses))
	for _, a := range b.ch.IncludeAddresses {
		b.incAddr[a.Unmap()] = true
	}
	b.via = map[Row][]flow.Endpoint{}
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
		svc := b.svcs[[2]string{s.Namespace, s.Name}]
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
	w := b.wls[s]
	if w == nil {
		return ErrUnknownSubject
	}
	if w.HostNetwork {
		return ErrHostNetwork
	}
	b.sel = b.lookup.stable[w].labels
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
	return b.lookup.backends[svc]
}

// rows lists the table rows, deduplicated and sorted.
func (b *builder) rows() []Row {
	ingress, egress := b.in.IngressRefs, b.in.EgressRefs
	if ingress == nil && egress == nil {
		for i := range b.in.Ingress {
			ingress = append(ingress, &b.in.Ingress[i])
		}
		for i := range b.in.Egress {
			egress = append(egress, &b.in.Egress[i])
		}
	}
	out := make([]Row, 0, len(ingress)+len(egress))
	add := func(r Row) { out = append(out, normRow(r)) }
	for _, e := range ingress {
		r := Row{Direction: netpol.Ingress, Peer: e.Src, Protocol: e.Protocol, Port: e.Port}
		if b.isSubject(e.Src) {
			continue // traffic to itself is always allowed
		}
		if isService(e.Dst) && e.Dst != b.in.Subject {
			rr := normRow(r)
			if !slices.Contains(b.via[rr], e.Dst) {
				b.via[rr] = append(b.via[rr], e.Dst)
			}
		}
		add(r)
	}
	for _, e := range egress {
		if b.isSubject(e.Dst) {
			continue
		}
		add(Row{Direction: netpol.Egress, Peer: e.Dst, Protocol: e.Protocol, Port: e.Port})
	}
	return sortRows(out, true)
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
// given, and drops repeated rows when dedup. The peers' strings are built
// once, not per comparison. It returns the rows, sorted in place.
func sortRows(rs []Row, dedup bool) []Row {
	if len(rs) < 2 {
		return rs
	}
	type keyed struct {
		row  Row
		peer string
	}
	ks := make([]keyed, len(rs))
	for i, r := range rs {
		ks[i] = keyed{r, r.Peer.String()}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.row.Direction != b.row.Direction {
			return strings.Compare(string(a.row.Direction), string(b.row.Direction))
		}
		if c := strings.Compare(a.peer, b.peer); c != 0 {
			return c
		}
		if a.row.Protocol != b.row.Protocol {
			return cmp.Compare(a.row.Protocol, b.row.Protocol)
		}
		return cmp.Compare(a.row.Port, b.row.Port)
	})
	out := rs[:0]
	for i, k := range ks {
		// Equal rows read the same: look back over the run that does.
		dup := false
		for j := i - 1; dedup && j >= 0 && ks[j].peer == k.peer && ks[j].row.Direction == k.row.Direction &&
			ks[j].row.Protocol == k.row.Protocol && ks[j].row.Port == k.row.Port; j-- {
			if ks[j].row == k.row {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k.row)
		}
	}
	return out
}

// addRow adds the rule for an included row; false when it cannot be
// expressed (the reason is recorded).
func (b *builder) addRow(r Row) bool {
	proto, ok := r.Protocol.Kubernetes()
	if !ok {
		b.warnf("%s: protocol %s cannot be expressed in a NetworkPolicy", r, r.Protocol)
		return false
	}
	if r.Direction == netpol.Egress && r.Port == 53 && b.isDNS(r.Peer) && b.ch.Egress != RuleAllowAll {
		return true // the DNS rule, always added, covers it
	}
	spec, key, ok := b.peer(r)
	if !ok {
		return false
	}
	var ports []portKey
	switch {
	case r.Direction == netpol.Egress && isService(r.Peer):
		svc := b.svcs[[2]string{r.Peer.Namespace, r.Peer.Name}]
		ports = b.servicePorts(svc, proto, r.Port, b.backends(svc), b.ch.NamedPorts)
	case r.Direction == netpol.Egress && r.Peer.Kind == flow.EndpointWorkload:
		if b.ch.NamedPorts {
			ports = []portKey{b.named(proto, int32(r.Port), []*netpol.Workload{b.wls[r.Peer]}, true)}
		} else {
			ports = []portKey{{proto: proto, num: int32(r.Port)}}
		}
	case r.Direction == netpol.Egress:
		ports = []portKey{{proto: proto, num: int32(r.Port)}}
	default: // ingress: the subject is the destination
		if vias := b.via[r]; len(vias) > 0 {
			for _, v := range vias {
				svc := b.svcs[[2]string{v.Namespace, v.Name}]
				if svc == nil {
					ports = append(ports, b.named(proto, int32(r.Port), b.dsts, b.ch.NamedPorts))
					continue
				}
				ports = append(ports, b.servicePorts(svc, proto, r.Port, b.dsts, b.ch.NamedPorts)...)
			}
		} else if isService(b.in.Subject) {
			ports = b.servicePorts(b.svcs[[2]string{b.ns, b.in.Subject.Name}], proto, r.Port, b.dsts, b.ch.NamedPorts)
		} else {
			ports = []portKey{b.named(proto, int32(r.Port), b.dsts, b.ch.NamedPorts)}
		}
	}
	if len(ports) == 0 {
		b.warnf("%s: the Service's named target port is declared by no backing pod", r)
		return false
	}
	acc := b.acc(r.Direction, key, spec)
	for _, p := range ports {
		acc.ports[p] = struct{}{}
	}
	return true
}

// acc is the rule of a peer key, started with the spec's peers when new.
func (b *builder) acc(dir netpol.Direction, key ruleKey, spec peerSpec) *ruleAcc {
	acc := b.rules[dir][key]
	if acc == nil {
		acc = &ruleAcc{peers: spec.build(), ports: map[portKey]struct{}{}}
		b.rules[dir][key] = acc
	}
	return acc
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
func (b *builder) peer(r Row) (peerSpec, ruleKey, bool) {
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
	var spec peerSpec
	var lblStr string
	if isService(p) {
		svc := b.svcs[[2]string{p.Namespace, p.Name}]
		if svc == nil || len(svc.Selector) == 0 {
			b.warnf("%s: Service %s/%s is unknown or has no selector", r, p.Namespace, p.Name)
			return peerSpec{}, ruleKey{}, false
		}
		spec.lbls, lblStr = svc.Selector, labelString(svc.Selector)
	} else {
		w := b.wls[p]
		switch {
		case w == nil:
			b.warnf("%s: workload not in the inventory", r)
			return peerSpec{}, ruleKey{}, false
		case w.HostNetwork:
			b.warnf("%s: a host-network workload cannot be selected by a NetworkPolicy; add a manual CIDR rule for its node", r)
			return peerSpec{}, ruleKey{}, false
		}
		st := b.lookup.stable[w]
		spec.lbls, lblStr, spec.shared = st.labels, st.str, true
		if len(spec.lbls) == 0 {
			b.warnf("%s: the peer has no stable labels to select it by", r)
			return peerSpec{}, ruleKey{}, false
		}
	}
	spec, key, ok := b.podPeer(p.Namespace, spec, lblStr, b.key)
	if !ok {
		b.needs[p.Namespace] = append(b.needs[p.Namespace], r)
		return peerSpec{}, ruleKey{}, false
	}
	return spec, key, true
}

// podPeer selects the pods of spec.lbls (lblStr is their labelString) in
// namespace ns, by namespace label key.
func (b *builder) podPeer(ns string, spec peerSpec, lblStr string, key string) (peerSpec, ruleKey, bool) {
	spec.pod = true
	if ns == b.ns {
		return spec, ruleKey{kind: 'p', a: lblStr}, true
	}
	v, ok := b.nss[ns].Labels[key]
	if !ok && key == netpol.NamespaceNameLabel {
		v, ok = ns, true // the API server sets it on every namespace
	}
	if !ok {
		return spec, ruleKey{}, false
	}
	spec.nsKey, spec.nsVal = key, v
	return spec, ruleKey{kind: 'n', a: key, b: v, c: lblStr}, true
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
	acc := b.acc(dir, key, spec)
	proto, ok := c.Protocol.Kubernetes()
	switch {
	case !ok:
		acc.allPorts = true
	case c.Port == 0:
		acc.ports[portKey{proto: proto}] = struct{}{}
	default:
		acc.ports[portKey{proto: proto, num: int32(c.Port)}] = struct{}{}
	}
}

// global adds the rule of a global choice.
func (b *builder) global(dir netpol.Direction, r Rule) {
	switch r {
	case RuleAllowNamespace:
		acc := b.acc(dir, ruleKey{kind: 'p', a: "*"}, peerSpec{peers: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}})
		acc.allPorts = true
	case RuleAllowAll:
		acc := b.acc(dir, ruleKey{}, peerSpec{})
		acc.allPorts = true
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
	if svc := b.svcs[[2]string{dnsNamespace, dnsService}]; svc != nil && len(svc.Selector) > 0 {
		sel = svc.Selector
	}
	w := b.wls[p]
	return w != nil && !w.HostNetwork && selects(sel, w.Labels)
}

// dns adds egress to the cluster DNS.
func (b *builder) dns() {
	sel := map[string]string{"k8s-app": "kube-dns"}
	ports := []portKey{{proto: corev1.ProtocolUDP, num: 53}, {proto: corev1.ProtocolTCP, num: 53}}
	if svc := b.svcs[[2]string{dnsNamespace, dnsService}]; svc != nil && len(svc.Selector) > 0 {
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
	spec, pkey, _ := b.podPeer(dnsNamespace, peerSpec{lbls: sel}, labelString(sel), key)
	acc := b.acc(netpol.Egress, pkey, spec)
	for _, p := range ports {
		acc.ports[p] = struct{}{}
	}
	if b.lookup.nodeLocalDNS {
		a := b.in.NodeLocalDNSAddr
		spec, k, _ := cidrPeers([]netip.Prefix{netip.PrefixFrom(a, a.BitLen())})
		acc := b.acc(netpol.Egress, k, spec)
		acc.ports[portKey{proto: corev1.ProtocolUDP, num: 53}] = struct{}{}
		acc.ports[portKey{proto: corev1.ProtocolTCP, num: 53}] = struct{}{}
	}
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
			PodSelector: metav1.LabelSelector{MatchLabels: maps(b.sel)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if !b.in.Now.IsZero() {
		np.Annotations[AnnotationGeneratedAt] = b.in.Now.UTC().Format(time.RFC3339)
	}
	for _, acc := range sortedRules(b.rules[netpol.Ingress]) {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: acc.peers, Ports: acc.render()})
	}
	for _, acc := range sortedRules(b.rules[netpol.Egress]) {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: acc.peers, Ports: acc.render()})
	}
	return np
}

func (a *ruleAcc) render() []networkingv1.NetworkPolicyPort {
	if a.allPorts {
		return nil
	}
	keys := make([]portKey, 0, len(a.ports))
	for k := range a.ports {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y portKey) int {
		return cmp.Or(cmp.Compare(x.proto, y.proto), cmp.Compare(x.num, y.num), cmp.Compare(x.name, y.name))
	})
	out := make([]networkingv1.NetworkPolicyPort, 0, len(keys))
	for _, k := range keys {
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
	return out
}

// sortedRules orders rules by their keys' strings.
func sortedRules(m map[ruleKey]*ruleAcc) []*ruleAcc {
	type keyed struct {
		key string
		acc *ruleAcc
	}
	ks := make([]keyed, 0, len(m))
	for k, acc := range m {
		ks = append(ks, keyed{k.String(), acc})
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	out := make([]*ruleAcc, len(ks))
	for i, k := range ks {
		out[i] = k.acc
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
		if svc := b.svcs[[2]string{r.Peer.Namespace, r.Peer.Name}]; svc != nil {
			peerWls = b.backends(svc)
		}
	case r.Peer.Kind == flow.EndpointWorkload:
		if w := b.wls[r.Peer]; w != nil {
			peerWls = []*netpol.Workload{w}
		}
	}
	var out []conn
	for _, s := range b.dsts {
		if r.Direction == netpol.Egress {
			var svc *inventory.Service
			if isService(r.Peer) {
				svc = b.svcs[[2]string{r.Peer.Namespace, r.Peer.Name}]
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
		for _, v := range b.via[r] {
			svcs = append(svcs, b.svcs[[2]string{v.Namespace, v.Name}])
		}
		if len(svcs) == 0 && isService(b.in.Subject) {
			svcs = append(svcs, b.svcs[[2]string{b.ns, b.in.Subject.Name}])
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
func (b *builder) check(rows []Row) error {
	if b.ch.Ingress == RuleObserved && b.ch.Egress == RuleObserved && len(b.sug.Excluded)+len(b.sug.Unselectable) == 0 &&
		(b.in.SkipSelfCheck || len(b.sug.Included) == 0) {
		return nil // nothing to ask the engine
	}
	// Only the subject's pods are indexed: the policy selects nothing
	// else, and the engine judges the peers (not given to NewIndex) by
	// their labels all the same. Indexing every workload of a large
	// cluster for one policy cost most of an audit pass.
	ix, err := netpol.NewIndex(b.namespacesOf(rows), b.dsts, []*networkingv1.NetworkPolicy{b.checkedPolicy()}, netpol.DefaultOptions())
	if err != nil {
		return fmt.Errorf("index the generated policy: %w", err)
	}
	allowed := func(r Row) (some, all bool) {
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
	for _, r := range rows {
		rule := b.ch.Ingress
		if r.Direction == netpol.Egress {
			rule = b.ch.Egress
		}
		if rule != RuleObserved {
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
		p.Spec.Ingress = slices.DeleteFunc(slices.Clone(p.Spec.Ingress), func(r networkingv1.NetworkPolicyIngressRule) bool { return !meetsAddresses(r.From) })
	}
	switch {
	case !out.any:
		p.Spec.Egress = nil
	case !out.nonAddr:
		p.Spec.Egress = slices.DeleteFunc(slices.Clone(p.Spec.Egress), func(r networkingv1.NetworkPolicyEgressRule) bool { return !meetsAddresses(r.To) })
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
	w := b.wls[p]
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

// namespacesOf are the namespaces the check needs: the subject's and its
// peers' (a peer's namespace labels decide whether namespaceSelectors match
// it). Compiling the policy against every namespace of a large cluster, for
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
		if r.Peer.Kind != flow.EndpointWorkload {
			continue
		}
		add(r.Peer.Namespace)
		if isService(r.Peer) {
			if svc := b.svcs[[2]string{r.Peer.Namespace, r.Peer.Name}]; svc != nil {
				for _, w := range b.backends(svc) {
					add(w.Namespace)
				}
			}
		}
	}
	for _, r := range rows {
		for _, v := range b.via[r] {
			add(v.Namespace)
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
			*rs = sortRows(*rs, false)
		}
	}
	s.StillAllowed = sortRows(s.StillAllowed, false)
	for _, r := range s.StillAllowed {
		b.warnf("%s: excluded but still allowed: an included rule, the DNS rule or a global rule selects the peer too", r)
	}
	for _, ns := range sortedKeys(b.needs) {
		rows := sortRows(b.needs[ns], false)
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

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func labelString(m map[string]string) string {
	keys := sortedKeys(m)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}
