package impact_test

import (
	"context"
	"runtime"
	"slices"
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
	"github.com/redline-dev/redline/internal/impact/impacttest"
	"github.com/redline-dev/redline/internal/netpol"
)

type benchSetup struct {
	cluster impact.Cluster
	ns      string
	edges   []flow.Edge
}

// benchWorld is impacttest's world (shared with the webhook's benchmark),
// observed until 2026-03-08.
var benchWorld = sync.OnceValue(func() benchSetup {
	w := impacttest.Generate(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC))
	return benchSetup{
		cluster: impact.Cluster{Namespaces: w.Namespaces, Workloads: w.Workloads, Policies: w.Policies, Services: w.Services, Options: netpol.DefaultOptions()},
		ns:      w.Namespace,
		edges:   w.Edges,
	}
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
			imp, err := a.PolicyChange(context.Background(), ch, s.edges) // warms the lazily built caches, the namespace's edges among them
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
			b.ReportMetric(float64(impact.CachedBytes(a, s.ns)), "cache-B")
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

// BenchmarkPolicyChangeCold is a what-if on an Analyzer that has not seen
// the namespace's edges yet: the first request after a cluster change,
// which caches them (edgecache.go). HeapB is the heap the cache keeps.
func BenchmarkPolicyChangeCold(b *testing.B) {
	s := benchWorld()
	ch := benchChanges(s)["deny-all"]
	var kept uint64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		a, err := impact.NewAnalyzer(s.cluster, webhookOptions)
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		if _, err := a.PolicyChange(context.Background(), ch, s.edges); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(a)
		b.StartTimer()
	}
	b.ReportMetric(float64(kept), "heap-B")
}
