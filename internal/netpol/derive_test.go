package netpol_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// The equivalence test's size: clusters generated, namespace swaps per
// cluster (each also derived once more from the derived index), and
// connections judged per swap.
const (
	deriveClusters = 100
	deriveSwaps    = 6
	deriveConns    = 1000
)

// TestWithNamespacePoliciesMatchesNewIndex checks that an index derived
// by replacing one namespace's policies answers every question exactly as
// NewIndex over the same policies does, over many generated clusters and
// random swaps (the namespace's policies replaced by a subset of them,
// new generated ones, another namespace's moved over, or none; a namespace
// no workload lives in), derived again from the derived index, and that
// the base index is left as it was.
func TestWithNamespacePoliciesMatchesNewIndex(t *testing.T) {
	swaps := 0
	for seed := uint64(1); seed <= deriveClusters; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		nsCount, wlCount, polCount := 2+r.IntN(12), 20+r.IntN(200), 5+r.IntN(60)
		nss, wls, pols := netpoltest.GenerateCluster(seed, nsCount, wlCount, polCount)
		_, _, more := netpoltest.GenerateCluster(seed, nsCount, wlCount, 3*polCount)
		candidates := more[polCount:]
		opts := netpol.DefaultOptions()
		if seed%3 == 0 {
			opts.IPBlockMatchesPods = false
		}
		base, err := netpol.NewIndex(nss, wls, pols, opts)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		conns := genConns(r, wls, deriveConns)
		// Warm some of the base's lazily computed caches, so that the
		// derived index shares computed ones as well as fresh ones.
		for _, c := range conns[:len(conns)/2] {
			base.Verdict(c.src, c.dst, c.proto, c.port)
		}
		want := judgeAll(base, conns)

		current := pols
		ix := base
		for swap := range deriveSwaps {
			ns := nss[r.IntN(len(nss))].Name
			if r.IntN(8) == 0 {
				ns = fmt.Sprintf("empty-%d", swap) // no workloads, not listed
			}
			next := swapPolicies(r, current, candidates, ns)
			name := fmt.Sprintf("seed %d swap %d (%s, %d policies)", seed, swap, ns, len(next))

			derived, err := ix.WithNamespacePolicies(ns, next)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			all := slices.Concat(slices.DeleteFunc(slices.Clone(current), func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns }), next)
			compareWithFresh(t, name, derived, nss, wls, all, opts, base, conns)
			current, ix = all, derived
			swaps++
		}
		if got := judgeAll(base, conns); !slices.Equal(got, want) {
			t.Fatalf("seed %d: the base index changed after deriving from it", seed)
		}
	}
	t.Logf("%d clusters, %d swaps, %d connections each", deriveClusters, swaps, deriveConns)
}

func TestWithNamespacePoliciesRejects(t *testing.T) {
	nss, wls, pols := netpoltest.GenerateCluster(1, 3, 30, 6)
	ix, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	other := pols[0].DeepCopy()
	other.Namespace = "elsewhere"
	if _, err := ix.WithNamespacePolicies(pols[0].Namespace, []*networkingv1.NetworkPolicy{other}); err == nil {
		t.Error("a policy of another namespace: no error")
	}
	bad := pols[0].DeepCopy()
	bad.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/40"}}}}}
	if _, err := ix.WithNamespacePolicies(bad.Namespace, []*networkingv1.NetworkPolicy{bad}); err == nil {
		t.Error("a policy that does not compile: no error")
	}
}

type conn struct {
	src, dst netpol.Endpoint
	proto    corev1.Protocol
	port     int32
}

// genConns draws connections between workloads (host-network ones
// included), copies of workloads no index was given, pod and external
// addresses.
func genConns(r *rand.Rand, wls []*netpol.Workload, n int) []conn {
	ports := []int32{53, 80, 443, 5432, 6379, 7946, 8080, 8050, 9090, 9187, 50051, 31000}
	protos := []corev1.Protocol{tcp, tcp, tcp, udp, sctp}
	endpoint := func() netpol.Endpoint {
		switch k := r.IntN(20); {
		case k < 2:
			return netpol.AddrEndpoint(netip.AddrFrom4([4]byte{byte(1 + r.IntN(200)), byte(r.IntN(256)), 0, byte(1 + r.IntN(254))}))
		case k < 3:
			return netpol.AddrEndpoint(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + r.IntN(254))}))
		case k < 4:
			w := *wls[r.IntN(len(wls))] // same labels, not registered
			return netpol.WorkloadEndpoint(&w)
		case k < 5:
			w := wls[r.IntN(len(wls))]
			if len(w.IPs) > 0 {
				return netpol.Endpoint{Workload: w, Addr: w.IPs[r.IntN(len(w.IPs))]}
			}
		}
		return netpol.WorkloadEndpoint(wls[r.IntN(len(wls))])
	}
	out := make([]conn, n)
	for i := range out {
		out[i] = conn{src: endpoint(), dst: endpoint(), proto: protos[r.IntN(len(protos))], port: ports[r.IntN(len(ports))]}
		if r.IntN(10) == 0 {
			out[i].dst = out[i].src
		}
	}
	return out
}

// swapPolicies draws the new policies of ns.
func swapPolicies(r *rand.Rand, current, candidates []*networkingv1.NetworkPolicy, ns string) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	move := func(p *networkingv1.NetworkPolicy) {
		q := p.DeepCopy()
		q.Namespace = ns
		q.Name = fmt.Sprintf("%s-%d", p.Name, len(out))
		out = append(out, q)
	}
	switch r.IntN(5) {
	case 0: // none
	case 1: // a subset of the current ones
		for _, p := range current {
			if p.Namespace == ns && r.IntN(2) == 0 {
				out = append(out, p)
			}
		}
	case 2: // another namespace's, moved over
		other := current[r.IntN(len(current))].Namespace
		for _, p := range current {
			if p.Namespace == other {
				move(p)
			}
		}
	default: // the current ones and new ones
		for _, p := range current {
			if p.Namespace == ns && r.IntN(3) > 0 {
				out = append(out, p)
			}
		}
		for range 1 + r.IntN(6) {
			move(candidates[r.IntN(len(candidates))])
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func judgeAll(ix *netpol.Index, conns []conn) []bool {
	out := make([]bool, len(conns))
	for i, c := range conns {
		out[i] = ix.Verdict(c.src, c.dst, c.proto, c.port)
	}
	return out
}

// compareIndexes compares Verdict, VerdictResolved (endpoints resolved by
// the base index of the derivation, and by the index itself), AllowedConns
// and, for some connections, Explain.
// compareWithFresh compares a derived index with one built afresh from
// the namespaces, workloads and all the policies it should hold.
func compareWithFresh(t *testing.T, name string, derived *netpol.Index, nss []netpol.Namespace, wls []*netpol.Workload, all []*networkingv1.NetworkPolicy, opts netpol.Options, base *netpol.Index, conns []conn) {
	t.Helper()
	fresh, err := netpol.NewIndex(nss, wls, all, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got, want := derived.Policies(), fresh.Policies(); !slices.Equal(got, want) {
		t.Fatalf("%s: Policies() = %v, want %v", name, got, want)
	}
	if got, want := derived.ExternalRanges(), fresh.ExternalRanges(); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: ExternalRanges() = %v, want %v", name, got, want)
	}
	compareIndexes(t, name, derived, fresh, base, conns)
}

func compareIndexes(t *testing.T, name string, derived, fresh, base *netpol.Index, conns []conn) {
	t.Helper()
	for i, c := range conns {
		want := fresh.Verdict(c.src, c.dst, c.proto, c.port)
		if got := derived.Verdict(c.src, c.dst, c.proto, c.port); got != want {
			t.Fatalf("%s: Verdict(%s -> %s %s/%d) = %v, want %v", name, c.src, c.dst, c.proto, c.port, got, want)
		}
		for _, by := range []*netpol.Index{base, derived, fresh} {
			src, dst := by.Resolve(c.src), by.Resolve(c.dst)
			if got := derived.VerdictResolved(&src, &dst, c.proto, c.port); got != want {
				t.Fatalf("%s: VerdictResolved(%s -> %s %s/%d) = %v, want %v", name, c.src, c.dst, c.proto, c.port, got, want)
			}
		}
		if i%4 == 0 {
			if got, want := derived.AllowedConns(c.src, c.dst), fresh.AllowedConns(c.src, c.dst); !got.Equal(want) {
				t.Fatalf("%s: AllowedConns(%s -> %s) = %s, want %s", name, c.src, c.dst, got, want)
			}
		}
		if i%16 == 0 {
			got, want := derived.Explain(c.src, c.dst, c.proto, c.port), fresh.Explain(c.src, c.dst, c.proto, c.port)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Explain(%s -> %s %s/%d) = %+v, want %+v", name, c.src, c.dst, c.proto, c.port, got, want)
			}
			if got, want := derived.ExplainPair(c.src, c.dst), fresh.ExplainPair(c.src, c.dst); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: ExplainPair(%s -> %s) = %+v, want %+v", name, c.src, c.dst, got, want)
			}
		}
	}
}

// TestWithNamespaceLabelsMatchesNewIndex checks that an index derived by
// relabelling one namespace answers exactly as NewIndex over the
// relabelled namespaces, over many generated clusters and random relabels
// (team, env and other labels changed, added or dropped; a namespace no
// workload lives in), chained with each other and with policy swaps, and
// that the base index is left as it was.
func TestWithNamespaceLabelsMatchesNewIndex(t *testing.T) {
	teams := []string{"payments", "search", "identity", "platform", "data", "frontend", "ml", "ops"}
	envs := []string{"prod", "staging", "dev"}
	relabels := 0
	for seed := uint64(1); seed <= deriveClusters; seed++ {
		r := rand.New(rand.NewPCG(seed, 98))
		nsCount, wlCount, polCount := 2+r.IntN(12), 20+r.IntN(200), 5+r.IntN(60)
		nss, wls, pols := netpoltest.GenerateCluster(seed, nsCount, wlCount, polCount)
		_, _, more := netpoltest.GenerateCluster(seed, nsCount, wlCount, 3*polCount)
		opts := netpol.DefaultOptions()
		if seed%3 == 0 {
			opts.IPBlockMatchesPods = false
		}
		base, err := netpol.NewIndex(nss, wls, pols, opts)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		conns := genConns(r, wls, deriveConns)
		for _, c := range conns[:len(conns)/2] {
			base.Verdict(c.src, c.dst, c.proto, c.port)
		}
		want := judgeAll(base, conns)

		current, currentPols := slices.Clone(nss), pols
		ix := base
		for step := range deriveSwaps {
			name := fmt.Sprintf("seed %d step %d", seed, step)
			var derived *netpol.Index
			if step%3 == 2 { // a policy swap between relabels
				ns := current[r.IntN(len(current))].Name
				next := swapPolicies(r, currentPols, more[polCount:], ns)
				currentPols = slices.Concat(slices.DeleteFunc(slices.Clone(currentPols), func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns }), next)
				if derived, err = ix.WithNamespacePolicies(ns, next); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			} else {
				i := r.IntN(len(current) + 1)
				ns := fmt.Sprintf("empty-%d", step)
				var lbls map[string]string
				if i < len(current) {
					ns = current[i].Name
					lbls = map[string]string{}
					for k, v := range current[i].Labels {
						if r.IntN(4) > 0 {
							lbls[k] = v
						}
					}
				}
				if lbls == nil {
					lbls = map[string]string{}
				}
				if r.IntN(2) == 0 {
					lbls["team"] = teams[r.IntN(len(teams))]
				}
				if r.IntN(2) == 0 {
					lbls["env"] = envs[r.IntN(len(envs))]
				}
				if r.IntN(4) == 0 {
					lbls["istio-injection"] = "enabled"
				}
				name += fmt.Sprintf(" (%s %v)", ns, lbls)
				if derived, err = ix.WithNamespaceLabels(ns, lbls); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				relabelled := netpol.Namespace{Name: ns, Labels: lbls}
				if i < len(current) {
					current = slices.Clone(current)
					current[i] = relabelled
				} else {
					current = append(slices.Clone(current), relabelled)
				}
				relabels++
			}
			fresh, err := netpol.NewIndex(current, wls, currentPols, opts)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got, want := derived.Policies(), fresh.Policies(); !slices.Equal(got, want) {
				t.Fatalf("%s: Policies() = %v, want %v", name, got, want)
			}
			compareIndexes(t, name, derived, fresh, base, conns)
			ix = derived
		}
		if got := judgeAll(base, conns); !slices.Equal(got, want) {
			t.Fatalf("seed %d: the base index changed after deriving from it", seed)
		}
	}
	t.Logf("%d clusters, %d relabels, %d connections each", deriveClusters, relabels, deriveConns)
}

// TestWithNamespacePoliciesScratch checks WithNamespacePoliciesScratch
// as TestWithNamespacePoliciesMatchesNewIndex does WithNamespacePolicies:
// each swap derived from the base and released, so that later ones reuse
// the memory of earlier ones; namespaces with many policies (past the
// scan in which policies are taken over) and policies listed twice.
func TestWithNamespacePoliciesScratch(t *testing.T) {
	for seed := uint64(1); seed <= deriveClusters/4; seed++ {
		r := rand.New(rand.NewPCG(seed, 97))
		nsCount, wlCount, polCount := 2+r.IntN(3), 20+r.IntN(200), 40+r.IntN(120)
		nss, wls, pols := netpoltest.GenerateCluster(seed, nsCount, wlCount, polCount)
		_, _, more := netpoltest.GenerateCluster(seed, nsCount, wlCount, 3*polCount)
		base, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		conns := genConns(r, wls, deriveConns/4)
		for _, c := range conns[:len(conns)/2] {
			base.Verdict(c.src, c.dst, c.proto, c.port)
		}
		want := judgeAll(base, conns)
		for swap := range deriveSwaps {
			ns := nss[r.IntN(len(nss))].Name
			next := swapPolicies(r, pols, more[polCount:], ns)
			if len(next) > 0 && r.IntN(3) == 0 {
				next = append(next, next[r.IntN(len(next))]) // listed twice
			}
			name := fmt.Sprintf("seed %d swap %d (%s, %d policies)", seed, swap, ns, len(next))
			derived, release, err := base.WithNamespacePoliciesScratch(ns, next)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			all := slices.Concat(slices.DeleteFunc(slices.Clone(pols), func(p *networkingv1.NetworkPolicy) bool { return p.Namespace == ns }), next)
			compareWithFresh(t, name, derived, nss, wls, all, netpol.DefaultOptions(), base, conns)
			release()
		}
		if got := judgeAll(base, conns); !slices.Equal(got, want) {
			t.Fatalf("seed %d: the base index changed after deriving from it", seed)
		}
	}
}

// TestWithNamespacePoliciesConcurrent derives from one index in parallel
// (policies with selectors, which the derived indexes must not add to the
// base's selector maps, and without) while the base judges: run with
// -race.
func TestWithNamespacePoliciesConcurrent(t *testing.T) {
	nss, wls, pols := netpoltest.GenerateCluster(7, 5, 150, 40)
	_, _, more := netpoltest.GenerateCluster(7, 5, 150, 120)
	base, err := netpol.NewIndex(nss, wls, pols, netpol.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	conns := genConns(rand.New(rand.NewPCG(7, 7)), wls, 200)
	want := judgeAll(base, conns)
	done := make(chan error)
	for g := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 10 {
				ns := nss[r.IntN(len(nss))].Name
				next := swapPolicies(r, pols, more[40:], ns)
				d, release, err := base.WithNamespacePoliciesScratch(ns, next)
				if err != nil {
					done <- err
					return
				}
				judgeAll(d, conns)
				release()
				judgeAll(base, conns)
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := judgeAll(base, conns); !slices.Equal(got, want) {
		t.Fatal("the base index changed after deriving from it")
	}
}

// BenchmarkWithNamespacePolicies measures deriving the benchmark index
// with one namespace's policies replaced (a default deny added), against
// BenchmarkNewIndex's whole build.
func BenchmarkWithNamespacePolicies(b *testing.B) {
	c := benchCluster()
	ix, _ := benchIndex(b)
	ns := c.nss[1].Name
	var pols []*networkingv1.NetworkPolicy
	for _, p := range c.pols {
		if p.Namespace == ns {
			pols = append(pols, p)
		}
	}
	deny := &networkingv1.NetworkPolicy{}
	deny.Namespace, deny.Name = ns, "bench-deny-all"
	deny.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	pols = append(pols, deny)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ix.WithNamespacePolicies(ns, pols); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWithNamespaceLabels measures deriving the benchmark index
// with one namespace relabelled.
func BenchmarkWithNamespaceLabels(b *testing.B) {
	c := benchCluster()
	ix, _ := benchIndex(b)
	ns := c.nss[1].Name
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ix.WithNamespaceLabels(ns, map[string]string{"team": "ops", "env": "dev"}); err != nil {
			b.Fatal(err)
		}
	}
}
