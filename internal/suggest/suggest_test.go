package suggest

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

var (
	tcp = flow.ProtocolTCP
	udp = flow.ProtocolUDP
)

// allows reports what the policy alone does to one connection between
// workloads (or an address), on the side the policy selects.
func allows(t *testing.T, s Suggestion, src, dst netpol.Endpoint, proto corev1.Protocol, port int32) bool {
	t.Helper()
	inv := fixture()
	ix, err := netpol.NewIndex(inv.Namespaces, inv.Workloads, []*networkingv1.NetworkPolicy{s.Policy}, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return ix.Verdict(src, dst, proto, port)
}

func find(inv []*netpol.Workload, name string) netpol.Endpoint {
	for _, w := range inv {
		if w.Name == name {
			return netpol.WorkloadEndpoint(w)
		}
	}
	panic(name)
}

func hasRow(rows []Row, r Row) bool { return slices.Contains(rows, r) }

func TestGlobalRules(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	db := we("shop", "StatefulSet", "db")
	api := we("payments", "Deployment", "api")
	edges := []flow.Edge{
		edge(web, db, tcp, 5432, nil),
		edge(web, api, tcp, 8080, nil),
		edge(we("shop", "DaemonSet", "log-agent"), web, tcp, 9090, nil),
	}
	W := inv.Workloads
	ext := netpol.AddrEndpoint(netip.MustParseAddr("203.0.113.9"))
	tests := []struct {
		rule                        Rule
		toDB, toAPI, toOther, toExt bool // egress
		fromAgent, fromAPI          bool // ingress
	}{
		{RuleObserved, true, true, false, false, true, false},
		{RuleBlockAll, false, false, false, false, false, false},
		{RuleAllowNamespace, true, false, true, false, true, false},
		{RuleAllowAll, true, true, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.rule), func(t *testing.T) {
			s, err := Suggest(input(inv, web, edges...), Choices{Ingress: tt.rule, Egress: tt.rule})
			if err != nil {
				t.Fatal(err)
			}
			src := find(W, "web")
			check := func(what string, got, want bool) {
				t.Helper()
				if got != want {
					t.Errorf("%s: allowed %v, want %v", what, got, want)
				}
			}
			check("web→db", allows(t, s, src, find(W, "db"), corev1.ProtocolTCP, 5432), tt.toDB)
			check("web→api", allows(t, s, src, find(W, "api"), corev1.ProtocolTCP, 8080), tt.toAPI)
			check("web→debug", allows(t, s, src, find(W, "debug"), corev1.ProtocolTCP, 22), tt.toOther)
			check("web→external", allows(t, s, src, ext, corev1.ProtocolTCP, 443), tt.toExt)
			check("log-agent→web", allows(t, s, find(W, "log-agent"), src, corev1.ProtocolTCP, 9090), tt.fromAgent)
			check("api→web", allows(t, s, find(W, "api"), src, corev1.ProtocolTCP, 8080), tt.fromAPI)
			// DNS stays whenever egress is restricted, block-all included.
			check("web→coredns", allows(t, s, src, find(W, "coredns"), corev1.ProtocolUDP, 53), true)
			if len(s.Included)+len(s.Excluded)+len(s.Unselectable) != 3 {
				t.Errorf("rows not all classified: %+v", s)
			}
			if tt.rule == RuleBlockAll && len(s.Included) != 0 {
				t.Errorf("block-all: included %v", s.Included)
			}
		})
	}
	if _, err := Suggest(input(inv, web), Choices{Egress: "deny"}); !errors.Is(err, ErrBadChoice) {
		t.Errorf("bad rule: err %v, want ErrBadChoice", err)
	}
}

func TestAddresses(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	plain := addrEP("203.0.113.7", flow.ClassExternal, "")
	aliased := addrEP("198.51.100.5", flow.ClassAliased, "proxies")
	edges := []flow.Edge{edge(web, plain, tcp, 443, nil), edge(web, aliased, tcp, 3128, nil)}
	src := find(inv.Workloads, "web")

	s, err := Suggest(input(inv, web, edges...), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Excluded) != 2 || len(s.Included) != 0 {
		t.Fatalf("addresses are excluded by default: included %v excluded %v", s.Included, s.Excluded)
	}
	if allows(t, s, src, netpol.AddrEndpoint(plain.Addr), corev1.ProtocolTCP, 443) {
		t.Error("default: excluded address allowed")
	}

	s, err = Suggest(input(inv, web, edges...), Choices{IncludeAddresses: []netip.Addr{plain.Addr, aliased.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	var cidrs []string
	for _, r := range s.Policy.Spec.Egress {
		for _, p := range r.To {
			if p.IPBlock != nil {
				cidrs = append(cidrs, p.IPBlock.CIDR)
			}
		}
	}
	want := []string{"169.254.20.10/32", "198.51.100.0/28", "198.51.100.64/28", "203.0.113.7/32"}
	if !slices.Equal(cidrs, want) {
		t.Errorf("ipBlocks %v, want %v", cidrs, want)
	}
	if !allows(t, s, src, netpol.AddrEndpoint(plain.Addr), corev1.ProtocolTCP, 443) ||
		allows(t, s, src, netpol.AddrEndpoint(plain.Addr), corev1.ProtocolTCP, 80) ||
		!allows(t, s, src, netpol.AddrEndpoint(netip.MustParseAddr("198.51.100.70")), corev1.ProtocolTCP, 3128) {
		t.Error("included addresses: wrong verdicts")
	}
}

func TestManualCIDRRules(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	src := find(inv.Workloads, "web")
	s, err := Suggest(input(inv, web), Choices{
		AllowEgressCIDRs:  []CIDRRule{{CIDR: netip.MustParsePrefix("192.0.2.0/24"), Protocol: tcp, Port: 3128}, {CIDR: netip.MustParsePrefix("192.0.2.0/24"), Protocol: udp}},
		AllowIngressCIDRs: []CIDRRule{{CIDR: netip.MustParsePrefix("10.200.0.0/16")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	proxy := netpol.AddrEndpoint(netip.MustParseAddr("192.0.2.10"))
	for _, c := range []struct {
		src, dst netpol.Endpoint
		proto    corev1.Protocol
		port     int32
		want     bool
	}{
		{src, proxy, corev1.ProtocolTCP, 3128, true},
		{src, proxy, corev1.ProtocolTCP, 80, false},
		{src, proxy, corev1.ProtocolUDP, 9999, true},
		{netpol.AddrEndpoint(netip.MustParseAddr("10.200.3.4")), src, corev1.ProtocolSCTP, 7, true},
		{netpol.AddrEndpoint(netip.MustParseAddr("10.201.3.4")), src, corev1.ProtocolTCP, 80, false},
	} {
		if got := allows(t, s, c.src, c.dst, c.proto, c.port); got != c.want {
			t.Errorf("%s→%s %s/%d: allowed %v, want %v", c.src, c.dst, c.proto, c.port, got, c.want)
		}
	}
	if _, err := Suggest(input(inv, web), Choices{AllowEgressCIDRs: []CIDRRule{{}}}); !errors.Is(err, ErrBadChoice) {
		t.Errorf("CIDR rule without CIDR: err %v", err)
	}
}

func TestExcludedRow(t *testing.T) {
	inv := fixture()
	web, db, debug := we("shop", "Deployment", "web"), we("shop", "StatefulSet", "db"), we("shop", "Pod", "debug")
	edges := []flow.Edge{edge(web, db, tcp, 5432, nil), edge(web, debug, tcp, 8000, nil), edge(debug, web, tcp, 8080, nil)}
	ex := []Row{{Direction: netpol.Egress, Peer: db, Protocol: tcp, Port: 5432}, {Direction: netpol.Ingress, Peer: debug, Protocol: tcp, Port: 8080}}
	s, err := Suggest(input(inv, web, edges...), Choices{Exclude: ex})
	if err != nil {
		t.Fatal(err)
	}
	W := inv.Workloads
	if allows(t, s, find(W, "web"), find(W, "db"), corev1.ProtocolTCP, 5432) || allows(t, s, find(W, "debug"), find(W, "web"), corev1.ProtocolTCP, 8080) {
		t.Error("excluded rows allowed")
	}
	if !allows(t, s, find(W, "web"), find(W, "debug"), corev1.ProtocolTCP, 8000) {
		t.Error("included row denied")
	}
	if !slices.Equal(s.Excluded, []Row{ex[0], ex[1]}) || len(s.StillAllowed) != 0 {
		t.Errorf("excluded %v still allowed %v", s.Excluded, s.StillAllowed)
	}
	if strings.Contains(string(must(YAML(s.Policy))), "app: db") {
		t.Error("policy still mentions the excluded peer")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestNamespaceNeedsLabel is seed use case 5: a peer in a namespace without
// the configured label is left out and reported.
func TestNamespaceNeedsLabel(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	mf := we("legacy", "Deployment", "mainframe")
	api := we("payments", "Deployment", "api")
	s, err := Suggest(input(inv, web, edge(web, mf, tcp, 23, nil), edge(web, api, tcp, 8080, nil)), Choices{NamespaceLabelKey: "team"})
	if err != nil {
		t.Fatal(err)
	}
	row := Row{Direction: netpol.Egress, Peer: mf, Protocol: tcp, Port: 23}
	if len(s.NeedsLabel) != 1 || s.NeedsLabel[0].Namespace != "legacy" || s.NeedsLabel[0].Key != "team" || !hasRow(s.NeedsLabel[0].Rows, row) {
		t.Fatalf("NeedsLabel %+v", s.NeedsLabel)
	}
	if !hasRow(s.Unselectable, row) || hasRow(s.Included, row) {
		t.Errorf("row not unselectable: %+v", s)
	}
	if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, "namespace legacy needs label team") }) {
		t.Errorf("warnings %v", s.Warnings)
	}
	y := string(must(YAML(s.Policy)))
	if strings.Contains(y, "mainframe") || strings.Contains(y, "legacy") || !strings.Contains(y, "team: payments") {
		t.Errorf("policy:\n%s", y)
	}
	// DNS falls back to kubernetes.io/metadata.name for kube-system.
	if !strings.Contains(y, "kubernetes.io/metadata.name: kube-system") {
		t.Errorf("no DNS rule:\n%s", y)
	}
	W := inv.Workloads
	if allows(t, s, find(W, "web"), find(W, "mainframe"), corev1.ProtocolTCP, 23) {
		t.Error("unlabelled namespace peer allowed")
	}
}

func TestServicePorts(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	dbSvc := svcEP("shop", "db")
	for _, named := range []bool{false, true} {
		s, err := Suggest(input(inv, web, edge(web, dbSvc, tcp, 5432, &flow.ServiceRef{Namespace: "shop", Name: "db"})), Choices{NamedPorts: named})
		if err != nil {
			t.Fatal(err)
		}
		r := s.Policy.Spec.Egress[0]
		want := intstr.FromInt32(5432)
		if named {
			want = intstr.FromString("pg")
		}
		if len(r.To) != 1 || r.To[0].PodSelector.MatchLabels["app"] != "db" || len(r.Ports) != 1 || *r.Ports[0].Port != want {
			t.Errorf("named=%v: rule %+v", named, r)
		}
		W := inv.Workloads
		if !allows(t, s, find(W, "web"), find(W, "db"), corev1.ProtocolTCP, 5432) {
			t.Errorf("named=%v: web→db denied", named)
		}
	}
	// Through payments/api: Service port 80 → target 8080.
	api := svcEP("payments", "api")
	s, err := Suggest(input(inv, web, edge(web, api, tcp, 80, &flow.ServiceRef{Namespace: "payments", Name: "api"})), Choices{NamedPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Policy.Spec.Egress[1].Ports; len(p) != 1 || *p[0].Port != intstr.FromString("http") {
		t.Errorf("api ports %+v", s.Policy.Spec.Egress)
	}
}

func TestDNS(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	for _, rule := range []Rule{RuleObserved, RuleBlockAll, RuleAllowNamespace} {
		s, err := Suggest(input(inv, web, edge(web, svcEP("kube-system", "kube-dns"), udp, 53, nil)), Choices{Egress: rule, NamespaceLabelKey: "team"})
		if err != nil {
			t.Fatal(err)
		}
		W := inv.Workloads
		if !allows(t, s, find(W, "web"), find(W, "coredns"), corev1.ProtocolUDP, 53) || !allows(t, s, find(W, "web"), find(W, "coredns"), corev1.ProtocolTCP, 53) {
			t.Errorf("%s: DNS denied", rule)
		}
		if allows(t, s, find(W, "web"), find(W, "coredns"), corev1.ProtocolTCP, 9153) {
			t.Errorf("%s: more than DNS allowed to coredns", rule)
		}
		if !allows(t, s, find(W, "web"), netpol.AddrEndpoint(DefaultNodeLocalDNSAddr), corev1.ProtocolUDP, 53) {
			t.Errorf("%s: NodeLocal DNSCache denied", rule)
		}
		if len(s.NeedsLabel) != 0 {
			t.Errorf("%s: DNS row reported %v", rule, s.NeedsLabel)
		}
	}
	// Without NodeLocal DNSCache there is no link-local rule.
	inv.Workloads = slices.DeleteFunc(inv.Workloads, func(w *netpol.Workload) bool { return w.Name == "node-local-dns" })
	s, err := Suggest(input(inv, web), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(must(YAML(s.Policy))), "169.254.20.10") {
		t.Error("NodeLocal DNSCache rule without NodeLocal DNSCache")
	}
	// Allow-all egress needs no DNS rule.
	s, _ = Suggest(input(inv, web), Choices{Egress: RuleAllowAll})
	if len(s.Policy.Spec.Egress) != 1 || len(s.Policy.Spec.Egress[0].To) != 0 {
		t.Errorf("allow-all egress: %+v", s.Policy.Spec.Egress)
	}
}

func TestStableLabels(t *testing.T) {
	got := StableLabels("StatefulSet", map[string]string{
		"app": "db", "controller-revision-hash": "x", "statefulset.kubernetes.io/pod-name": "db-0",
		"pod-template-hash": "y", "batch.kubernetes.io/controller-uid": "z", "job-name": "j",
	})
	if len(got) != 1 || got["app"] != "db" {
		t.Errorf("StatefulSet: %v", got)
	}
	if got := StableLabels("Job", map[string]string{"job-name": "m", "controller-uid": "u"}); len(got) != 1 || got["job-name"] != "m" {
		t.Errorf("Job: %v", got)
	}
	inv := fixture()
	inv.Workloads = append(inv.Workloads, &netpol.Workload{Namespace: "shop", Kind: "CronJob", Name: "bare", Labels: map[string]string{"controller-uid": "u", "job-name": "bare-123"}})
	if _, err := Suggest(input(inv, we("shop", "CronJob", "bare")), Choices{}); !errors.Is(err, ErrNoSelector) {
		t.Errorf("CronJob without stable labels: err %v", err)
	}
	if _, err := Suggest(input(inv, we("shop", "Deployment", "nope")), Choices{}); !errors.Is(err, ErrUnknownSubject) {
		t.Errorf("unknown: err %v", err)
	}
	if _, err := Suggest(input(inv, we("kube-system", "DaemonSet", "node-local-dns")), Choices{}); err != nil {
		t.Errorf("node-local-dns (not host network in the fixture): %v", err)
	}
}

func TestPolicyName(t *testing.T) {
	if got := PolicyName(we("shop", "StatefulSet", "db")); got != "redline-statefulset-db" {
		t.Error(got)
	}
	if got := PolicyName(svcEP("shop", strings.Repeat("a", 260))); len(got) > 253 {
		t.Error(len(got))
	}
}

func TestUnselectablePeersAndSubjects(t *testing.T) {
	inv := fixture()
	inv.Workloads = append(inv.Workloads,
		&netpol.Workload{Namespace: "shop", Kind: "DaemonSet", Name: "node-exporter", HostNetwork: true, Labels: map[string]string{"app": "node-exporter"}},
		&netpol.Workload{Namespace: "shop", Kind: "Deployment", Name: "web-canary", Labels: map[string]string{"app": "web", "tier": "frontend", "track": "canary"}})
	web := we("shop", "Deployment", "web")
	node := flow.Endpoint{Kind: flow.EndpointNode, Name: "node-1"}
	hostnet := we("shop", "DaemonSet", "node-exporter")
	icmp := edge(web, we("shop", "Pod", "debug"), flow.ProtocolUnknown, 0, nil)
	s, err := Suggest(input(inv, web, edge(web, node, tcp, 10250, nil), edge(web, hostnet, tcp, 9100, nil), icmp), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Unselectable) != 3 || len(s.Included) != 0 {
		t.Errorf("unselectable %v included %v", s.Unselectable, s.Included)
	}
	if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, "also selects shop/web-canary[Deployment]") }) {
		t.Errorf("no co-selection warning: %v", s.Warnings)
	}
	if _, err := Suggest(input(inv, hostnet), Choices{}); !errors.Is(err, ErrHostNetwork) {
		t.Errorf("host-network subject: err %v", err)
	}
	if errs := netpol.Validate(s.Policy); len(errs) > 0 {
		t.Error(errs)
	}
}

// TestRowsDeduplicated: edges that make the same row (an address seen as
// IPv4 and as IPv4-mapped IPv6; a client reaching the subject directly and
// through its Service) are one row; an address seen with two classes is
// two, in the order first seen; rows come sorted.
func TestRowsDeduplicated(t *testing.T) {
	inv := fixture()
	web := we("shop", "Deployment", "web")
	agent := we("shop", "DaemonSet", "log-agent")
	var svc flow.Endpoint
	if s := NewLookup(inv).ServicesSelecting(web); len(s) > 0 {
		svc = s[0]
	}
	if svc == (flow.Endpoint{}) {
		t.Fatal("the fixture has no Service selecting web")
	}
	edges := []flow.Edge{
		edge(web, addrEP("203.0.113.7", flow.ClassExternal, ""), tcp, 443, nil),
		edge(web, addrEP("::ffff:203.0.113.7", flow.ClassExternal, ""), tcp, 443, nil),
		edge(web, addrEP("203.0.113.7", flow.ClassAliased, "proxies"), tcp, 443, nil),
		edge(agent, web, tcp, 8080, nil),
		edge(agent, svc, tcp, 8080, nil),
		edge(web, we("shop", "StatefulSet", "db"), tcp, 5432, nil),
	}
	s, err := Suggest(input(inv, web, edges...), Choices{})
	if err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(s.Included, s.Excluded, s.Unselectable)
	var egress443, agentRows int
	for _, r := range all {
		if r.Direction == netpol.Egress && r.Port == 443 {
			egress443++
		}
		if r.Peer == agent {
			agentRows++
		}
	}
	if egress443 != 2 || agentRows != 1 {
		t.Errorf("rows %v: %d rows to 203.0.113.7:443 (want 2: two classes), %d rows from log-agent (want 1)", all, egress443, agentRows)
	}
	if ex := s.Excluded; len(ex) != 2 || ex[0].Peer.Class != flow.ClassExternal || ex[1].Peer.Class != flow.ClassAliased {
		t.Errorf("excluded %v: want the external then the aliased address", ex)
	}
	for _, list := range [][]Row{s.Included, s.Excluded} {
		if !slices.IsSortedFunc(list, func(a, b Row) int {
			return cmp.Or(strings.Compare(string(a.Direction), string(b.Direction)), strings.Compare(a.Peer.String(), b.Peer.String()))
		}) {
			t.Errorf("rows not sorted: %v", list)
		}
	}
}

// Rows whose peers only ipBlocks can meet (an address, a host-network
// workload: its node's address to policies) are checked against the
// ipBlock rules alone; the result is the whole policy's, with a manual
// CIDR rule covering them and without.
func TestCheckNonPodPeers(t *testing.T) {
	inv := fixture()
	node := wl("monitoring", "DaemonSet", "node-exporter", "192.168.0.20", map[string]string{"app": "node-exporter"})
	node.HostNetwork = true
	inv.Workloads = append(inv.Workloads, node)
	inv.Namespaces = append(inv.Namespaces, ns("monitoring"))
	web := we("shop", "Deployment", "web")
	edges := []flow.Edge{
		edge(web, we("monitoring", "DaemonSet", "node-exporter"), tcp, 9100, nil),
		edge(web, addrEP("192.168.0.20", flow.ClassInternal, ""), tcp, 9100, nil),
		edge(web, addrEP("203.0.113.7", flow.ClassExternal, ""), tcp, 443, nil),
		edge(web, we("shop", "StatefulSet", "db"), tcp, 5432, nil),
	}
	for _, ch := range []Choices{
		{},
		{AllowEgressCIDRs: []CIDRRule{{CIDR: netip.MustParsePrefix("192.168.0.0/24"), Protocol: tcp, Port: 9100}}},
		{AllowEgressCIDRs: []CIDRRule{{CIDR: netip.MustParsePrefix("0.0.0.0/0")}}},
	} {
		in := input(inv, web, edges...)
		in.SkipSelfCheck = true // as the audit: only the excluded and unselectable rows are checked
		got, err := Suggest(in, ch)
		if err != nil {
			t.Fatal(err)
		}
		in.fullCheck = true
		want, err := Suggest(in, ch)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.StillAllowed, want.StillAllowed) || !slices.Equal(got.Warnings, want.Warnings) {
			t.Errorf("choices %+v: still allowed %v, with the whole policy checked %v", ch, got.StillAllowed, want.StillAllowed)
		}
		if len(ch.AllowEgressCIDRs) > 0 && len(got.StillAllowed) == 0 {
			t.Errorf("choices %+v: nothing still allowed under a CIDR rule covering excluded rows", ch)
		}
	}
}
