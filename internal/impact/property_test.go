package impact_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// genWorld is a generated cluster with observed edges, and what the brute
// force needs to judge them.
type genWorld struct {
	cluster    impact.Cluster
	candidates []*networkingv1.NetworkPolicy // policies to create or update with
	edges      []flow.Edge
	workloads  map[flow.Endpoint]*netpol.Workload
}

func generateWorld(seed uint64, namespaces, workloads, policies, edges int) *genWorld {
	nss, wls, pols := netpoltest.GenerateCluster(seed, namespaces, workloads, policies)
	// The same seed with more policies: the same namespaces, workloads and
	// first policies, then more of them.
	_, _, more := netpoltest.GenerateCluster(seed, namespaces, workloads, 3*policies)
	r := rand.New(rand.NewPCG(seed, 7))
	w := &genWorld{candidates: more[policies:], workloads: map[flow.Endpoint]*netpol.Workload{}}
	w.cluster = impact.Cluster{Namespaces: nss, Workloads: wls, Policies: pols, Options: netpol.DefaultOptions(),
		NodeAddrs: map[string]netip.Addr{"node-0": netip.MustParseAddr("192.168.200.1")}}
	if r.IntN(3) == 0 {
		w.cluster.Options.IPBlockMatchesPods = false
	}
	for _, wl := range wls {
		w.workloads[flow.WorkloadEndpoint(wl.Namespace, wl.Kind, wl.Name)] = wl
	}
	for i, app := range []string{"api", "web", "postgres", "billing", "nothing"} {
		ns := nss[i%len(nss)].Name
		w.cluster.Services = append(w.cluster.Services, impact.Service{Namespace: ns, Name: app, Selector: map[string]string{"app": app}})
	}
	endpoint := func(ns string) flow.Endpoint {
		switch n := r.IntN(40); {
		case n < 3:
			return flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.AddrFrom4([4]byte{byte(1 + r.IntN(200)), byte(r.IntN(256)), 0, byte(1 + r.IntN(254))})}
		case n < 5: // inside the pod range
			return flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(2)), byte(1 + r.IntN(254))})}
		case n < 6:
			return flow.Endpoint{Kind: flow.EndpointNode, Name: fmt.Sprintf("node-%d", r.IntN(2))}
		case n < 7:
			return flow.WorkloadEndpoint(ns, "Deployment", "gone")
		case n < 9:
			s := w.cluster.Services[r.IntN(len(w.cluster.Services))]
			return flow.WorkloadEndpoint(s.Namespace, impact.ServiceKind, s.Name)
		}
		var in []*netpol.Workload
		for _, wl := range wls {
			if ns == "" || wl.Namespace == ns {
				in = append(in, wl)
			}
		}
		if len(in) == 0 {
			in = wls
		}
		wl := in[r.IntN(len(in))]
		return flow.WorkloadEndpoint(wl.Namespace, wl.Kind, wl.Name)
	}
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8050, 9090, 9187, 50051, 31000}
	protos := []flow.Protocol{flow.ProtocolTCP, flow.ProtocolTCP, flow.ProtocolTCP, flow.ProtocolUDP, flow.ProtocolSCTP, flow.ProtocolUnknown}
	seenKeys := map[flow.EdgeKey]bool{}
	for len(w.edges) < edges {
		// Most edges touch a few namespaces, so that changes there matter.
		ns := nss[r.IntN(min(3, len(nss)))].Name
		src, dst := endpoint(""), endpoint(ns)
		if r.IntN(2) == 0 {
			src, dst = dst, src
		}
		e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: protos[r.IntN(len(protos))], Port: ports[r.IntN(len(ports))]}}
		if seenKeys[e.EdgeKey] {
			continue
		}
		seenKeys[e.EdgeKey] = true
		e.Count = 1 + uint64(r.IntN(1000))
		w.edges = append(w.edges, e)
	}
	return w
}

// bruteForce judges every edge with two whole indexes and returns the
// classes as "src -> dst proto/port" lists. affected says which judged
// connections count for StaysRed.
func (w *genWorld) bruteForce(t *testing.T, before, after *netpol.Index, affected func(src, dst netpol.Endpoint) bool) (red, green, staysRed []string) {
	t.Helper()
	resolve := func(ep flow.Endpoint) ([]netpol.Endpoint, []flow.Endpoint) {
		switch ep.Kind {
		case flow.EndpointAddress:
			return []netpol.Endpoint{netpol.AddrEndpoint(ep.Addr)}, []flow.Endpoint{ep}
		case flow.EndpointNode:
			if a, ok := w.cluster.NodeAddrs[ep.Name]; ok {
				return []netpol.Endpoint{netpol.AddrEndpoint(a)}, []flow.Endpoint{ep}
			}
			return []netpol.Endpoint{{}}, []flow.Endpoint{ep}
		}
		if ep.WorkloadKind == impact.ServiceKind {
			var eps []netpol.Endpoint
			var fes []flow.Endpoint
			for _, s := range w.cluster.Services {
				if s.Namespace != ep.Namespace || s.Name != ep.Name {
					continue
				}
				for _, wl := range w.cluster.Workloads {
					if wl.Namespace == s.Namespace && labels.SelectorFromSet(s.Selector).Matches(labels.Set(wl.Labels)) {
						eps = append(eps, netpol.WorkloadEndpoint(wl))
						fes = append(fes, flow.WorkloadEndpoint(wl.Namespace, wl.Kind, wl.Name))
					}
				}
			}
			return eps, fes
		}
		if wl := w.workloads[ep]; wl != nil {
			return []netpol.Endpoint{netpol.WorkloadEndpoint(wl)}, []flow.Endpoint{ep}
		}
		return nil, nil
	}
	for _, e := range w.edges {
		proto := map[flow.Protocol]string{flow.ProtocolTCP: "TCP", flow.ProtocolUDP: "UDP", flow.ProtocolSCTP: "SCTP"}[e.Protocol]
		if proto == "" {
			continue
		}
		srcs, srcNames := resolve(e.Src)
		dsts, dstNames := resolve(e.Dst)
		for i, s := range srcs {
			for j, d := range dsts {
				b := before.Verdict(s, d, corev1.Protocol(proto), int32(e.Port))
				a := after.Verdict(s, d, corev1.Protocol(proto), int32(e.Port))
				name := fmt.Sprintf("%s -> %s %s/%d", srcNames[i], dstNames[j], proto, e.Port)
				switch {
				case b && !a:
					red = append(red, name)
				case !b && a:
					green = append(green, name)
				case !b && !a && affected(s, d):
					staysRed = append(staysRed, name)
				}
			}
		}
	}
	slices.Sort(red)
	slices.Sort(green)
	slices.Sort(staysRed)
	return red, green, staysRed
}

func sortedNames(cs []impact.Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s -> %s %s/%d", c.Src, c.Dst, c.Protocol, c.Port)
	}
	slices.Sort(out)
	return out
}

func TestPolicyChangeMatchesBruteForce(t *testing.T) {
	var totals [5]int
	defer func() {
		t.Logf("turned red %d, green %d, stayed red %d of %d evaluated; %d unknown", totals[0], totals[1], totals[2], totals[3], totals[4])
	}()
	for seed := range uint64(60) {
		w := generateWorld(seed, 2+int(seed%5), 40+int(seed%4)*20, 10+int(seed%3)*15, 600)
		a, err := impact.NewAnalyzer(w.cluster, impact.Options{MaxExplained: 3})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 11))
		for round := range 8 {
			var ch impact.Change
			pols := w.cluster.Policies
			existing := pols[r.IntN(len(pols))]
			candidate := w.candidates[r.IntN(len(w.candidates))].DeepCopy()
			switch r.IntN(3) {
			case 0:
				ch = impact.Change{Operation: impact.Create, New: candidate}
			case 1:
				candidate.ObjectMeta = *existing.ObjectMeta.DeepCopy()
				ch = impact.Change{Operation: impact.Update, Old: existing, New: candidate}
			default:
				ch = impact.Change{Operation: impact.Delete, Old: existing}
			}
			target := ch.New
			if target == nil {
				target = ch.Old
			}
			proposed := slices.DeleteFunc(slices.Clone(pols), func(p *networkingv1.NetworkPolicy) bool {
				return p.Namespace == target.Namespace && p.Name == target.Name
			})
			if ch.New != nil {
				proposed = append(proposed, ch.New)
			}
			before, err := netpol.NewIndex(w.cluster.Namespaces, w.cluster.Workloads, pols, w.cluster.Options)
			if err != nil {
				t.Fatal(err)
			}
			after, err := netpol.NewIndex(w.cluster.Namespaces, w.cluster.Workloads, proposed, w.cluster.Options)
			if err != nil {
				t.Fatal(err)
			}
			var selectors []func(*netpol.Workload) (ingress, egress bool)
			for _, p := range []*networkingv1.NetworkPolicy{ch.Old, ch.New} {
				if p == nil {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
				if err != nil {
					t.Fatal(err)
				}
				ing, egr := netpol.PolicyTypes(p)
				ns := p.Namespace
				selectors = append(selectors, func(wl *netpol.Workload) (bool, bool) {
					if wl == nil || wl.HostNetwork || wl.Namespace != ns || !sel.Matches(labels.Set(wl.Labels)) {
						return false, false
					}
					return ing, egr
				})
			}
			affected := func(src, dst netpol.Endpoint) bool {
				for _, s := range selectors {
					if ing, _ := s(dst.Workload); ing {
						return true
					}
					if _, egr := s(src.Workload); egr {
						return true
					}
				}
				return false
			}
			red, green, staysRed := w.bruteForce(t, before, after, affected)

			imp, err := a.PolicyChange(context.Background(), ch, w.edges)
			if err != nil {
				t.Fatalf("seed %d round %d: %v", seed, round, err)
			}
			what := fmt.Sprintf("seed %d round %d: %s %s/%s", seed, round, ch.Operation, target.Namespace, target.Name)
			check(t, what+" TurnsRed", sortedNames(imp.TurnsRed), red)
			check(t, what+" TurnsGreen", sortedNames(imp.TurnsGreen), green)
			check(t, what+" StaysRed", sortedNames(imp.StaysRed), staysRed)
			totals[0] += len(red)
			totals[1] += len(green)
			totals[2] += len(staysRed)
			totals[3] += imp.Evaluated
			if imp.Unknown {
				totals[4]++
			}
			for _, c := range slices.Concat(imp.TurnsRed, imp.StaysRed)[:min(3, len(imp.TurnsRed)+len(imp.StaysRed))] {
				if c.Explanation == nil || c.Explanation.Allowed {
					t.Errorf("%s: %s -> %s: explanation does not deny it: %+v", what, c.Src, c.Dst, c.Explanation)
				}
			}
			for _, c := range imp.TurnsGreen[:min(3, len(imp.TurnsGreen))] {
				if c.Explanation == nil || c.Explanation.Allowed {
					t.Errorf("%s: %s -> %s: explanation of the current set does not deny it", what, c.Src, c.Dst)
				}
			}
		}
	}
}

func TestNamespaceRelabelMatchesBruteForce(t *testing.T) {
	var totals [4]int
	defer func() {
		t.Logf("turned red %d, green %d, stayed red %d of %d evaluated", totals[0], totals[1], totals[2], totals[3])
	}()
	teams := []string{"payments", "search", "identity", "platform", "data", "frontend", "ml", "ops"}
	envs := []string{"prod", "staging", "dev"}
	for seed := range uint64(60) {
		w := generateWorld(seed, 3+int(seed%5), 60, 20+int(seed%3)*15, 600)
		a, err := impact.NewAnalyzer(w.cluster, impact.Options{MaxExplained: 3})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 13))
		for round := range 6 {
			ns := w.cluster.Namespaces[r.IntN(min(3, len(w.cluster.Namespaces)))]
			newLabels := map[string]string{"team": teams[r.IntN(len(teams))]}
			if r.IntN(2) == 0 {
				newLabels["env"] = envs[r.IntN(len(envs))]
			}
			relabelled := slices.Clone(w.cluster.Namespaces)
			for i := range relabelled {
				if relabelled[i].Name == ns.Name {
					relabelled[i].Labels = newLabels
				}
			}
			before, err := netpol.NewIndex(w.cluster.Namespaces, w.cluster.Workloads, w.cluster.Policies, w.cluster.Options)
			if err != nil {
				t.Fatal(err)
			}
			after, err := netpol.NewIndex(relabelled, w.cluster.Workloads, w.cluster.Policies, w.cluster.Options)
			if err != nil {
				t.Fatal(err)
			}
			imp, err := a.NamespaceRelabel(context.Background(), impact.NamespaceRelabel{Name: ns.Name, NewLabels: newLabels}, w.edges)
			if err != nil {
				t.Fatal(err)
			}
			sensitive := map[string]bool{}
			for _, p := range imp.Policies {
				sensitive[strings.SplitN(p, "/", 2)[0]] = true
			}
			pod := func(e netpol.Endpoint) bool { return e.Workload != nil && !e.Workload.HostNetwork }
			affected := func(src, dst netpol.Endpoint) bool {
				return pod(src) && pod(dst) &&
					(src.Workload.Namespace == ns.Name && sensitive[dst.Workload.Namespace] ||
						dst.Workload.Namespace == ns.Name && sensitive[src.Workload.Namespace])
			}
			red, green, staysRed := w.bruteForce(t, before, after, affected)
			what := fmt.Sprintf("seed %d round %d: relabel %s %v -> %v", seed, round, ns.Name, ns.Labels, newLabels)
			check(t, what+" TurnsRed", sortedNames(imp.TurnsRed), red)
			check(t, what+" TurnsGreen", sortedNames(imp.TurnsGreen), green)
			check(t, what+" StaysRed", sortedNames(imp.StaysRed), staysRed)
			totals[0] += len(red)
			totals[1] += len(green)
			totals[2] += len(staysRed)
			totals[3] += imp.Evaluated
		}
	}
}
