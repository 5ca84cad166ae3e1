package suggest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// conn is one observed connection between two workloads, or from a
// workload to an address, as the property checks it: S's egress row and
// D's ingress row (D is each backend of a Service).
type propConn struct {
	src, dst   *netpol.Workload // dst nil for an address
	addr       netip.Addr
	proto      flow.Protocol
	port       int32 // the port the destination pod receives
	egressRow  Row   // in src's table
	ingressRow Row   // in dst's table
	viaService bool
}

// TestPropertyAppliedSuggestions is the defining property. For generated
// clusters with random observed connections (among workloads, through
// Services, to addresses) and random exclusions, every workload's
// suggestion is applied, alone with the others, and the engine must say:
//
//   - egress at the source is allowed when the source's table includes the
//     row (and it could be expressed), and denied when it excludes it or it
//     is unselectable — unless the source's suggestion lists it in
//     StillAllowed (a selector also picks the excluded peer, DNS ...), or
//     another suggestion's podSelector also selects the source's pods (then
//     that policy's allows count too: not asserted);
//   - ingress at the destination likewise, with the destination's table.
//
// A connection is allowed iff both sides allow it, so a connection excluded
// at either side is denied (the same exceptions applying at that side).
func TestPropertyAppliedSuggestions(t *testing.T) {
	for _, unique := range []bool{false, true} {
		t.Run(fmt.Sprintf("unique-labels=%v", unique), func(t *testing.T) {
			var asserted, skipped, strict int
			for seed := uint64(1); seed <= 40; seed++ {
				a, s, st := checkProperty(t, seed, unique)
				asserted, skipped, strict = asserted+a, skipped+s, strict+st
			}
			t.Logf("asserted %d sides, skipped %d (StillAllowed or co-selected), %d strict", asserted, skipped, strict)
			if asserted < 1000 || unique && strict < 1000 {
				t.Errorf("only %d sides asserted (%d strict): the generator makes too few connections", asserted, strict)
			}
		})
	}
}

// checkProperty runs one generated cluster. With unique, every workload
// gets a label of its own, so that selectors pick exactly the workloads
// rows name (a Service's selector: its backends) and the expected verdict
// of every side is computed independently of the suggestion's report: a
// side allows a connection iff an included row of that side's table stands
// for the same (peer, protocol, destination port), or it is DNS.
func checkProperty(t *testing.T, seed uint64, unique bool) (asserted, skipped, strict int) {
	r := rand.New(rand.NewPCG(seed, 42))
	nss, wls, _ := netpoltest.GenerateCluster(seed, 4, 36, 0)
	if unique {
		for _, w := range wls {
			w.Labels["wid"] = w.Name
		}
	}
	key := netpol.NamespaceNameLabel
	if seed%3 == 0 {
		key = "team"
		delete(nss[len(nss)-1].Labels, "team") // seed use case 5
	}
	inv := &inventory.Inventory{Namespaces: nss, Workloads: wls}
	inv.Services = append(inv.Services, inventory.Service{Namespace: "kube-system", Name: "kube-dns", Selector: map[string]string{"k8s-app": "kube-dns"},
		Ports: []inventory.ServicePort{{Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)}, {Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromString("dns-tcp")}}})
	var pods []*netpol.Workload
	for _, w := range wls {
		if !w.HostNetwork {
			pods = append(pods, w)
		}
	}
	// Services: one per app with an "http" port in some namespaces, named
	// or numeric targetPort.
	type svcInfo struct {
		svc      inventory.Service
		backends []*netpol.Workload
	}
	var svcs []svcInfo
	seen := map[string]bool{}
	for _, w := range pods {
		k := w.Namespace + "/" + w.Labels["app"]
		if seen[k] || w.Labels["tier"] == "data" || w.Name == "coredns" || r.IntN(2) == 0 {
			continue
		}
		seen[k] = true
		sp := inventory.ServicePort{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}
		if r.IntN(2) == 0 {
			sp.TargetPort = intstr.FromInt32(w.Ports[0].Port)
		}
		s := inventory.Service{Namespace: w.Namespace, Name: "svc-" + w.Labels["app"], Selector: map[string]string{"app": w.Labels["app"]}, Ports: []inventory.ServicePort{sp}}
		var backends []*netpol.Workload
		for _, o := range pods {
			if o.Namespace == s.Namespace && selects(s.Selector, o.Labels) {
				backends = append(backends, o)
			}
		}
		inv.Services = append(inv.Services, s)
		svcs = append(svcs, svcInfo{s, backends})
	}
	ep := func(w *netpol.Workload) flow.Endpoint { return flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name) }
	proto := func(p corev1.Protocol) flow.Protocol { return flow.ParseProtocol(string(defaultTCP(p))) }

	var conns []propConn
	edges := map[flow.Endpoint][]flow.Edge{} // by workload: its ingress and egress edges
	addEdge := func(e flow.Edge, owners ...flow.Endpoint) {
		for _, o := range owners {
			if !slices.ContainsFunc(edges[o], func(x flow.Edge) bool { return x.EdgeKey == e.EdgeKey }) {
				edges[o] = append(edges[o], e)
			}
		}
	}
	for range 60 {
		src := pods[r.IntN(len(pods))]
		switch k := r.IntN(10); {
		case k < 6: // direct, to a declared port or a random one
			dst := pods[r.IntN(len(pods))]
			if dst == src {
				continue
			}
			p, port := flow.ProtocolTCP, int32(1024+r.IntN(100))
			if len(dst.Ports) > 0 && r.IntN(4) != 0 {
				cp := dst.Ports[r.IntN(len(dst.Ports))]
				p, port = proto(cp.Protocol), cp.Port
			}
			e := edge(ep(src), ep(dst), p, uint16(port), nil)
			addEdge(e, ep(src), ep(dst))
			conns = append(conns, propConn{src: src, dst: dst, proto: p, port: port,
				egressRow:  Row{netpol.Egress, ep(dst), p, uint16(port)},
				ingressRow: Row{netpol.Ingress, ep(src), p, uint16(port)}})
		case k < 8 && len(svcs) > 0: // through a Service, as the Service endpoint
			si := svcs[r.IntN(len(svcs))]
			sep := inventory.ServiceEndpoint(si.svc.Namespace, si.svc.Name)
			var owners []flow.Endpoint
			for _, b := range si.backends {
				owners = append(owners, ep(b))
			}
			if slices.Contains(si.backends, src) {
				continue
			}
			e := edge(ep(src), sep, flow.ProtocolTCP, 80, &flow.ServiceRef{Namespace: si.svc.Namespace, Name: si.svc.Name})
			addEdge(e, append(owners, ep(src))...)
			for _, b := range si.backends {
				port := int32(0)
				tp := si.svc.Ports[0].TargetPort
				if tp.Type == intstr.Int {
					port = tp.IntVal
				} else {
					for _, cp := range b.Ports {
						if cp.Name == tp.StrVal {
							port = cp.Port
						}
					}
				}
				if port == 0 {
					continue // the backend does not declare the port: no connection
				}
				conns = append(conns, propConn{src: src, dst: b, proto: flow.ProtocolTCP, port: port, viaService: true,
					egressRow:  Row{netpol.Egress, sep, flow.ProtocolTCP, 80},
					ingressRow: Row{netpol.Ingress, ep(src), flow.ProtocolTCP, 80}})
			}
		default: // to an address
			a := netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(8))})
			e := edge(ep(src), flow.Endpoint{Kind: flow.EndpointAddress, Addr: a, Class: flow.ClassExternal}, flow.ProtocolTCP, 443, nil)
			addEdge(e, ep(src))
			conns = append(conns, propConn{src: src, addr: a, proto: flow.ProtocolTCP, port: 443,
				egressRow: Row{netpol.Egress, e.Dst, flow.ProtocolTCP, 443}})
		}
	}

	// Suggest for every workload, excluding some rows, including some
	// addresses.
	suggestions := map[*netpol.Workload]Suggestion{}
	choices := map[*netpol.Workload]Choices{}
	var policies []*networkingv1.NetworkPolicy
	// One Lookup for all, as the audit has: the peers it builds once are
	// shared by the policies.
	lookup := NewLookup(inv)
	for _, w := range pods {
		in := Input{Subject: ep(w), Inventory: inv, Window: testWindow, Now: testNow, Source: "property", Lookup: lookup}
		for _, e := range edges[ep(w)] {
			if e.Src == ep(w) {
				in.Egress = append(in.Egress, e)
			} else {
				in.Ingress = append(in.Ingress, e)
			}
		}
		ch := Choices{NamespaceLabelKey: key, NamedPorts: r.IntN(2) == 0}
		for _, e := range in.Egress {
			if r.IntN(4) == 0 {
				ch.Exclude = append(ch.Exclude, Row{netpol.Egress, e.Dst, e.Protocol, e.Port})
			}
			if e.Dst.Kind == flow.EndpointAddress && r.IntN(2) == 0 {
				ch.IncludeAddresses = append(ch.IncludeAddresses, e.Dst.Addr)
			}
		}
		for _, e := range in.Ingress {
			if r.IntN(4) == 0 {
				ch.Exclude = append(ch.Exclude, Row{netpol.Ingress, e.Src, e.Protocol, e.Port})
			}
		}
		s, err := Suggest(in, ch)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// The tables come sorted: direction, peer as written, protocol, port.
		for _, list := range [][]Row{s.Included, s.Excluded, s.Unselectable} {
			if !slices.IsSortedFunc(list, func(a, b Row) int {
				return cmp.Or(strings.Compare(string(a.Direction), string(b.Direction)), strings.Compare(a.Peer.String(), b.Peer.String()),
					cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
			}) {
				t.Fatalf("seed %d: %s: rows not sorted: %v", seed, w.Key(), list)
			}
		}
		// The same edges by pointer make the same suggestion.
		byRef := in
		byRef.Ingress, byRef.Egress = nil, nil
		for i := range in.Ingress {
			byRef.IngressRefs = append(byRef.IngressRefs, &in.Ingress[i])
		}
		for i := range in.Egress {
			byRef.EgressRefs = append(byRef.EgressRefs, &in.Egress[i])
		}
		if got, err := Suggest(byRef, ch); err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("seed %d: %s: by pointer %+v (%v), by value %+v", seed, w.Key(), got, err, s)
		}
		// And with the peers resolved by the caller.
		for _, e := range byRef.IngressRefs {
			byRef.IngressPeers = append(byRef.IngressPeers, lookup.Peer(e.Src))
		}
		for _, e := range byRef.EgressRefs {
			byRef.EgressPeers = append(byRef.EgressPeers, lookup.Peer(e.Dst))
		}
		if got, err := Suggest(byRef, ch); err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("seed %d: %s: with peers given %+v (%v), by value %+v", seed, w.Key(), got, err, s)
		}
		// The check compiles only the directions it asks about; with the
		// whole policy it must come to the same rows.
		in.fullCheck = true
		full, err := Suggest(in, ch)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.Equal(s.StillAllowed, full.StillAllowed) || !slices.Equal(s.Warnings, full.Warnings) {
			t.Errorf("seed %d: %s: still allowed %v, with the whole policy checked %v", seed, w.Key(), s.StillAllowed, full.StillAllowed)
		}
		suggestions[w] = s
		choices[w] = ch
		policies = append(policies, s.Policy)
	}
	// The Lookup writes the shared peers' YAML once and copies it after:
	// the same bytes as the policy written afresh, first time and second.
	for _, p := range policies {
		want, err := YAMLString(p)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, err := lookup.YAMLString(p); err != nil || got != want {
				t.Fatalf("seed %d: %s: the Lookup writes (%v)\n%s\nwant\n%s", seed, p.Name, err, got, want)
			}
		}
	}
	ix, err := netpol.NewIndex(nss, wls, policies, netpol.DefaultOptions())
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	// coSelected: pods some other workload's suggestion selects too.
	coSelected := map[*netpol.Workload]bool{}
	for owner, s := range suggestions {
		for _, w := range pods {
			if w != owner && w.Namespace == s.Policy.Namespace && selects(s.Policy.Spec.PodSelector.MatchLabels, w.Labels) {
				coSelected[w] = true
			}
		}
	}
	// side checks one side: want allowed iff the row is included.
	side := func(c propConn, w *netpol.Workload, row Row, got bool, what string) {
		s, ch := suggestions[w], choices[w]
		// What the test chose decides, not what the suggestion reports.
		excluded := slices.Contains(ch.Exclude, row) ||
			row.Peer.Kind == flow.EndpointAddress && !slices.Contains(ch.IncludeAddresses, row.Peer.Addr)
		if excluded != hasRow(s.Excluded, row) {
			t.Errorf("seed %d: %s: row %s excluded by choice %v, reported excluded %v", seed, c.String(), row, excluded, !excluded)
		}
		if hasRow(s.Unselectable, row) {
			if v, ok := nsLabels(nss, row.Peer.Namespace)[key]; ok || row.Peer.Namespace == w.Namespace {
				t.Errorf("seed %d: %s: row %s unselectable, yet its namespace has %s=%s", seed, c.String(), row, key, v)
			}
		}
		switch {
		case !excluded && hasRow(s.Included, row):
			asserted++
			if !got {
				t.Errorf("seed %d: %s: %s at %s: included row %s denied", seed, c.String(), what, w.Key(), row)
			}
		case !hasRow(s.Excluded, row) && !hasRow(s.Unselectable, row):
			t.Errorf("seed %d: %s: row %s missing from %s's tables", seed, c.String(), row, w.Key())
		case hasRow(s.StillAllowed, row) || coSelected[w]:
			skipped++
		default:
			asserted++
			if got {
				t.Errorf("seed %d: %s: %s at %s: excluded row %s allowed\n%s", seed, c.String(), what, w.Key(), row, must(YAML(s.Policy)))
			}
		}
	}
	for _, c := range conns {
		src := netpol.WorkloadEndpoint(c.src)
		dst := netpol.AddrEndpoint(c.addr)
		if c.dst != nil {
			dst = netpol.WorkloadEndpoint(c.dst)
		}
		pr, _ := c.proto.Kubernetes()
		ex := ix.Explain(src, dst, pr, c.port)
		if ex.Self {
			continue
		}
		side(c, c.src, c.egressRow, ex.Egress.Allowed, "egress")
		if c.dst != nil {
			side(c, c.dst, c.ingressRow, ex.Ingress.Allowed, "ingress")
		}
		if unique {
			isDNS := c.dst != nil && c.dst.Name == "coredns" && c.port == 53
			if want := isDNS || covered(c, conns, choices, suggestions, netpol.Egress); ex.Egress.Allowed != want {
				t.Errorf("seed %d: %s: egress allowed %v, want %v (strict)\n%s", seed, c.String(), ex.Egress.Allowed, want, must(YAML(suggestions[c.src].Policy)))
			}
			strict++
			if c.dst != nil {
				if want := covered(c, conns, choices, suggestions, netpol.Ingress); ex.Ingress.Allowed != want {
					t.Errorf("seed %d: %s: ingress allowed %v, want %v (strict)\n%s", seed, c.String(), ex.Ingress.Allowed, want, must(YAML(suggestions[c.dst].Policy)))
				}
				strict++
			}
		}
		// The whole connection: allowed iff both sides allow.
		if ex.Allowed != (ex.Egress.Allowed && ex.Ingress.Allowed) {
			t.Errorf("seed %d: %s: verdict is not the AND of the sides", seed, c.String())
		}
	}
	return asserted, skipped, strict
}

// covered reports whether some observed connection with the same source,
// destination, protocol and port has its row included, by the test's own
// choices, at the side's workload (and expressible: not Unselectable).
func covered(c propConn, conns []propConn, choices map[*netpol.Workload]Choices, sugs map[*netpol.Workload]Suggestion, dir netpol.Direction) bool {
	for _, o := range conns {
		if o.src != c.src || o.dst != c.dst || o.addr != c.addr || o.proto != c.proto || o.port != c.port {
			continue
		}
		w, row := o.src, o.egressRow
		if dir == netpol.Ingress {
			w, row = o.dst, o.ingressRow
		}
		ch := choices[w]
		if slices.Contains(ch.Exclude, row) || hasRow(sugs[w].Unselectable, row) {
			continue
		}
		if row.Peer.Kind == flow.EndpointAddress && !slices.Contains(ch.IncludeAddresses, row.Peer.Addr) {
			continue
		}
		return true
	}
	return false
}

func nsLabels(nss []netpol.Namespace, name string) map[string]string {
	for _, n := range nss {
		if n.Name == name {
			return n.Labels
		}
	}
	return nil
}

func (c propConn) String() string {
	d := c.addr.String()
	if c.dst != nil {
		d = c.dst.Key()
	}
	return fmt.Sprintf("%s→%s %s/%d (via Service %v)", c.src.Key(), d, c.proto, c.port, c.viaService)
}

func defaultTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
