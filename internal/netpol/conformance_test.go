package netpol_test

// A port of the upstream NetworkPolicy conformance suite
// (k8s.io/kubernetes test/e2e/network/netpol, v1.37.2) to the engine, plus
// scenarios for every rule of DESIGN.md "NetworkPolicy semantics".
//
// The model is upstream's: namespaces x, y, z with pods a, b, c in each,
// labelled pod=<name>, every pod serving ports 80 and 81 on TCP, UDP and SCTP
// through named container ports serve-<port>-<protocol>. Pod x/a has IP
// 10.0.1.1, y/b 10.0.2.2 and so on. Upstream trims some tests to a subset of
// these pods; here every scenario probes the full 9x9 matrix (plus external
// addresses and host-network pods where a scenario adds them), so the
// expectations below are upstream's, completed for the pods upstream leaves
// out. Expectations start from "everything allowed" and are adjusted with
// upstream's ExpectPeer / Expect / ExpectAllIngress / ExpectAllEgress; traffic
// from a pod to itself is always allowed.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
)

const (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP

	nsNameLabel = netpol.NamespaceNameLabel
)

var (
	confNamespaces = []string{"x", "y", "z"}
	confPods       = []string{"a", "b", "c"}
)

// confPodIP is the address of pod <ns>/<pod>: 10.0.<ns index+1>.<pod index+1>.
func confPodIP(ns, pod string) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte(slices.Index(confNamespaces, ns) + 1), byte(slices.Index(confPods, pod) + 1)})
}

// ---------------------------------------------------------------------------
// Policy constructors, in the spirit of upstream's policies.go.

type policyOpt func(*networkingv1.NetworkPolicy)

// policy builds a NetworkPolicy in ns selecting target.
func policy(ns, name string, target metav1.LabelSelector, opts ...policyOpt) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: target},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// withIngress is upstream's SetSpecIngressRules: it makes the ingress list
// non-nil and adds Ingress to policyTypes, then appends the rules.
func withIngress(rules ...networkingv1.NetworkPolicyIngressRule) policyOpt {
	return func(p *networkingv1.NetworkPolicy) {
		if p.Spec.Ingress == nil {
			p.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		}
		p.Spec.Ingress = append(p.Spec.Ingress, rules...)
	}
}

// withEgress is upstream's SetSpecEgressRules.
func withEgress(rules ...networkingv1.NetworkPolicyEgressRule) policyOpt {
	return func(p *networkingv1.NetworkPolicy) {
		if p.Spec.Egress == nil {
			p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
		p.Spec.Egress = append(p.Spec.Egress, rules...)
	}
}

// rawIngress / rawEgress set the rules and leave policyTypes alone.
func rawIngress(rules ...networkingv1.NetworkPolicyIngressRule) policyOpt {
	return func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress = rules }
}

func rawEgress(rules ...networkingv1.NetworkPolicyEgressRule) policyOpt {
	return func(p *networkingv1.NetworkPolicy) { p.Spec.Egress = rules }
}

// policyTypes sets policyTypes exactly (none: absent).
func policyTypes(types ...networkingv1.PolicyType) policyOpt {
	return func(p *networkingv1.NetworkPolicy) { p.Spec.PolicyTypes = types }
}

func ingressRule(from []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: from, Ports: ports}
}

func egressRule(to []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: to, Ports: ports}
}

func peers(p ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer { return p }

// sel is a matchLabels selector from key, value pairs; sel() is {}.
func sel(kv ...string) metav1.LabelSelector {
	if len(kv)%2 != 0 {
		panic("sel: odd number of arguments")
	}
	s := metav1.LabelSelector{}
	for i := 0; i < len(kv); i += 2 {
		if s.MatchLabels == nil {
			s.MatchLabels = map[string]string{}
		}
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func selp(kv ...string) *metav1.LabelSelector { s := sel(kv...); return &s }

func exprSel(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func podPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: s}
}

func nsPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s}
}

func nsPodPeer(ns, pod *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: ns, PodSelector: pod}
}

func ipPeer(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func protoPtr(p corev1.Protocol) *corev1.Protocol {
	if p == "" {
		return nil
	}
	return &p
}

// numPort is a numeric port; an empty protocol leaves the field absent.
func numPort(proto corev1.Protocol, port int32) networkingv1.NetworkPolicyPort {
	v := intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(proto), Port: &v}
}

func rangePort(proto corev1.Protocol, from, to int32) networkingv1.NetworkPolicyPort {
	p := numPort(proto, from)
	p.EndPort = &to
	return p
}

func namedPort(proto corev1.Protocol, name string) networkingv1.NetworkPolicyPort {
	v := intstr.FromString(name)
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(proto), Port: &v}
}

// protoPort is a port entry with only a protocol.
func protoPort(proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(proto)}
}

// ---------------------------------------------------------------------------
// Reachability, as upstream's reachability.go / truthtable.go.

// peer matches endpoint names "<ns>/<pod>": empty fields match everything.
// External addresses are named "ext/<addr>" and host-network pods
// "node/<name>", so a namespace peer never matches them by accident.
type peer struct{ ns, pod string }

func (p peer) matches(name string) bool {
	ns, pod, _ := strings.Cut(name, "/")
	return (p.ns == "" || p.ns == ns) && (p.pod == "" || p.pod == pod)
}

type reachability struct {
	names []string
	index map[string]int
	m     [][]bool // [from][to]
}

func newReachability(names []string, def bool) *reachability {
	r := &reachability{names: names, index: map[string]int{}, m: make([][]bool, len(names))}
	for i, n := range names {
		r.index[n] = i
		r.m[i] = make([]bool, len(names))
		for j := range names {
			r.m[i][j] = def
		}
	}
	return r
}

func (r *reachability) idx(name string) int {
	i, ok := r.index[name]
	if !ok {
		panic(fmt.Sprintf("reachability: unknown endpoint %q (have %v)", name, r.names))
	}
	return i
}

func (r *reachability) expect(from, to string, v bool) { r.m[r.idx(from)][r.idx(to)] = v }

func (r *reachability) expectPeer(from, to peer, v bool) {
	for i, f := range r.names {
		if !from.matches(f) {
			continue
		}
		for j, t := range r.names {
			if to.matches(t) {
				r.m[i][j] = v
			}
		}
	}
}

func (r *reachability) expectAllIngress(to string, v bool) {
	j := r.idx(to)
	for i := range r.names {
		r.m[i][j] = v
	}
}

func (r *reachability) expectAllEgress(from string, v bool) {
	i := r.idx(from)
	for j := range r.names {
		r.m[i][j] = v
	}
}

func (r *reachability) allowLoopback() {
	for i := range r.names {
		r.m[i][i] = true
	}
}

// table renders a matrix like upstream's PrettyPrint: rows are sources,
// columns destinations; mark(from, to) gives the cell.
func table(names []string, mark func(i, j int) string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(w, "-\t")
	for _, n := range names {
		fmt.Fprintf(w, "%s\t", n)
	}
	fmt.Fprintln(w)
	for i, n := range names {
		fmt.Fprintf(w, "%s\t", n)
		for j := range names {
			fmt.Fprintf(w, "%s\t", mark(i, j))
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

func boolMark(v bool) string {
	if v {
		return "."
	}
	return "X"
}

// ---------------------------------------------------------------------------
// Scenarios.

type confProbe struct {
	proto  corev1.Protocol
	port   int32
	expect func(r *reachability) // nil: everything allowed
}

type hostPod struct {
	name, namespace string
	labels          map[string]string
	ip              string
}

type confScenario struct {
	name     string
	upstream bool // ported from the upstream suite
	policies []*networkingv1.NetworkPolicy
	opts     *netpol.Options // nil: DefaultOptions
	// nsLabels and podLabels ("x/b") add labels; podPorts adds container
	// ports.
	nsLabels  map[string]map[string]string
	podLabels map[string]map[string]string
	podPorts  map[string][]netpol.ContainerPort
	// externals are addresses probed as endpoints "ext/<addr>"; hostPods
	// host-network pods probed as "node/<name>".
	externals []string
	hostPods  []hostPod
	probes    []confProbe
	// check makes extra assertions on the built index.
	check func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint)
}

// probes is one expectation for several (protocol, port) pairs.
func probes(expect func(r *reachability), conns ...any) []confProbe {
	var out []confProbe
	for i := 0; i < len(conns); i += 2 {
		out = append(out, confProbe{proto: conns[i].(corev1.Protocol), port: int32(conns[i+1].(int)), expect: expect})
	}
	return out
}

func join(ps ...[]confProbe) []confProbe { return slices.Concat(ps...) }

// Frequently used expectations.
var (
	all = peer{}
	nsX = peer{ns: "x"}
	nsY = peer{ns: "y"}
	nsZ = peer{ns: "z"}
	xa  = peer{ns: "x", pod: "a"}
)

func allAllowed(*reachability) {}

func denyIngressTo(pods ...string) func(r *reachability) {
	return func(r *reachability) {
		for _, p := range pods {
			r.expectAllIngress(p, false)
		}
	}
}

func denyEgressFrom(pods ...string) func(r *reachability) {
	return func(r *reachability) {
		for _, p := range pods {
			r.expectAllEgress(p, false)
		}
	}
}

func confScenarios() []confScenario {
	nsIs := func(ns string) *metav1.LabelSelector { return selp(nsNameLabel, ns) }
	podIs := func(pod string) *metav1.LabelSelector { return selp("pod", pod) }

	// Expectations shared by several upstream tests.
	onlyFromNSY := func(r *reachability) { // to x/a: only namespace y
		r.expectPeer(nsX, xa, false)
		r.expectPeer(nsZ, xa, false)
	}
	onlyFromYA := func(r *reachability) {
		r.expectAllIngress("x/a", false)
		r.expect("y/a", "x/a", true)
	}
	onlyFromXB := func(r *reachability) {
		r.expectAllIngress("x/a", false)
		r.expect("x/b", "x/a", true)
	}
	denyIntoX := func(r *reachability) { r.expectPeer(all, nsX, false) }
	denyOutOfX := func(r *reachability) { r.expectPeer(nsX, all, false) }

	return []confScenario{
		// ----- upstream: "NetworkPolicy between server and client" -----
		{
			name: "should support a 'default-deny-ingress' policy", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-ingress", sel(), withIngress())},
			probes:   probes(denyIntoX, tcp, 80, udp, 81, sctp, 80),
		},
		{
			name: "should support a 'default-deny-all' policy", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-all", sel(), withIngress(), withEgress())},
			probes: probes(func(r *reachability) {
				r.expectPeer(all, nsX, false)
				r.expectPeer(nsX, all, false)
			}, tcp, 80, udp, 80),
		},
		{
			name: "should enforce policy to allow traffic from pods within server namespace based on PodSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "x-a-allows-x-b", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(podIs("b"))))))},
			probes:   probes(onlyFromXB, tcp, 80),
		},
		{
			name: "should enforce policy to allow ingress traffic for a target", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "deny-all", sel(), withIngress()),
				policy("x", "allow-all-to-a", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(selp(), selp()))))),
			},
			probes: probes(func(r *reachability) {
				r.expectPeer(all, nsX, false)
				r.expectAllIngress("x/a", true)
			}, tcp, 80),
		},
		{
			name: "should enforce policy to allow ingress traffic from pods in all namespaces", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-from-another-ns", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(&metav1.LabelSelector{MatchLabels: map[string]string{}})))))},
			probes:   probes(allAllowed, tcp, 80),
		},
		{
			name: "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))))))},
			probes:   probes(onlyFromNSY, tcp, 80),
		},
		{
			name: "should enforce policy based on PodSelector with MatchExpressions", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "x-a-allows-x-b", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(exprSel("pod", metav1.LabelSelectorOpIn, "b"))))))},
			probes:   probes(onlyFromXB, tcp, 80),
		},
		{
			name: "should enforce policy based on NamespaceSelector with MatchExpressions", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-match-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(exprSel(nsNameLabel, metav1.LabelSelectorOpIn, "y"))))))},
			probes:   probes(onlyFromNSY, tcp, 80),
		},
		{
			name: "should enforce policy based on PodSelector or NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-match-selector", sel("pod", "a"), withIngress(ingressRule(peers(
				nsPeer(exprSel(nsNameLabel, metav1.LabelSelectorOpNotIn, "x")),
				podPeer(podIs("b")),
			))))},
			probes: probes(func(r *reachability) {
				r.expect("x/a", "x/a", false) // loopback: allowed regardless
				r.expect("x/c", "x/a", false)
			}, tcp, 80),
		},
		{
			name: "should enforce policy based on PodSelector and NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-podselector-and-nsselector", sel("pod", "a"), withIngress(ingressRule(peers(
				nsPodPeer(exprSel(nsNameLabel, metav1.LabelSelectorOpNotIn, "x"), podIs("b")),
			))))},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expect("y/b", "x/a", true)
				r.expect("z/b", "x/a", true)
			}, tcp, 80),
		},
		{
			name: "should enforce policy based on Multiple PodSelectors and NamespaceSelectors", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-z-pod-b-c", sel("pod", "a"), withIngress(ingressRule(peers(
				nsPodPeer(exprSel(nsNameLabel, metav1.LabelSelectorOpNotIn, "x"), exprSel("pod", metav1.LabelSelectorOpIn, "b", "c")),
			))))},
			probes: probes(func(r *reachability) {
				r.expectPeer(nsX, xa, false)
				r.expect("y/a", "x/a", false)
				r.expect("z/a", "x/a", false) // upstream leaves z/a out of this test
			}, tcp, 80),
		},
		{
			name: "should enforce policy based on any PodSelectors", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-x-pod-b-c", sel("pod", "a"), withIngress(ingressRule(peers(
				podPeer(podIs("b")), podPeer(podIs("c")),
			))))},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expect("x/b", "x/a", true)
				r.expect("x/c", "x/a", true)
			}, tcp, 80),
		},
		{
			name: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-pod-a-via-namespace-pod-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("y"), podIs("a"))))))},
			probes:   probes(onlyFromYA, tcp, 80),
		},
		{
			name: "should enforce policy based on Ports", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 81))))},
			probes: join(
				probes(func(r *reachability) {
					r.expectPeer(nsX, xa, false)
					r.expectPeer(nsY, xa, true)
					r.expectPeer(nsZ, xa, false)
				}, tcp, 81),
				probes(denyIngressTo("x/a"), tcp, 80, udp, 81, sctp, 81),
			),
		},
		{
			name: "should enforce multiple, stacked policies with overlapping podSelectors", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-client-a-via-ns-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 81)))),
				policy("x", "allow-client-a-via-ns-selector-80", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 80)))),
			},
			probes: join(
				probes(onlyFromNSY, tcp, 80, tcp, 81),
				probes(denyIngressTo("x/a"), tcp, 82, udp, 80),
			),
		},
		{
			name: "should support allow-all policy", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-all", sel(), withIngress(ingressRule(nil)))},
			probes:   probes(allAllowed, tcp, 80, tcp, 81, udp, 80, sctp, 81),
		},
		{
			name: "should allow ingress access on one named port", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-all", sel(), withIngress(ingressRule(nil, namedPort("", "serve-81-tcp"))))},
			probes: join(
				probes(allAllowed, tcp, 81),
				probes(denyIntoX, tcp, 80, udp, 81, sctp, 81),
			),
		},
		{
			name: "should allow ingress access from namespace on one named port", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector-80", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), namedPort(tcp, "serve-80-tcp"))))},
			probes: join(
				probes(onlyFromNSY, tcp, 80),
				probes(denyIngressTo("x/a"), tcp, 81, udp, 80),
			),
		},
		{
			name: "should allow egress access on one named port", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-egress", sel(), withEgress(egressRule(nil, namedPort("", "serve-80-tcp"))))},
			probes: join(
				probes(allAllowed, tcp, 80),
				probes(denyOutOfX, tcp, 81, udp, 80),
			),
		},
		{
			name: "should not allow all ports if it cannot limit to the requested port", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ingress-on-nonexistent-port", sel("pod", "a"), withIngress(ingressRule(nil, namedPort(tcp, "no-such-port"))))},
			probes:   probes(denyIngressTo("x/a"), tcp, 80, tcp, 81, udp, 80),
		},
		{
			name: "should enforce updated policy (allow-all mutated to deny-all)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-all-mutate-to-deny-all", sel(),
				rawIngress([]networkingv1.NetworkPolicyIngressRule{}...), policyTypes(networkingv1.PolicyTypeIngress))},
			probes: probes(denyIntoX, tcp, 81),
		},
		{
			name: "should allow ingress access from updated namespace (before the label)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(selp("ns2", "updated"))))))},
			probes:   probes(denyIngressTo("x/a"), tcp, 80),
		},
		{
			name: "should allow ingress access from updated namespace (after the label)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(selp("ns2", "updated"))))))},
			nsLabels: map[string]map[string]string{"y": {"ns2": "updated"}},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expectPeer(nsY, all, true)
			}, tcp, 80),
		},
		{
			name: "should allow ingress access from updated pod (before the label)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-pod-selector", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(selp("pod", "b", "pod2", "updated"))))))},
			probes:   probes(denyIngressTo("x/a"), tcp, 80),
		},
		{
			name: "should allow ingress access from updated pod (after the label)", upstream: true,
			policies:  []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-pod-selector", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(selp("pod", "b", "pod2", "updated"))))))},
			podLabels: map[string]map[string]string{"x/b": {"pod2": "updated"}},
			probes:    probes(onlyFromXB, tcp, 80),
		},
		{
			name: "should deny ingress from pods on other namespaces", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-empty-policy", sel(), withIngress(ingressRule(peers(podPeer(&metav1.LabelSelector{MatchLabels: map[string]string{}})))))},
			probes: probes(func(r *reachability) {
				r.expectPeer(nsY, nsX, false)
				r.expectPeer(nsZ, nsX, false)
			}, tcp, 80),
		},
		{
			name: "should deny ingress access to updated pod (before the label)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-ingress-via-label-selector", sel("target", "isolated"), withIngress())},
			probes:   probes(allAllowed, tcp, 80),
		},
		{
			name: "should deny ingress access to updated pod (after the label)", upstream: true,
			policies:  []*networkingv1.NetworkPolicy{policy("x", "deny-ingress-via-label-selector", sel("target", "isolated"), withIngress())},
			podLabels: map[string]map[string]string{"x/a": {"target": "isolated"}},
			probes:    probes(denyIngressTo("x/a"), tcp, 80),
		},
		{
			name: "should deny egress from pods based on PodSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-egress-pod-a", sel("pod", "a"), withEgress())},
			probes:   probes(denyEgressFrom("x/a"), tcp, 80),
		},
		{
			name: "should deny egress from all pods in a namespace", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-egress-ns-x", sel(), withEgress())},
			probes:   probes(denyOutOfX, tcp, 80),
		},
		{
			name: "should work with Ingress, Egress specified together", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-pod-selector", sel("pod", "a"),
				withIngress(ingressRule(peers(podPeer(podIs("b"))))),
				rawEgress(egressRule(nil, numPort("", 80))),
				policyTypes(networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress),
			)},
			probes: join(
				probes(onlyFromXB, tcp, 80),
				probes(func(r *reachability) {
					r.expectAllIngress("x/a", false)
					r.expectAllEgress("x/a", false)
					r.expect("x/b", "x/a", true)
				}, tcp, 81),
			),
		},
		{
			name: "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-to-ns-y-pod-a", sel("pod", "a"), withEgress(egressRule(peers(nsPodPeer(nsIs("y"), podIs("a")))))),
				policy("y", "allow-from-xa-on-ya-match-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("x"), podIs("a")))))),
				policy("y", "allow-from-xa-on-yb-match-selector", sel("pod", "b"), withIngress(ingressRule(peers(nsPodPeer(nsIs("x"), podIs("a")))))),
			},
			probes: probes(func(r *reachability) {
				r.expectPeer(xa, all, false)
				r.expectPeer(all, peer{"y", "a"}, false)
				r.expectPeer(xa, peer{"y", "a"}, true)
				r.expectPeer(all, peer{"y", "b"}, false)
			}, tcp, 80),
		},
		{
			name: "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-to-ns-y-pod-a", sel("pod", "a"), withEgress(egressRule(peers(nsPodPeer(nsIs("y"), podIs("a"))))))},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "y/a", true)
			}, tcp, 80),
		},
		{
			name: "should enforce ingress policy allowing any port traffic to a server on a specific protocol", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ingress-by-proto", sel("pod", "a"), withIngress(ingressRule(nil, protoPort(tcp))))},
			probes: join(
				probes(allAllowed, tcp, 80, tcp, 81, tcp, 65535),
				probes(func(r *reachability) { r.expectPeer(all, xa, false) }, udp, 80, sctp, 81),
			),
		},
		{
			name: "should enforce multiple ingress policies with ingress allow-all policy taking precedence (before allow-all)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ingress-port-80", sel(), withIngress(ingressRule(nil, numPort("", 80))))},
			probes: join(
				probes(denyIntoX, tcp, 81),
				probes(allAllowed, tcp, 80),
			),
		},
		{
			name: "should enforce multiple ingress policies with ingress allow-all policy taking precedence", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-ingress-port-80", sel(), withIngress(ingressRule(nil, numPort("", 80)))),
				policy("x", "allow-ingress", sel(), withIngress(ingressRule(nil))),
			},
			probes: probes(allAllowed, tcp, 81, tcp, 80, udp, 81),
		},
		{
			name: "should enforce multiple egress policies with egress allow-all policy taking precedence (before allow-all)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-egress-port-80", sel(), withEgress(egressRule(nil, numPort("", 80))))},
			probes: join(
				probes(denyOutOfX, tcp, 81),
				probes(allAllowed, tcp, 80),
			),
		},
		{
			name: "should enforce multiple egress policies with egress allow-all policy taking precedence", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-egress-port-80", sel(), withEgress(egressRule(nil, numPort("", 80)))),
				policy("x", "allow-egress", sel(), withEgress(egressRule(nil))),
			},
			probes: probes(allAllowed, tcp, 81, tcp, 80),
		},
		{
			name: "should stop enforcing policies after they are deleted (no policies)", upstream: true,
			probes: probes(allAllowed, tcp, 80, udp, 80, sctp, 80),
		},
		{
			name: "should allow egress access to server in CIDR block", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-cidr-egress-rule", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("10.0.2.2/32")))))},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "y/b", true)
			}, tcp, 80),
		},
		{
			name: "should enforce except clause while egress access to server in CIDR block", upstream: true,
			// makeLargeCIDRForIP(10.0.1.2) is the /4 around x/b.
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-cidr-egress-rule", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("0.0.0.0/4", "10.0.1.2/32")))))},
			probes:   probes(func(r *reachability) { r.expect("x/a", "x/b", false) }, tcp, 80),
		},
		{
			name: "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (policy replaced)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-cidr-egress-rule", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("10.0.1.2/32")))))},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "x/b", true)
			}, tcp, 80),
		},
		{
			name: "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (both policies)",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-client-a-via-cidr-egress-rule", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("0.0.0.0/4", "10.0.1.2/32"))))),
				policy("x", "allow-client-a-to-b", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("10.0.1.2/32"))))),
			},
			probes: probes(allAllowed, tcp, 80),
		},
		{
			name: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (egress only)", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-egress-for-target", sel("pod", "a"), withEgress(egressRule(nil)))},
			probes:   probes(allAllowed, tcp, 80),
		},
		{
			name: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "allow-egress-for-target", sel("pod", "a"), withEgress(egressRule(nil))),
				policy("x", "deny-ingress-via-label-selector", sel("pod", "a"), withIngress()),
			},
			probes: probes(denyIngressTo("x/a"), tcp, 80),
		},
		{
			name: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP", upstream: true,
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "deny-ingress", sel(), withIngress()),
				policy("x", "allow-only-sctp-ingress-on-port-81", sel("pod", "a"), withIngress(ingressRule(nil, numPort(sctp, 81)))),
			},
			probes: join(
				probes(denyIntoX, tcp, 81, udp, 81, sctp, 80),
				probes(func(r *reachability) {
					r.expectPeer(all, nsX, false)
					r.expectAllIngress("x/a", true)
				}, sctp, 81),
			),
		},
		{
			name: "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-only-sctp-ingress-on-port-80", sel("pod", "a"), withIngress(ingressRule(nil, numPort(sctp, 80))))},
			probes: join(
				probes(denyIngressTo("x/a"), tcp, 81, tcp, 80, udp, 80, sctp, 81),
				probes(allAllowed, sctp, 80),
			),
		},
		{
			name: "should not allow access by TCP when a policy specifies only UDP", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-only-udp-ingress-on-port-81", sel("pod", "a"), withIngress(ingressRule(nil, numPort(udp, 81))))},
			probes: join(
				probes(denyIngressTo("x/a"), tcp, 81, sctp, 81, udp, 80),
				probes(allAllowed, udp, 81),
			),
		},
		{
			name: "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-client-a-via-ns-selector-for-immutable-ns-label", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(selp(corev1.LabelMetadataName, "y"))))))},
			probes:   probes(onlyFromNSY, tcp, 80),
		},
		{
			name: "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-match-selector-for-immutable-ns-label", sel("pod", "a"), withEgress(egressRule(peers(nsPeer(exprSel(corev1.LabelMetadataName, metav1.LabelSelectorOpNotIn, "y"))))))},
			probes:   probes(func(r *reachability) { r.expectPeer(xa, nsY, false) }, tcp, 80),
		},

		// ----- upstream: "NetworkPolicy between server and client using UDP" / "using SCTP" -----
		{
			name: "UDP: should support a 'default-deny-ingress' policy", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-all", sel(), withIngress())},
			probes:   probes(denyIntoX, udp, 80),
		},
		{
			name: "UDP: should enforce policy based on Ports", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ingress-on-port-81-ns-x", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(udp, 81))))},
			probes: join(
				probes(onlyFromNSY, udp, 81),
				probes(denyIngressTo("x/a"), udp, 80, tcp, 81),
			),
		},
		{
			name: "UDP: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-pod-a-via-namespace-pod-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("y"), podIs("a"))))))},
			probes:   probes(onlyFromYA, udp, 80),
		},
		{
			name: "SCTP: should support a 'default-deny-ingress' policy", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "deny-all", sel(), withIngress())},
			probes:   probes(denyIntoX, sctp, 80),
		},
		{
			name: "SCTP: should enforce policy based on Ports", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ingress-on-port-81-ns-x", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(sctp, 81))))},
			probes: join(
				probes(onlyFromNSY, sctp, 81),
				probes(denyIngressTo("x/a"), sctp, 80, tcp, 81, udp, 81),
			),
		},
		{
			name: "SCTP: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector", upstream: true,
			policies: []*networkingv1.NetworkPolicy{policy("x", "allow-ns-y-pod-a-via-namespace-pod-selector", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("y"), podIs("a"))))))},
			probes:   probes(onlyFromYA, sctp, 80),
		},

		// ----- DESIGN.md semantics -----
		{
			name:     "policyTypes absent with only ingress rules: egress stays open",
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), rawIngress(ingressRule(peers(podPeer(podIs("b"))))))},
			probes:   probes(onlyFromXB, tcp, 80),
		},
		{
			name:     "policyTypes absent with egress rules: both directions isolated",
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), rawEgress(egressRule(peers(nsPeer(nsIs("y"))))))},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expectAllEgress("x/a", false)
				r.expectPeer(xa, nsY, true)
			}, tcp, 80),
		},
		{
			name:     "policyTypes absent with an empty egress list: only ingress isolated",
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), rawEgress([]networkingv1.NetworkPolicyEgressRule{}...))},
			probes:   probes(denyIngressTo("x/a"), tcp, 80),
		},
		{
			name: "policyTypes [Egress] leaves ingress open and ignores ingress rules",
			policies: []*networkingv1.NetworkPolicy{policy("x", "egress-only", sel("pod", "a"),
				rawIngress(ingressRule(peers(podPeer(podIs("c"))))),
				rawEgress(egressRule(peers(podPeer(podIs("b"))))),
				policyTypes(networkingv1.PolicyTypeEgress),
			)},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "x/b", true)
			}, tcp, 80),
			check: func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint) {
				ex := ix.Explain(ep["y/a"], ep["x/a"], tcp, 80)
				if !ex.Ingress.Allowed || len(ex.Ingress.IsolatedBy) != 0 || !slices.Equal(ex.Ingress.IgnoredBy, []string{"x/egress-only"}) {
					t.Errorf("ingress side of y/a -> x/a: want allowed, not isolated, ignored by x/egress-only; got %+v", ex.Ingress)
				}
			},
		},
		{
			name: "policyTypes [Ingress] ignores egress rules",
			policies: []*networkingv1.NetworkPolicy{policy("x", "ingress-only", sel("pod", "a"),
				rawIngress(ingressRule(peers(podPeer(podIs("b"))))),
				rawEgress(egressRule(peers(podPeer(podIs("c"))))),
				policyTypes(networkingv1.PolicyTypeIngress),
			)},
			probes: probes(onlyFromXB, tcp, 80),
		},
		{
			name:      "empty from and ports lists mean every peer and port, addresses included",
			policies:  []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), withIngress(ingressRule([]networkingv1.NetworkPolicyPeer{}, []networkingv1.NetworkPolicyPort{}...)))},
			externals: []string{"8.8.8.8", "10.0.9.9"},
			probes:    probes(allAllowed, tcp, 80, udp, 81, sctp, 80, tcp, 65535),
		},
		{
			name: "absent from admits addresses; namespaceSelector {} admits every pod but no address",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "any-peer-80", sel("pod", "a"), withIngress(ingressRule(nil, numPort(tcp, 80)))),
				policy("x", "all-namespaces", sel("pod", "b"), withIngress(ingressRule(peers(nsPeer(selp()))))),
			},
			externals: []string{"8.8.8.8", "10.0.9.9"},
			probes: join(
				probes(func(r *reachability) {
					r.expectPeer(peer{ns: "ext"}, peer{"x", "b"}, false)
				}, tcp, 80),
				probes(func(r *reachability) {
					r.expectAllIngress("x/a", false)
					r.expectPeer(peer{ns: "ext"}, peer{"x", "b"}, false)
				}, udp, 80),
			),
		},
		{
			name: "podSelector {} alone is the policy's namespace; namespaceSelector {} is every namespace",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "own-namespace", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(selp()))))),
				policy("x", "all-namespaces", sel("pod", "b"), withIngress(ingressRule(peers(nsPeer(selp()))))),
			},
			externals: []string{"8.8.8.8"},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expectPeer(nsX, xa, true)
				r.expect("ext/8.8.8.8", "x/b", false)
			}, tcp, 80),
		},
		{
			name:     "namespaceSelector {} with a podSelector: matching pods of every namespace",
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(selp(), podIs("b"))))))},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expectPeer(peer{pod: "b"}, xa, true)
			}, tcp, 80),
		},
		{
			name: "AND within one peer, OR across peers",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "and", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("y"), podIs("b")))))),
				policy("x", "or", sel("pod", "b"), withIngress(ingressRule(peers(nsPeer(nsIs("y")), podPeer(podIs("c")))))),
			},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expect("y/b", "x/a", true)
				r.expectAllIngress("x/b", false)
				r.expectPeer(nsY, peer{"x", "b"}, true)
				r.expect("x/c", "x/b", true)
			}, tcp, 80),
		},
		{
			name:      "matchExpressions NotIn selects pods lacking the key",
			podLabels: map[string]map[string]string{"x/b": {"tier": "db"}},
			policies:  []*networkingv1.NetworkPolicy{policy("x", "not-db", sel("pod", "c"), withIngress(ingressRule(peers(podPeer(exprSel("tier", metav1.LabelSelectorOpNotIn, "db"))))))},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/c", false)
				r.expect("x/a", "x/c", true)
			}, tcp, 80),
		},
		{
			name:      "matchExpressions DoesNotExist selects pods lacking the key, Exists those having it",
			podLabels: map[string]map[string]string{"x/b": {"tier": "db"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "no-tier", sel("pod", "c"), withIngress(ingressRule(peers(podPeer(exprSel("tier", metav1.LabelSelectorOpDoesNotExist)))))),
				policy("x", "has-tier", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(exprSel("tier", metav1.LabelSelectorOpExists)))))),
			},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/c", false)
				r.expect("x/a", "x/c", true)
				r.expectAllIngress("x/a", false)
				r.expect("x/b", "x/a", true)
			}, tcp, 80),
		},
		{
			name:     "namespace matchExpressions NotIn and DoesNotExist select namespaces lacking the key",
			nsLabels: map[string]map[string]string{"x": {"env": "prod"}, "y": {"env": "dev"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "not-prod", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(exprSel("env", metav1.LabelSelectorOpNotIn, "prod")))))),
				policy("x", "no-env", sel("pod", "b"), withIngress(ingressRule(peers(nsPeer(exprSel("env", metav1.LabelSelectorOpDoesNotExist)))))),
			},
			probes: probes(func(r *reachability) {
				r.expectPeer(nsX, xa, false)
				r.expectPeer(nsX, peer{"x", "b"}, false)
				r.expectPeer(nsY, peer{"x", "b"}, false)
			}, tcp, 80),
		},
		{
			name:     "namespaceSelector matchLabels on custom namespace labels",
			nsLabels: map[string]map[string]string{"x": {"team": "red"}, "y": {"team": "blue"}, "z": {"team": "red"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "red-team", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(selp("team", "red")))))),
				policy("y", "red-team-c", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(selp("team", "red"), podIs("c")))))),
			},
			probes: probes(func(r *reachability) {
				r.expectPeer(nsY, xa, false)
				r.expectAllIngress("y/a", false)
				r.expect("x/c", "y/a", true)
				r.expect("z/c", "y/a", true)
			}, tcp, 80),
		},
		{
			name:     "kubernetes.io/metadata.name is always present, even on namespaces given without labels",
			nsLabels: map[string]map[string]string{"z": {"team": "red"}},
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), withIngress(ingressRule(peers(nsPeer(exprSel(nsNameLabel, metav1.LabelSelectorOpIn, "y", "z"))))))},
			probes: probes(func(r *reachability) {
				r.expectPeer(nsX, xa, false)
			}, tcp, 80),
		},
		{
			name: "ingress named port resolves on the destination pod",
			podPorts: map[string][]netpol.ContainerPort{
				"x/a": {{Name: "web", Port: 80, Protocol: tcp}},
				"x/b": {{Name: "web", Port: 81, Protocol: tcp}},
			},
			policies: []*networkingv1.NetworkPolicy{policy("x", "web", sel(), withIngress(ingressRule(nil, namedPort("", "web"))))},
			probes: join(
				probes(denyIngressTo("x/b", "x/c"), tcp, 80),
				probes(denyIngressTo("x/a", "x/c"), tcp, 81),
				probes(denyIntoX, udp, 80, udp, 81, tcp, 82),
			),
		},
		{
			name: "egress named port resolves on the destination pod",
			podPorts: map[string][]netpol.ContainerPort{
				"x/b": {{Name: "web", Port: 80, Protocol: tcp}},
				"y/a": {{Name: "web", Port: 80, Protocol: tcp}},
				"y/b": {{Name: "web", Port: 81, Protocol: tcp}},
			},
			policies: []*networkingv1.NetworkPolicy{policy("x", "egress-web", sel("pod", "a"), withEgress(egressRule(nil, namedPort(tcp, "web"))))},
			probes: join(
				probes(func(r *reachability) {
					r.expectAllEgress("x/a", false)
					r.expect("x/a", "x/b", true)
					r.expect("x/a", "y/a", true)
				}, tcp, 80),
				probes(func(r *reachability) {
					r.expectAllEgress("x/a", false)
					r.expect("x/a", "y/b", true)
				}, tcp, 81),
			),
		},
		{
			name: "named port with the wrong protocol does not match",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "tcp-name-as-udp", sel("pod", "a"), withIngress(ingressRule(nil, namedPort(udp, "serve-80-tcp")))),
				policy("x", "udp-name-as-udp", sel("pod", "b"), withIngress(ingressRule(nil, namedPort(udp, "serve-80-udp")))),
				policy("x", "sctp-name-default-tcp", sel("pod", "c"), withIngress(ingressRule(nil, namedPort("", "serve-80-sctp")))),
			},
			probes: join(
				probes(denyIngressTo("x/a", "x/b", "x/c"), tcp, 80, sctp, 80),
				probes(denyIngressTo("x/a", "x/c"), udp, 80),
			),
		},
		{
			name:     "container port without protocol is TCP for named ports",
			podPorts: map[string][]netpol.ContainerPort{"x/a": {{Name: "http", Port: 8080}}},
			policies: []*networkingv1.NetworkPolicy{policy("x", "http", sel("pod", "a"), withIngress(ingressRule(nil, namedPort(tcp, "http"))))},
			probes: join(
				probes(allAllowed, tcp, 8080),
				probes(denyIngressTo("x/a"), udp, 8080, tcp, 80),
			),
		},
		{
			name: "named port never matches an address outside the cluster",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "named-egress", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("0.0.0.0/0")), namedPort(tcp, "serve-80-tcp")))),
				policy("x", "numeric-egress", sel("pod", "b"), withEgress(egressRule(peers(ipPeer("0.0.0.0/0")), numPort(tcp, 80)))),
			},
			externals: []string{"8.8.8.8"},
			probes: join(
				probes(func(r *reachability) { r.expect("x/a", "ext/8.8.8.8", false) }, tcp, 80),
				probes(denyEgressFrom("x/a", "x/b"), tcp, 81),
			),
			check: func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint) {
				ex := ix.Explain(ep["x/a"], ep["ext/8.8.8.8"], tcp, 80)
				if ex.Allowed || len(ex.Egress.Rules) != 1 || !strings.Contains(ex.Egress.Rules[0].Reason, "never matches an address outside the cluster") {
					t.Errorf("x/a -> 8.8.8.8 TCP/80: want denied because a named port never matches an address; got %+v", ex.Egress)
				}
				if got := ix.AllowedConns(ep["x/a"], ep["ext/8.8.8.8"]); !got.IsEmpty() {
					t.Errorf("AllowedConns(x/a, 8.8.8.8) = %s, want No Connections", got)
				}
			},
		},
		{
			name:     "port entry without protocol is TCP",
			policies: []*networkingv1.NetworkPolicy{policy("x", "p", sel("pod", "a"), withIngress(ingressRule(nil, numPort("", 80))))},
			probes: join(
				probes(allAllowed, tcp, 80),
				probes(denyIngressTo("x/a"), udp, 80, sctp, 80, tcp, 81),
			),
		},
		{
			name: "endPort is inclusive",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "a-80-81", sel("pod", "a"), withIngress(ingressRule(nil, rangePort(tcp, 80, 81)))),
				policy("x", "b-79-80", sel("pod", "b"), withIngress(ingressRule(nil, rangePort(tcp, 79, 80)))),
			},
			probes: join(
				probes(denyIngressTo("x/a"), tcp, 79),
				probes(allAllowed, tcp, 80),
				probes(denyIngressTo("x/b"), tcp, 81),
				probes(denyIngressTo("x/a", "x/b"), tcp, 82, udp, 80),
			),
		},
		{
			name: "egress and ingress port ranges overlapping partially allow their intersection",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "egress-70-80", sel("pod", "a"), withEgress(egressRule(nil, rangePort(tcp, 70, 80)))),
				policy("y", "ingress-80-90", sel("pod", "a"), withIngress(ingressRule(nil, rangePort(tcp, 80, 90)))),
			},
			probes: join(
				probes(denyIngressTo("y/a"), tcp, 70, tcp, 79),
				probes(allAllowed, tcp, 80),
				probes(denyEgressFrom("x/a"), tcp, 81, tcp, 90),
				probes(func(r *reachability) {
					r.expectAllEgress("x/a", false)
					r.expectAllIngress("y/a", false)
				}, tcp, 69, tcp, 91, udp, 80),
			),
			check: func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint) {
				for _, c := range []struct{ src, dst, want string }{
					{"x/a", "y/a", "TCP 80"},
					{"x/b", "y/a", "TCP 80-90"},
					{"x/a", "x/b", "TCP 70-80"},
					{"x/b", "x/c", "All Connections"},
				} {
					if got := ix.AllowedConns(ep[c.src], ep[c.dst]).String(); got != c.want {
						t.Errorf("AllowedConns(%s, %s) = %q, want %q", c.src, c.dst, got, c.want)
					}
				}
			},
		},
		{
			name:      "ipBlock with except on ingress, pods and external sources",
			policies:  []*networkingv1.NetworkPolicy{policy("y", "from-10-0", sel("pod", "a"), withIngress(ingressRule(peers(ipPeer("10.0.0.0/16", "10.0.1.0/24")))))},
			externals: []string{"10.0.9.9", "10.0.1.200", "8.8.8.8"},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("y/a", false)
				r.expectPeer(nsY, peer{"y", "a"}, true)
				r.expectPeer(nsZ, peer{"y", "a"}, true)
				r.expect("ext/10.0.9.9", "y/a", true)
			}, tcp, 80, udp, 81),
		},
		{
			name:      "ipBlock with except on egress to external addresses",
			policies:  []*networkingv1.NetworkPolicy{policy("x", "internet", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("0.0.0.0/0", "10.0.0.0/8")))))},
			externals: []string{"8.8.8.8", "10.0.9.9"},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "ext/8.8.8.8", true)
			}, tcp, 80),
		},
		{
			name: "ipBlock matches pod IPs by default",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "egress-10", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("10.0.0.0/8"))))),
				policy("y", "ingress-10", sel("pod", "a"), withIngress(ingressRule(peers(ipPeer("10.0.0.0/8"))))),
			},
			externals: []string{"10.0.9.9", "8.8.8.8"},
			probes: probes(func(r *reachability) {
				r.expect("x/a", "ext/8.8.8.8", false)
				r.expect("ext/8.8.8.8", "y/a", false)
			}, tcp, 80),
		},
		{
			name: "ipBlock does not match pod IPs when IPBlockMatchesPods is off",
			opts: &netpol.Options{IPBlockMatchesPods: false},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "egress-10", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("10.0.0.0/8"))))),
				policy("y", "ingress-10", sel("pod", "a"), withIngress(ingressRule(peers(ipPeer("10.0.0.0/8"))))),
			},
			externals: []string{"10.0.9.9", "8.8.8.8"},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "ext/10.0.9.9", true)
				r.expectAllIngress("y/a", false)
				r.expect("ext/10.0.9.9", "y/a", true)
			}, tcp, 80),
		},
		{
			name:     "legacy IPv4-mapped IPv6 ipBlock cidr is read as its IPv4 prefix",
			policies: []*networkingv1.NetworkPolicy{policy("x", "mapped", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("::ffff:10.0.2.0/120")))))},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expectPeer(xa, nsY, true)
			}, tcp, 80),
		},
		{
			name: "policies in other namespaces, or selecting no pod, change nothing",
			policies: []*networkingv1.NetworkPolicy{
				policy("w", "deny-all", sel(), withIngress(), withEgress()),
				policy("x", "deny-all-d", sel("pod", "d"), withIngress(), withEgress()),
				policy("y", "deny-all-expr", *exprSel("pod", metav1.LabelSelectorOpIn, "d", "e"), withIngress(), withEgress()),
			},
			externals: []string{"8.8.8.8"},
			probes:    probes(allAllowed, tcp, 80, udp, 81),
		},
		{
			name: "multiple policies selecting one pod are a union",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "b-on-80", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(podIs("b"))), numPort(tcp, 80)))),
				policy("x", "y-on-81", sel(), withIngress(ingressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 81)))),
			},
			probes: join(
				probes(func(r *reachability) {
					r.expectPeer(all, nsX, false)
					r.expect("x/b", "x/a", true)
				}, tcp, 80),
				probes(func(r *reachability) {
					r.expectPeer(all, nsX, false)
					r.expectPeer(nsY, nsX, true)
				}, tcp, 81),
			),
		},
		{
			name: "rules of one policy are a union; peers and ports of one rule combine",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "two-rules", sel("pod", "a"), withIngress(
					ingressRule(peers(podPeer(podIs("b"))), numPort(tcp, 80)),
					ingressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 81)),
				)),
				policy("x", "one-rule", sel("pod", "b"), withIngress(
					ingressRule(peers(podPeer(podIs("c")), nsPeer(nsIs("z"))), numPort(tcp, 80), numPort(udp, 81)),
				)),
			},
			probes: join(
				probes(func(r *reachability) {
					r.expectAllIngress("x/a", false)
					r.expect("x/b", "x/a", true)
					r.expectAllIngress("x/b", false)
					r.expect("x/c", "x/b", true)
					r.expectPeer(nsZ, peer{"x", "b"}, true)
				}, tcp, 80),
				probes(func(r *reachability) {
					r.expectAllIngress("x/a", false)
					r.expectPeer(nsY, xa, true)
					r.expectAllIngress("x/b", false)
				}, tcp, 81),
				probes(func(r *reachability) {
					r.expectAllIngress("x/a", false)
					r.expectAllIngress("x/b", false)
					r.expect("x/c", "x/b", true)
					r.expectPeer(nsZ, peer{"x", "b"}, true)
				}, udp, 81),
			),
		},
		{
			name:     "egress allowed to one namespace on one protocol",
			policies: []*networkingv1.NetworkPolicy{policy("x", "dns-like", sel(), withEgress(egressRule(peers(nsPeer(nsIs("z"))), numPort(udp, 80))))},
			probes: join(
				probes(denyOutOfX, tcp, 80, udp, 81),
				probes(func(r *reachability) {
					r.expectPeer(nsX, all, false)
					r.expectPeer(nsX, nsZ, true)
				}, udp, 80),
			),
		},
		{
			name: "egress and ingress both must allow",
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "egress-y-81", sel("pod", "a"), withEgress(egressRule(peers(nsPeer(nsIs("y"))), numPort(tcp, 81)))),
				policy("y", "ingress-xa-80", sel("pod", "a"), withIngress(ingressRule(peers(nsPodPeer(nsIs("x"), podIs("a"))), numPort(tcp, 80)))),
			},
			probes: join(
				probes(func(r *reachability) {
					r.expectAllEgress("x/a", false)
					r.expectAllIngress("y/a", false)
				}, tcp, 80),
				probes(func(r *reachability) {
					r.expectAllEgress("x/a", false)
					r.expectPeer(xa, nsY, true)
					r.expectAllIngress("y/a", false)
				}, tcp, 81),
			),
			check: func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint) {
				if got := ix.AllowedConns(ep["x/a"], ep["y/a"]); got.String() != "No Connections" {
					t.Errorf("AllowedConns(x/a, y/a) = %s, want No Connections", got)
				}
				ex := ix.Explain(ep["x/a"], ep["y/a"], tcp, 80)
				if ex.Allowed || ex.Egress.Allowed || !ex.Ingress.Allowed {
					t.Errorf("x/a -> y/a TCP/80: want denied at egress and allowed at ingress, got egress=%v ingress=%v", ex.Egress.Allowed, ex.Ingress.Allowed)
				}
			},
		},
		{
			name:     "a policy allowing only SCTP isolates egress for TCP and UDP",
			policies: []*networkingv1.NetworkPolicy{policy("x", "sctp-out", sel("pod", "a"), withEgress(egressRule(nil, protoPort(sctp))))},
			probes: join(
				probes(denyEgressFrom("x/a"), tcp, 80, udp, 80),
				probes(allAllowed, sctp, 80, sctp, 81, sctp, 1),
			),
		},
		{
			name:      "deny-all ingress blocks external sources; egress to addresses stays open",
			policies:  []*networkingv1.NetworkPolicy{policy("x", "deny-ingress", sel(), withIngress())},
			externals: []string{"8.8.8.8"},
			probes:    probes(denyIntoX, tcp, 80),
		},
		{
			name:      "egress rule without to reaches external destinations",
			policies:  []*networkingv1.NetworkPolicy{policy("x", "out-80", sel("pod", "a"), withEgress(egressRule(nil, numPort(tcp, 80))))},
			externals: []string{"8.8.8.8"},
			probes: join(
				probes(allAllowed, tcp, 80),
				probes(denyEgressFrom("x/a"), tcp, 81),
			),
		},
		{
			name:      "selector peers never match external addresses; ipBlock does",
			policies:  []*networkingv1.NetworkPolicy{policy("x", "out", sel("pod", "a"), withEgress(egressRule(peers(podPeer(selp()), nsPeer(selp("team", "none")), ipPeer("8.8.8.0/24")))))},
			externals: []string{"8.8.8.8", "1.1.1.1"},
			probes: probes(func(r *reachability) {
				r.expectAllEgress("x/a", false)
				r.expectPeer(xa, nsX, true)
				r.expect("x/a", "ext/8.8.8.8", true)
			}, tcp, 80),
		},
		{
			name:     "host-network pods are neither selected nor isolated",
			hostPods: []hostPod{{name: "h", namespace: "x", labels: map[string]string{"pod": "a"}, ip: "192.168.0.10"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "deny-all", sel(), withIngress(), withEgress()),
				policy("y", "from-pod-a-anywhere", sel(), withIngress(ingressRule(peers(nsPodPeer(selp(), podIs("a")))))),
			},
			probes: probes(func(r *reachability) {
				r.expectPeer(all, nsX, false)
				r.expectPeer(nsX, all, false)
				r.expectPeer(all, nsY, false)
				r.expectPeer(peer{pod: "a"}, nsY, true)
				r.expectPeer(nsX, nsY, false) // x/a: egress denied at x
			}, tcp, 80),
			check: func(t *testing.T, ix *netpol.Index, ep map[string]netpol.Endpoint) {
				ex := ix.Explain(ep["node/h"], ep["y/b"], tcp, 80)
				if ex.Egress.Subject || !ex.Egress.Allowed {
					t.Errorf("egress side of a host-network pod: want not a subject and allowed, got %+v", ex.Egress)
				}
			},
		},
		{
			name:     "host-network pods are matched by an ipBlock of their node address",
			hostPods: []hostPod{{name: "h", namespace: "x", labels: map[string]string{"pod": "b"}, ip: "192.168.0.10"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "from-b", sel("pod", "a"), withIngress(ingressRule(peers(podPeer(podIs("b")))))),
				policy("x", "from-nodes", sel("pod", "c"), withIngress(ingressRule(peers(ipPeer("192.168.0.0/24"))))),
			},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/a", false)
				r.expect("x/b", "x/a", true)
				r.expectAllIngress("x/c", false)
				r.expect("node/h", "x/c", true)
			}, tcp, 80),
		},
		{
			name:     "host-network pods are matched by an ipBlock even when ipBlocks do not match pods",
			opts:     &netpol.Options{IPBlockMatchesPods: false},
			hostPods: []hostPod{{name: "h", namespace: "x", labels: map[string]string{"pod": "b"}, ip: "192.168.0.10"}},
			policies: []*networkingv1.NetworkPolicy{
				policy("x", "from-nodes", sel("pod", "c"), withIngress(ingressRule(peers(ipPeer("192.168.0.0/24", "192.168.0.128/25"))))),
				policy("x", "to-nodes", sel("pod", "a"), withEgress(egressRule(peers(ipPeer("192.168.0.0/16"))))),
			},
			probes: probes(func(r *reachability) {
				r.expectAllIngress("x/c", false)
				r.expect("node/h", "x/c", true)
				r.expectAllEgress("x/a", false)
				r.expect("x/a", "node/h", true)
			}, tcp, 80),
		},
	}
}

// confCluster builds the namespaces, workloads and named endpoints of a
// scenario. Names are in matrix order: the 9 pods, then host-network pods,
// then external addresses.
func (sc confScenario) cluster(t *testing.T) ([]netpol.Namespace, []*netpol.Workload, []string, map[string]netpol.Endpoint) {
	t.Helper()
	var (
		nss   []netpol.Namespace
		wls   []*netpol.Workload
		names []string
		eps   = map[string]netpol.Endpoint{}
	)
	for _, ns := range confNamespaces {
		nss = append(nss, netpol.Namespace{Name: ns, Labels: sc.nsLabels[ns]})
		for _, pod := range confPods {
			name := ns + "/" + pod
			lbls := map[string]string{"pod": pod}
			for k, v := range sc.podLabels[name] {
				lbls[k] = v
			}
			var ports []netpol.ContainerPort
			for _, proto := range []corev1.Protocol{tcp, udp, sctp} {
				for _, port := range []int32{80, 81} {
					ports = append(ports, netpol.ContainerPort{Name: fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto))), Port: port, Protocol: proto})
				}
			}
			ports = append(ports, sc.podPorts[name]...)
			w := &netpol.Workload{Namespace: ns, Kind: "Pod", Name: pod, Labels: lbls, IPs: []netip.Addr{confPodIP(ns, pod)}, Node: "node-1", Ports: ports}
			wls = append(wls, w)
			names = append(names, name)
			eps[name] = netpol.WorkloadEndpoint(w)
		}
	}
	for k := range sc.podLabels {
		if _, ok := eps[k]; !ok {
			t.Fatalf("podLabels: unknown pod %q", k)
		}
	}
	for _, h := range sc.hostPods {
		w := &netpol.Workload{Namespace: h.namespace, Kind: "Pod", Name: h.name, Labels: h.labels, IPs: []netip.Addr{netip.MustParseAddr(h.ip)}, HostNetwork: true, Node: "node-1"}
		wls = append(wls, w)
		name := "node/" + h.name
		names = append(names, name)
		eps[name] = netpol.WorkloadEndpoint(w)
	}
	for _, a := range sc.externals {
		name := "ext/" + a
		names = append(names, name)
		eps[name] = netpol.AddrEndpoint(netip.MustParseAddr(a))
	}
	return nss, wls, names, eps
}

// consistencyConns are the connections every pair is checked on, whatever
// the scenario probes: Verdict, AllowedConns and Explain must agree.
var consistencyConns = []struct {
	proto corev1.Protocol
	port  int32
}{
	{tcp, 1}, {tcp, 79}, {tcp, 80}, {tcp, 81}, {tcp, 8080}, {tcp, 65535},
	{udp, 80}, {udp, 81}, {udp, 53},
	{sctp, 80}, {sctp, 81},
}

func TestConformance(t *testing.T) {
	scenarios := confScenarios()
	seen := map[string]bool{}
	for _, sc := range scenarios {
		if seen[sc.name] {
			t.Fatalf("duplicate scenario name %q", sc.name)
		}
		seen[sc.name] = true
		t.Run(sc.name, func(t *testing.T) { runConformance(t, sc) })
	}
}

func runConformance(t *testing.T, sc confScenario) {
	nss, wls, names, eps := sc.cluster(t)
	opts := netpol.DefaultOptions()
	if sc.opts != nil {
		opts = *sc.opts
	}
	ix, err := netpol.NewIndex(nss, wls, sc.policies, opts)
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	if len(sc.probes) == 0 {
		t.Fatal("scenario probes nothing")
	}
	for _, p := range sc.probes {
		want := newReachability(names, true)
		if p.expect != nil {
			p.expect(want)
		}
		want.allowLoopback()
		got := newReachability(names, false)
		wrong := 0
		for i, src := range names {
			for j, dst := range names {
				got.m[i][j] = ix.Verdict(eps[src], eps[dst], p.proto, p.port)
				if got.m[i][j] != want.m[i][j] {
					wrong++
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%s/%d: %d of %d cells wrong (rows: from, columns: to; . allowed, X denied)\nexpected:\n%s\nobserved:\n%s\ncomparison (X = wrong):\n%s",
				p.proto, p.port, wrong, len(names)*len(names),
				table(names, func(i, j int) string { return boolMark(want.m[i][j]) }),
				table(names, func(i, j int) string { return boolMark(got.m[i][j]) }),
				table(names, func(i, j int) string { return boolMark(want.m[i][j] == got.m[i][j]) }))
		}
	}
	checkConsistency(t, ix, names, eps, sc.probes)
	if sc.check != nil {
		sc.check(t, ix, eps)
	}
}

// checkConsistency checks, for every ordered pair, that AllowedConns,
// Explain and ExplainPair agree with Verdict.
func checkConsistency(t *testing.T, ix *netpol.Index, names []string, eps map[string]netpol.Endpoint, extra []confProbe) {
	t.Helper()
	conns := slices.Clone(consistencyConns)
	for _, p := range extra {
		conns = append(conns, struct {
			proto corev1.Protocol
			port  int32
		}{p.proto, p.port})
	}
	for _, src := range names {
		for _, dst := range names {
			s, d := eps[src], eps[dst]
			set := ix.AllowedConns(s, d)
			for _, c := range conns {
				v := ix.Verdict(s, d, c.proto, c.port)
				if set.Contains(c.proto, c.port) != v {
					t.Errorf("%s -> %s %s/%d: Verdict %v but AllowedConns %s", src, dst, c.proto, c.port, v, set)
				}
				ex := ix.Explain(s, d, c.proto, c.port)
				if ex.Allowed != v {
					t.Errorf("%s -> %s %s/%d: Verdict %v but Explain says %v:\n%s", src, dst, c.proto, c.port, v, ex.Allowed, ex.Text())
				}
				if !ex.Allowed && !ex.Self {
					for _, side := range []netpol.Side{ex.Egress, ex.Ingress} {
						if !side.Allowed && (!side.Subject || len(side.IsolatedBy) == 0) {
							t.Errorf("%s -> %s %s/%d: %s side denies without an isolating policy: %+v", src, dst, c.proto, c.port, side.Direction, side)
						}
					}
				}
			}
			pair := ix.ExplainPair(s, d)
			if pair.Allowed != !set.IsEmpty() || pair.Conns != set.String() {
				t.Errorf("%s -> %s: ExplainPair says allowed=%v conns=%q, AllowedConns %s", src, dst, pair.Allowed, pair.Conns, set)
			}
		}
	}
}

func TestConformanceScenarioCount(t *testing.T) {
	total, upstream := 0, 0
	for _, sc := range confScenarios() {
		total++
		if sc.upstream {
			upstream++
		}
	}
	if total < 40 {
		t.Errorf("only %d scenarios, want at least 40", total)
	}
	t.Logf("%d scenarios, %d of them ported from the upstream suite", total, upstream)
}

// TestSelfTrafficAlwaysAllowed: a pod may reach itself even under deny-all,
// and Explain says why.
func TestSelfTrafficAlwaysAllowed(t *testing.T) {
	sc := confScenario{policies: []*networkingv1.NetworkPolicy{policy("x", "deny-all", sel(), withIngress(), withEgress())}}
	nss, wls, _, eps := sc.cluster(t)
	ix, err := netpol.NewIndex(nss, wls, sc.policies, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	xa := eps["x/a"]
	if !ix.Verdict(xa, xa, tcp, 80) {
		t.Error("x/a -> x/a denied")
	}
	if ex := ix.Explain(xa, xa, udp, 81); !ex.Allowed || !ex.Self {
		t.Errorf("Explain(x/a, x/a) = %+v, want allowed as self traffic", ex)
	}
	if got := ix.AllowedConns(xa, xa); !got.IsAll() {
		t.Errorf("AllowedConns(x/a, x/a) = %s, want All Connections", got)
	}
	if ix.Verdict(xa, eps["x/b"], tcp, 80) {
		t.Error("x/a -> x/b allowed under deny-all")
	}
}

// TestReplicasAreNotSelf: two replicas of one workload are two pods, so a
// deny-all cuts them apart; only the same address (or a bare Pod) is self.
func TestReplicasAreNotSelf(t *testing.T) {
	sts := &netpol.Workload{Namespace: "x", Kind: "StatefulSet", Name: "etcd", Labels: map[string]string{"app": "etcd"},
		IPs: []netip.Addr{netip.MustParseAddr("10.0.9.1"), netip.MustParseAddr("10.0.9.2")}}
	bare := &netpol.Workload{Namespace: "x", Kind: "Pod", Name: "debug", Labels: map[string]string{"app": "debug"}}
	denyAll := policy("x", "deny-all", sel(), withIngress(), withEgress())
	ix, err := netpol.NewIndex([]netpol.Namespace{{Name: "x"}}, []*netpol.Workload{sts, bare}, []*networkingv1.NetworkPolicy{denyAll}, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	w := netpol.WorkloadEndpoint(sts)
	if ix.Verdict(w, w, tcp, 2380) {
		t.Error("replica -> replica of one StatefulSet allowed under deny-all")
	}
	one := netpol.Endpoint{Workload: sts, Addr: sts.IPs[0]}
	two := netpol.Endpoint{Workload: sts, Addr: sts.IPs[1]}
	if !ix.Verdict(one, one, tcp, 2380) || ix.Verdict(one, two, tcp, 2380) {
		t.Error("same address must be self, different addresses not")
	}
	if b := netpol.WorkloadEndpoint(bare); !ix.Verdict(b, b, tcp, 80) {
		t.Error("a bare Pod to itself denied")
	}
}

// TestEndpointAddressChoosesPodIP: an ipBlock sees the endpoint's Addr when
// given, else the workload's first IP.
func TestEndpointAddressChoosesPodIP(t *testing.T) {
	sc := confScenario{policies: []*networkingv1.NetworkPolicy{policy("y", "from-second-ip", sel("pod", "a"), withIngress(ingressRule(peers(ipPeer("10.0.1.101/32")))))}}
	nss, wls, _, eps := sc.cluster(t)
	xa := eps["x/a"].Workload
	xa.IPs = append(xa.IPs, netip.MustParseAddr("10.0.1.101"))
	ix, err := netpol.NewIndex(nss, wls, sc.policies, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ya := eps["y/a"]
	if ix.Verdict(netpol.WorkloadEndpoint(xa), ya, tcp, 80) {
		t.Error("x/a (first IP 10.0.1.1) -> y/a allowed by an ipBlock of 10.0.1.101/32")
	}
	second := netpol.Endpoint{Workload: xa, Addr: netip.MustParseAddr("10.0.1.101")}
	if !ix.Verdict(second, ya, tcp, 80) {
		t.Error("x/a at 10.0.1.101 -> y/a denied")
	}
	if got := ix.AllowedConns(second, ya); !got.IsAll() {
		t.Errorf("AllowedConns(x/a@10.0.1.101, y/a) = %s", got)
	}
}

// TestWorkloadNotGivenToNewIndex: a workload the index has not seen gets the
// same verdicts as one it has.
func TestWorkloadNotGivenToNewIndex(t *testing.T) {
	i := slices.IndexFunc(confScenarios(), func(sc confScenario) bool {
		return sc.name == "should enforce policy based on PodSelector and NamespaceSelector"
	})
	if i < 0 {
		t.Fatal("scenario not found")
	}
	sc := confScenarios()[i]
	nss, wls, names, eps := sc.cluster(t)
	ix, err := netpol.NewIndex(nss, wls, sc.policies, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range names {
		for _, dst := range names {
			s, d := eps[src], eps[dst]
			cs, cd := *s.Workload, *d.Workload // copies: unknown to the index
			if src == dst {
				continue
			}
			want := ix.Verdict(s, d, tcp, 80)
			if got := ix.Verdict(netpol.WorkloadEndpoint(&cs), netpol.WorkloadEndpoint(&cd), tcp, 80); got != want {
				t.Errorf("%s -> %s: copies give %v, originals %v", src, dst, got, want)
			}
		}
	}
}
