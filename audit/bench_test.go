package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/netpol/netpoltest"
	"github.com/redline-dev/redline/internal/store"
)

// auditWorld is a generated cluster — for the benchmark the 5,000
// workloads over 250 namespaces with 1,000 policies and a Service for
// every other workload, and 200,000 observed edges (workload to workload, Services, external
// addresses, some dropped) in a real Badger store.
func auditWorld(b testing.TB, now time.Time, workloads, edges int) (*inventory.Inventory, *store.Store) {
	b.Helper()
	nss, wls, pols := netpoltest.GenerateCluster(7, max(1, workloads/20), workloads, workloads/5)
	inv := &inventory.Inventory{Namespaces: nss, Workloads: wls, Policies: pols}
	for i, w := range wls {
		if i%2 == 1 || w.HostNetwork || len(w.Ports) == 0 {
			continue
		}
		inv.Services = append(inv.Services, inventory.Service{
			Namespace: w.Namespace, Name: w.Name, Type: corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": w.Labels["app"], "tier": w.Labels["tier"]},
			Ports: []inventory.ServicePort{{Name: "main", Protocol: corev1.ProtocolTCP, Port: 80,
				TargetPort: intstr.FromInt32(w.Ports[0].Port)}},
		})
	}
	st, err := store.Open(context.Background(), store.Options{Dir: b.TempDir(), Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	ep := func(w int) flow.Endpoint {
		x := wls[w]
		return flow.WorkloadEndpoint(x.Namespace, x.Kind, x.Name)
	}
	ports := []uint16{80, 443, 5432, 6379, 8080, 9090}
	for i := range edges {
		src := ep(r.IntN(workloads))
		var dst flow.Endpoint
		switch k := r.IntN(20); {
		case k == 0:
			dst = flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.AddrFrom4([4]byte{203, 0, byte(r.IntN(256)), byte(r.IntN(256))}), Class: flow.ClassExternal}
		case k < 5 && len(inv.Services) > 0:
			s := inv.Services[r.IntN(len(inv.Services))]
			dst = inventory.ServiceEndpoint(s.Namespace, s.Name)
		default:
			dst = ep(r.IntN(workloads))
		}
		verdict := flow.VerdictForwarded
		if i%50 == 0 {
			verdict = flow.VerdictDropped
		}
		key := flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: ports[r.IntN(len(ports))]}
		st.Record(key, now.Add(-time.Duration(r.IntN(24*7))*time.Hour), verdict, nil, nil)
	}
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	// Roll the complete days up now, as a running store has: the store's
	// background job would otherwise do it during the measured passes.
	if _, err := st.RollUp(context.Background(), now); err != nil {
		b.Fatal(err)
	}
	return inv, st
}

// BenchmarkAuditPass is one full pass — policies indexed, every workload's
// edges read from Badger, judged, suggested and rendered — without the API
// writes. Target: ≤ 2 s of CPU (cpu-s/op).
func BenchmarkAuditPass(b *testing.B) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(b, now, 5000, 200_000)
	in := PassInput{Inventory: inv, Edges: st, Window: 7 * 24 * time.Hour, Now: now, NamespaceLabelKey: "team"}
	res := measurePasses(b, in)
	b.ReportMetric(float64(len(res.ConfigMaps)), "suggestions")
	b.ReportMetric(float64(len(res.Red)), "red")
	if len(res.ConfigMaps) < 4000 {
		b.Fatalf("only %d suggestions (skipped %d, e.g. %v)", len(res.ConfigMaps), len(res.Skipped), firstSkipped(res))
	}
}

// BenchmarkAuditPassSteady is the pass the loop runs every interval over a
// cluster whose inventory and edge keys did not change since the last one:
// edges still read and judged, every workload's digest checked, nothing
// rendered again (the Memo).
func BenchmarkAuditPassSteady(b *testing.B) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inv, st := auditWorld(b, now, 5000, 200_000)
	in := PassInput{Inventory: inv, Edges: st, Window: 7 * 24 * time.Hour, Now: now, NamespaceLabelKey: "team", Memo: &Memo{}}
	if _, err := Pass(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	res := measurePasses(b, in)
	b.ReportMetric(float64(in.Memo.Hits), "reused")
	if in.Memo.Misses != 0 || len(res.ConfigMaps) < 4000 {
		b.Fatalf("%d rendered again, %d suggestions", in.Memo.Misses, len(res.ConfigMaps))
	}
}

// measurePasses runs the benchmark's passes and reports their CPU time
// (the process's, the collector's included); it returns the last result.
func measurePasses(b *testing.B, in PassInput) PassResult {
	b.ReportAllocs()
	cpu0 := cpuTime()
	var res PassResult
	for b.Loop() {
		var err error
		if res, err = Pass(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	return res
}

func firstSkipped(res PassResult) string {
	if len(res.Skipped) == 0 {
		return "none"
	}
	return fmt.Sprintf("%+v", res.Skipped[0])
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
