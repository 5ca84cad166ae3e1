package store_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// edgeOf finds k in edges.
func edgeOf(t *testing.T, edges []flow.Edge, k flow.EdgeKey) flow.Edge {
	t.Helper()
	i := slices.IndexFunc(edges, func(e flow.Edge) bool { return e.EdgeKey == k })
	if i < 0 {
		t.Fatalf("edge %s -> %s missing from %+v", k.Src, k.Dst, edges)
	}
	return edges[i]
}

func verdicts(pairs ...uint64) [flow.NumVerdicts]uint64 {
	var v [flow.NumVerdicts]uint64
	for i := 0; i+1 < len(pairs); i += 2 {
		v[pairs[i]] = pairs[i+1]
	}
	return v
}

func TestRecordVerdict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newClock(t0.Add(3 * time.Hour))
	s, err := store.Open(ctx, testOptions(dir, clock))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := wl("shop", "a"), wl("shop", "b"), wl("pay", "c")
	ext := addr("203.0.113.9", flow.ClassExternal, "")
	ab, ca, aExt := tcp(a, b, 80), tcp(c, a, 8080), tcp(a, ext, 443)
	F, D := uint64(flow.VerdictForwarded), uint64(flow.VerdictDropped)

	// a→b: counted FORWARDED at the source node, then DROPPED at the
	// destination node a minute later.
	s.Record(ab, t0.Add(10*time.Minute), flow.VerdictForwarded, nil, nil)
	s.RecordVerdict(ab, t0.Add(11*time.Minute), flow.VerdictDropped)
	// c→a: the verdict report arrives first (same bucket), and the next
	// hour holds only a late verdict report.
	s.RecordVerdict(ca, t0.Add(30*time.Minute), flow.VerdictDropped)
	s.Record(ca, t0.Add(20*time.Minute), flow.VerdictForwarded, nil, nil)
	s.RecordVerdict(ca, t0.Add(61*time.Minute), flow.VerdictDropped)
	// a→ext: two connections, one of them dropped elsewhere.
	s.Record(aExt, t0.Add(5*time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(aExt, t0.Add(6*time.Minute), flow.VerdictForwarded, nil, nil)
	s.RecordVerdict(aExt, t0.Add(6*time.Minute), flow.VerdictDropped)
	flush(t, s)

	type want struct {
		count       uint64
		verdicts    [flow.NumVerdicts]uint64
		first, last time.Duration
	}
	check := func(stage string, s *store.Store, wants map[flow.EdgeKey]want, from, to time.Time) {
		t.Helper()
		for k, w := range wants {
			_, out, err := s.WorkloadEdges(ctx, k.Src, from, to)
			if err != nil {
				t.Fatal(err)
			}
			in, _, err := s.WorkloadEdges(ctx, k.Dst, from, to)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []flow.Edge{edgeOf(t, out, k), edgeOf(t, in, k)} {
				if e.Count != w.count || e.Verdicts != w.verdicts || !e.FirstSeen.Equal(t0.Add(w.first)) || !e.LastSeen.Equal(t0.Add(w.last)) {
					t.Errorf("%s: %s -> %s = count %d verdicts %v first %s last %s; want count %d verdicts %v first +%s last +%s",
						stage, k.Src, k.Dst, e.Count, e.Verdicts, e.FirstSeen, e.LastSeen, w.count, w.verdicts, w.first, w.last)
				}
			}
		}
	}
	all := map[flow.EdgeKey]want{
		ab:   {1, verdicts(F, 1, D, 1), 10 * time.Minute, 11 * time.Minute},
		ca:   {1, verdicts(F, 1, D, 2), 20 * time.Minute, 61 * time.Minute},
		aExt: {2, verdicts(F, 2, D, 1), 5 * time.Minute, 6 * time.Minute},
	}
	check("after flush", s, all, time.Time{}, time.Time{})
	// The second hour of c→a holds a verdict but no connection: the edge
	// is there, red, with a zero count.
	check("verdict-only hour", s, map[flow.EdgeKey]want{ca: {0, verdicts(D, 1), 61 * time.Minute, 61 * time.Minute}},
		t0.Add(time.Hour), t0.Add(2*time.Hour))

	sums, err := s.NamespaceSummaries(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range sums {
		if sum.Namespace == "shop" && (sum.Connections != 4 || sum.Dropped != 4) {
			t.Errorf("summary of shop: %+v, want 4 connections, 4 dropped", sum)
		}
	}
	un, err := s.UnresolvedAddresses(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 1 || un[0].Count != 2 || un[0].Dropped != 1 || !un[0].LastSeen.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("unresolved = %+v, want %s with 2 connections, 1 dropped", un, ext)
	}

	// Through close and reopen; then a verdict alone for a stored bucket
	// (merged with the stored value at the next flush).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, testOptions(dir, clock))
	check("after reopen", s, all, time.Time{}, time.Time{})
	s.RecordVerdict(ab, t0.Add(9*time.Minute), flow.VerdictDropped)
	s.RecordVerdict(ab, t0.Add(12*time.Minute), flow.VerdictAudit)
	flush(t, s)
	all[ab] = want{1, verdicts(F, 1, D, 2, uint64(flow.VerdictAudit), 1), 9 * time.Minute, 12 * time.Minute}
	check("verdicts after reopen", s, all, time.Time{}, time.Time{})

	// Day rollups answer like the hours.
	day := t0.Truncate(24 * time.Hour)
	windows := [][2]time.Time{{day, day.Add(24 * time.Hour)}, {time.Time{}, time.Time{}}, {t0.Add(time.Hour), t0.Add(2 * time.Hour)}}
	before := make([]map[string]any, len(windows))
	for i, w := range windows {
		before[i] = snapshotQueries(t, s, w[0], w[1])
	}
	if n, err := s.RollUp(ctx, day.Add(48*time.Hour)); err != nil || n == 0 {
		t.Fatalf("RollUp = %d, %v; want days rolled up", n, err)
	}
	for i, w := range windows {
		if got := snapshotQueries(t, s, w[0], w[1]); !reflect.DeepEqual(got, before[i]) {
			t.Errorf("window %v–%v after rollup:\ngot  %+v\nwant %+v", w[0], w[1], got, before[i])
		}
	}
	check("after rollup", s, all, day, day.Add(24*time.Hour))
}

func TestRecordVerdictIgnoresOldFlowsAndClosedStore(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0.Add(90 * 24 * time.Hour))
	s, err := store.Open(ctx, testOptions(t.TempDir(), clock))
	if err != nil {
		t.Fatal(err)
	}
	k := tcp(wl("a", "x"), wl("b", "y"), 80)
	s.RecordVerdict(k, t0, flow.VerdictDropped) // past the retention
	flush(t, s)
	if _, out, err := s.WorkloadEdges(ctx, k.Src, time.Time{}, time.Time{}); err != nil || len(out) != 0 {
		t.Errorf("verdict past the retention stored: %+v, %v", out, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.RecordVerdict(k, time.Time{}, flow.VerdictDropped) // dropped, no panic
}
