package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

func TestNamespaceEdges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testOptions(t.TempDir(), newClock(t0.Add(3*time.Hour))))
	shopA, shopB, payA, other := wl("shop", "a"), wl("shop", "b"), wl("pay", "a"), wl("other", "x")
	// "shopping" shares a prefix with "shop" and must not match it.
	shopping := wl("shopping", "a")
	ext := addr("203.0.113.7", flow.ClassExternal, "")
	node := flow.Endpoint{Kind: flow.EndpointNode, Name: "node-1"}
	for _, k := range []flow.EdgeKey{
		tcp(shopA, shopB, 80), // inside
		tcp(shopA, payA, 443), // out
		tcp(payA, shopB, 80),  // in
		tcp(ext, shopA, 443),  // in from an address
		tcp(node, shopB, 10250),
		tcp(shopB, ext, 443),
		tcp(payA, other, 80), // elsewhere
		tcp(shopping, payA, 80),
		tcp(payA, shopping, 80),
	} {
		s.Record(k, t0, flow.VerdictForwarded, nil, nil)
		s.Record(k, t0.Add(time.Hour), flow.VerdictForwarded, nil, nil)
	}
	flush(t, s)
	edges, err := s.NamespaceEdges(ctx, "shop", t0, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range edges {
		got = append(got, e.Src.String()+" -> "+e.Dst.String())
		if e.Count != 2 {
			t.Errorf("%s -> %s: count %d, want 2 (one per hour, each edge once)", e.Src, e.Dst, e.Count)
		}
	}
	slices.Sort(got)
	want := []string{
		"203.0.113.7 -> shop/a[Deployment]",
		"node-1[Node] -> shop/b[Deployment]",
		"pay/a[Deployment] -> shop/b[Deployment]",
		"shop/a[Deployment] -> pay/a[Deployment]",
		"shop/a[Deployment] -> shop/b[Deployment]",
		"shop/b[Deployment] -> 203.0.113.7",
	}
	if !slices.Equal(got, want) {
		t.Errorf("NamespaceEdges(shop) =\n%q\nwant\n%q", got, want)
	}
	if edges, err := s.NamespaceEdges(ctx, "shop", t0.Add(2*time.Hour), time.Time{}); err != nil || len(edges) != 0 {
		t.Errorf("NamespaceEdges after the last bucket = %v, %v; want none", edges, err)
	}
}

func TestUnresolvedAddresses(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testOptions(t.TempDir(), newClock(t0.Add(3*time.Hour))))
	a, b := wl("shop", "a"), wl("pay", "b")
	ext := addr("203.0.113.7", flow.ClassExternal, "")
	extAliased := addr("203.0.113.7", flow.ClassAliased, "payments-partner") // classified later
	internal := addr("10.0.3.4", flow.ClassInternal, "")
	v6 := addr("2001:db8::1", flow.ClassUnknown, "")

	s.Record(tcp(a, ext, 443), t0.Add(time.Minute), flow.VerdictForwarded, nil, []string{"api.partner.example"})
	s.Record(tcp(b, ext, 8443), t0.Add(2*time.Minute), flow.VerdictDropped, nil, []string{"api2.partner.example"})
	s.Record(tcp(a, extAliased, 443), t0.Add(time.Hour+time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(tcp(internal, a, 8080), t0.Add(3*time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(tcp(internal, a, 8080), t0.Add(4*time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(tcp(a, v6, 53), t0.Add(5*time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(tcp(a, b, 80), t0, flow.VerdictForwarded, nil, nil) // resolved: not listed
	flush(t, s)

	got, err := s.UnresolvedAddresses(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d addresses, want 3: %+v", len(got), got)
	}
	first := got[0]
	if first.Addr != ext.Addr || first.Class != flow.ClassAliased || first.Alias != "payments-partner" ||
		first.Count != 3 || first.Outbound != 3 || first.Inbound != 0 || first.Dropped != 1 ||
		first.PeerCount != 2 || !slices.Equal(first.Peers, []flow.Endpoint{b, a}) ||
		!slices.Equal(first.Ports, []store.ProtoPort{{Protocol: flow.ProtocolTCP, Port: 443}, {Protocol: flow.ProtocolTCP, Port: 8443}}) ||
		!slices.Equal(first.Names, []string{"api.partner.example", "api2.partner.example"}) ||
		!first.FirstSeen.Equal(t0.Add(time.Minute)) || !first.LastSeen.Equal(t0.Add(time.Hour+time.Minute)) {
		t.Errorf("203.0.113.7 = %+v", first)
	}
	second := got[1]
	if second.Addr != internal.Addr || second.Class != flow.ClassInternal || second.Count != 2 || second.Inbound != 2 ||
		len(second.Ports) != 0 || !slices.Equal(second.Peers, []flow.Endpoint{a}) {
		t.Errorf("10.0.3.4 = %+v", second)
	}
	if got[2].Addr != v6.Addr || got[2].Count != 1 {
		t.Errorf("2001:db8::1 = %+v", got[2])
	}

	// Only the second hour: the aliased bucket alone.
	got, err = s.UnresolvedAddresses(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Count != 1 || got[0].Alias != "payments-partner" {
		t.Errorf("second hour: %+v", got)
	}
}

func TestNamespaceSummaries(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testOptions(t.TempDir(), newClock(t0.Add(3*time.Hour))))
	shopA, shopB, payA := wl("shop", "a"), wl("shop", "b"), wl("pay", "a")
	ext, ext2 := addr("203.0.113.7", flow.ClassExternal, ""), addr("198.51.100.1", flow.ClassExternal, "")
	rec := func(k flow.EdgeKey, at time.Time, v flow.Verdict, n int) {
		for range n {
			s.Record(k, at, v, nil, nil)
		}
	}
	rec(tcp(shopA, shopB, 80), t0, flow.VerdictForwarded, 5)
	rec(tcp(shopA, shopB, 80), t0.Add(time.Hour), flow.VerdictDropped, 2) // same edge, next hour
	rec(tcp(shopA, payA, 443), t0, flow.VerdictForwarded, 3)
	rec(tcp(payA, shopB, 80), t0, flow.VerdictDropped, 1)
	rec(tcp(shopB, ext, 443), t0, flow.VerdictForwarded, 4)
	rec(tcp(ext2, shopA, 443), t0, flow.VerdictForwarded, 1)
	rec(tcp(ext, shopA, 443), t0, flow.VerdictForwarded, 1)
	flush(t, s)

	got, err := s.NamespaceSummaries(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.NamespaceSummary{
		{Namespace: "pay", Workloads: 1, EdgesOut: 1, EdgesIn: 1, Connections: 4, Dropped: 1},
		{Namespace: "shop", Workloads: 2, EdgesOut: 3, EdgesIn: 4, Connections: 17, Dropped: 3, UnresolvedPeers: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("NamespaceSummaries =\n%+v\nwant\n%+v", got, want)
	}
	got, err = s.NamespaceSummaries(ctx, t0.Add(time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want = []store.NamespaceSummary{{Namespace: "shop", Workloads: 2, EdgesOut: 1, EdgesIn: 1, Connections: 2, Dropped: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("second hour: %+v, want %+v", got, want)
	}
}

func TestWorkloadSnapshots(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newClock(t0)
	s := openStore(t, testOptions(dir, clock))
	a, b, gone := wl("shop", "a"), wl("shop", "b"), wl("shop", "deleted")
	put := func(ep flow.Endpoint, labels map[string]string, at time.Time) {
		t.Helper()
		if err := s.PutWorkloadSnapshot(ctx, ep, labels, at); err != nil {
			t.Fatal(err)
		}
	}
	put(a, map[string]string{"app": "a", "tier": "web"}, t0)
	put(a, map[string]string{"app": "a"}, t0.Add(-time.Hour)) // older: ignored
	put(b, map[string]string{"app": "b"}, t0)
	put(b, map[string]string{"app": "b", "v": "2"}, t0.Add(time.Hour))
	put(gone, map[string]string{"app": "old"}, t0.Add(-10*time.Hour))
	put(wl("pay", "c"), nil, t0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, testOptions(dir, clock))
	snap, found, err := s.WorkloadSnapshot(ctx, a)
	if err != nil || !found || len(snap.Labels) != 2 || snap.Labels["tier"] != "web" || !snap.LastSeen.Equal(t0) || snap.Endpoint != a {
		t.Errorf("snapshot of a after reopen = %+v, %v, %v", snap, found, err)
	}
	snap, found, err = s.WorkloadSnapshot(ctx, b)
	if err != nil || !found || snap.Labels["v"] != "2" || !snap.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("snapshot of b = %+v, %v, %v", snap, found, err)
	}
	if _, found, err := s.WorkloadSnapshot(ctx, wl("shop", "never")); found || err != nil {
		t.Errorf("snapshot of an unknown workload: found %v, %v", found, err)
	}
	all, err := s.WorkloadSnapshots(ctx, "shop")
	if err != nil || len(all) != 3 || all[0].Endpoint != a || all[2].Endpoint != gone {
		t.Errorf("WorkloadSnapshots(shop) = %+v, %v", all, err)
	}
	if all, err := s.WorkloadSnapshots(ctx, ""); err != nil || len(all) != 4 {
		t.Errorf("WorkloadSnapshots() = %d, %v; want 4", len(all), err)
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0)
	opts := testOptions(t.TempDir(), clock)
	opts.Retention = 48 * time.Hour
	s := openStore(t, opts)
	a, b := wl("shop", "a"), wl("shop", "b")
	ext := addr("203.0.113.7", flow.ClassExternal, "")
	for h := range 47 { // hours t0-46h .. t0
		at := t0.Add(-time.Duration(h) * time.Hour)
		s.Record(tcp(a, b, 80), at, flow.VerdictForwarded, nil, nil)
		s.Record(tcp(ext, a, 443), at, flow.VerdictForwarded, nil, nil)
	}
	s.Record(tcp(a, b, 80), t0.Add(-49*time.Hour), flow.VerdictForwarded, nil, nil) // past retention: ignored
	if err := s.PutWorkloadSnapshot(ctx, a, map[string]string{"app": "a"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWorkloadSnapshot(ctx, b, map[string]string{"app": "b"}, t0.Add(-30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	count := func(ep flow.Endpoint) (in, out uint64) {
		ingress, egress, err := s.WorkloadEdges(ctx, ep, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return sumCounts(ingress), sumCounts(egress)
	}
	if in, out := count(a); in != 47 || out != 47 {
		t.Fatalf("before retention: a has %d in, %d out; want 47, 47", in, out)
	}

	// 20 hours later, buckets that ended before now-48h go: t0-46h .. t0-29h
	// end at or before t0-28h. The bucket holding the cutoff stays.
	now := t0.Add(20*time.Hour + 30*time.Minute)
	deleted, err := s.EnforceRetention(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 2*18 {
		t.Errorf("deleted %d buckets, want %d", deleted, 2*18)
	}
	if in, out := count(a); in != 29 || out != 29 {
		t.Errorf("after retention: a has %d in, %d out; want 29, 29", in, out)
	}
	if in, _ := count(b); in != 29 {
		t.Errorf("after retention: b has %d in, want 29", in)
	}
	if got, err := s.UnresolvedAddresses(ctx, time.Time{}, time.Time{}); err != nil || len(got) != 1 || got[0].Count != 29 ||
		!got[0].FirstSeen.Equal(t0.Add(-28*time.Hour)) {
		t.Errorf("unresolved after retention = %+v, %v", got, err)
	}
	if _, found, _ := s.WorkloadSnapshot(ctx, b); found {
		t.Error("snapshot last seen before the cutoff survived")
	}
	if _, found, _ := s.WorkloadSnapshot(ctx, a); !found {
		t.Error("recent snapshot deleted")
	}
	if deleted, err := s.EnforceRetention(ctx, now); err != nil || deleted != 0 {
		t.Errorf("second run deleted %d, %v", deleted, err)
	}
	if v := metricValue(t, opts.Registerer, "redline_store_retention_deleted_total"); v != 36 {
		t.Errorf("redline_store_retention_deleted_total = %v, want 36", v)
	}
	if v := metricValue(t, opts.Registerer, "redline_store_dropped_flows_total"); v != 1 {
		t.Errorf("redline_store_dropped_flows_total = %v, want 1 (the flow past retention)", v)
	}
}

func TestMemoryBoundAppliesBackpressure(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0)
	opts := testOptions(t.TempDir(), clock)
	opts.FlushEdges, opts.MaxResidentEdges = 10, 20
	s := openStore(t, opts)
	const n = 200
	for i := range n {
		s.Record(tcp(wl("a", "x"), wl("b", fmt.Sprint("y-", i)), 80), t0, flow.VerdictForwarded, nil, nil)
		if v := metricValue(t, opts.Registerer, "redline_store_resident_edges"); v > 20 {
			t.Fatalf("resident buckets %v above the bound 20", v)
		}
	}
	s.Record(tcp(wl("a", "x"), wl("b", "y-0"), 80), t0, flow.VerdictForwarded, nil, nil) // evicted, loaded again
	flush(t, s)
	_, egress, err := s.WorkloadEdges(ctx, wl("a", "x"), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if stored := sumCounts(egress); stored != n+1 || len(egress) != n {
		t.Errorf("stored %d flows in %d edges, want %d in %d", stored, len(egress), n+1, n)
	}
	if v := metricValue(t, opts.Registerer, "redline_store_backpressure_waits_total"); v == 0 {
		t.Error("no Record waited for a flush")
	}
}

func TestMetrics(t *testing.T) {
	clock := newClock(t0)
	opts := testOptions(t.TempDir(), clock)
	s := openStore(t, opts)
	s.Record(tcp(wl("a", "x"), wl("b", "y"), 80), t0, flow.VerdictForwarded, nil, nil)
	s.Record(tcp(wl("a", "x"), wl("b", "z"), 80), t0, flow.VerdictForwarded, nil, nil)
	if v := metricValue(t, opts.Registerer, "redline_store_pending_edges"); v != 2 {
		t.Errorf("pending before flush = %v, want 2", v)
	}
	flush(t, s)
	for name, want := range map[string]float64{
		"redline_store_flushes_total":          1,
		"redline_store_edges_written_total":    2,
		"redline_store_pending_edges":          0,
		"redline_store_flush_duration_seconds": 1, // sample count
		"redline_store_flush_errors_total":     0,
	} {
		if v := metricValue(t, opts.Registerer, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close unregisters: a new store can register again.
	s = openStore(t, opts)
	_ = s
}

// metricValue sums a metric's samples (a histogram's sample counts).
func metricValue(t testing.TB, r prometheus.Registerer, name string) float64 {
	t.Helper()
	mfs, err := r.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += metricSample(m)
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func metricSample(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
