package impact_test

import (
	"cmp"
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
)

// The benchmark cluster: 10,000 workloads in 50 namespaces (200 each)
// under 300 policies, and 20,000 edges observed in one namespace between
// its workloads, workloads of other namespaces, its Services and external
// addresses.
const (
	benchNamespaces = 50
	benchWorkloads  = 10_000
	benchPolicies   = 300
	benchEdges      = 20_000
)

type benchSetup struct {
	cluster impact.Cluster
	ns      string
	edges   []flow.Edge
}

var benchWorld = sync.OnceValue(func() (s benchSetup) {
	nss, wls, pols := netpoltest.GenerateCluster(1, benchNamespaces, benchWorkloads, benchPolicies)
	s.cluster = impact.Cluster{Namespaces: nss, Workloads: wls, Policies: pols, Options: netpol.DefaultOptions()}
	// A namespace without a default deny, so that a deny-all turns its
	// traffic red.
	denied := map[string]bool{}
	for _, p := range pols {
		if p.Name == "default-deny" {
			denied[p.Namespace] = true
		}
	}
	for _, ns := range nss[1:] {
		if !denied[ns.Name] {
			s.ns = ns.Name
			break
		}
	}
	var in []*netpol.Workload
	for _, w := range wls {
		if w.Namespace == s.ns {
			in = append(in, w)
		}
	}
	for _, app := range []string{"api", "web", "postgres"} {
		s.cluster.Services = append(s.cluster.Services, impact.Service{Namespace: s.ns, Name: app, Selector: map[string]string{"app": app}})
	}
	r := rand.New(rand.NewPCG(5, 6))
	ep := func(w *netpol.Workload) flow.Endpoint { return flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name) }
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8050, 9090, 9187, 50051}
	keys := map[flow.EdgeKey]bool{}
	for len(s.edges) < benchEdges {
		local := ep(in[r.IntN(len(in))])
		var peer flow.Endpoint
		switch n := r.IntN(100); {
		case n < 40:
			peer = ep(in[r.IntN(len(in))])
		case n < 80:
			peer = ep(wls[r.IntN(len(wls))])
		case n < 95:
			peer = flow.Endpoint{Kind: flow.EndpointAddress, Class: flow.ClassExternal,
				Addr: netip.AddrFrom4([4]byte{byte(11 + r.IntN(100)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})}
		default:
			svc := s.cluster.Services[r.IntN(len(s.cluster.Services))]
			peer = flow.WorkloadEndpoint(svc.Namespace, impact.ServiceKind, svc.Name)
		}
		src, dst := local, peer
		if r.IntN(2) == 0 {
			src, dst = peer, local
		}
		e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: ports[r.IntN(len(ports))]}}
		if r.IntN(10) == 0 {
			e.Protocol = flow.ProtocolUDP
		}
		if keys[e.EdgeKey] {
			continue
		}
		keys[e.EdgeKey] = true
		e.Count = 1 + uint64(r.IntN(10_000))
		e.LastSeen = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(7*24*3600)) * time.Second)
		s.edges = append(s.edges, e)
	}
	// As the store returns them: sorted by source, destination, protocol
	// and port.
	slices.SortFunc(s.edges, func(a, b flow.Edge) int {
		return cmp.Or(
			strings.Compare(a.Src.String(), b.Src.String()),
			strings.Compare(a.Dst.String(), b.Dst.String()),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port))
	})
	return s
})

// benchChanges are the what-ifs measured: a default deny (every edge of
// the namespace judged, most turn red), a narrowed existing policy and the
// deletion of one.
func benchChanges(s benchSetup) map[string]impact.Change {
	deny := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "bench-deny-all"}}
	deny.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	var existing []*networkingv1.NetworkPolicy
	for _, p := range s.cluster.Policies {
		if p.Namespace == s.ns {
			existing = append(existing, p)
		}
	}
	widest := slices.MaxFunc(existing, func(a, b *networkingv1.NetworkPolicy) int {
		return len(a.Spec.Ingress) + len(a.Spec.Egress) - len(b.Spec.Ingress) - len(b.Spec.Egress)
	})
	narrowed := widest.DeepCopy()
	tcp, port := corev1.ProtocolTCP, intstrPort(8080)
	for i := range narrowed.Spec.Ingress {
		narrowed.Spec.Ingress[i].Ports = []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}
	}
	for i := range narrowed.Spec.Egress {
		narrowed.Spec.Egress[i].Ports = []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}
	}
	return map[string]impact.Change{
		"deny-all": {Operation: impact.Create, New: deny},
		"narrow":   {Operation: impact.Update, Old: widest, New: narrowed},
		"delete":   {Operation: impact.Delete, Old: existing[0]},
	}
}

// webhookOptions are what a webhook asks for: enough rows for a message.
var webhookOptions = impact.Options{MaxConnections: 100, MaxExplained: 10}

func BenchmarkPolicyChange(b *testing.B) {
	s := benchWorld()
	changes := benchChanges(s)
	for _, bc := range []struct {
		name   string
		opts   impact.Options
		change string
	}{
		{"webhook/deny-all", webhookOptions, "deny-all"},
		{"webhook/narrow", webhookOptions, "narrow"},
		{"webhook/delete", webhookOptions, "delete"},
		{"all/deny-all", impact.Options{}, "deny-all"},
	} {
		a, err := impact.NewAnalyzer(s.cluster, bc.opts)
		if err != nil {
			b.Fatal(err)
		}
		ch := changes[bc.change]
		b.Run(bc.name, func(b *testing.B) {
			imp, err := a.PolicyChange(context.Background(), ch, s.edges) // warms the lazily built caches
			if err != nil {
				b.Fatal(err)
			}
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				start := time.Now()
				if _, err := a.PolicyChange(context.Background(), ch, s.edges); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			reportCPU(b, cpu, len(durations))
			reportPercentiles(b, durations)
			b.ReportMetric(float64(imp.Evaluated), "evaluated")
			b.ReportMetric(float64(imp.Totals.TurnsRed.Connections), "red")
			b.ReportMetric(float64(imp.Totals.TurnsGreen.Connections), "green")
			b.ReportMetric(float64(imp.Totals.StaysRed.Connections), "stays-red")
		})
	}
}

func BenchmarkNamespaceRelabel(b *testing.B) {
	s := benchWorld()
	a, err := impact.NewAnalyzer(s.cluster, webhookOptions)
	if err != nil {
		b.Fatal(err)
	}
	r := impact.NamespaceRelabel{Name: s.ns, NewLabels: map[string]string{"team": "ops", "env": "dev"}}
	imp, err := a.NamespaceRelabel(context.Background(), r, s.edges)
	if err != nil {
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		start := time.Now()
		if _, err := a.NamespaceRelabel(context.Background(), r, s.edges); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportCPU(b, cpu, len(durations))
	reportPercentiles(b, durations)
	b.ReportMetric(float64(imp.Evaluated), "evaluated")
	b.ReportMetric(float64(imp.Totals.TurnsRed.Connections), "red")
	b.ReportMetric(float64(imp.Totals.TurnsGreen.Connections), "green")
}

func BenchmarkNewAnalyzer(b *testing.B) {
	s := benchWorld()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := impact.NewAnalyzer(s.cluster, impact.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the CPU time the process used so far (GC included): on a
// loaded machine it shows what an operation costs better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, ops int) {
	if ops > 0 && start > 0 {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(ops), "cpu-ns/op")
	}
}

func reportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(q float64) float64 {
		return float64(durations[min(len(durations)-1, int(q*float64(len(durations))))].Nanoseconds())
	}
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

func intstrPort(p int32) intstr.IntOrString { return intstr.FromInt32(p) }
