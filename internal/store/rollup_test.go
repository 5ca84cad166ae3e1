package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// snapshotQueries runs every query over [from, to).
func snapshotQueries(t *testing.T, s *store.Store, from, to time.Time) map[string]any {
	t.Helper()
	ctx := context.Background()
	in, out, err := s.WorkloadEdges(ctx, wl("shop", "a"), from, to)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := s.NamespaceEdges(ctx, "shop", from, to)
	if err != nil {
		t.Fatal(err)
	}
	un, err := s.UnresolvedAddresses(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.NamespaceSummaries(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"ingress": in, "egress": out, "namespace": ns, "unresolved": un, "summaries": sum}
}

func TestDayRollupsAnswerLikeHours(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := t0.Truncate(24 * time.Hour) // 2025-03-10 00:00
	clock := newClock(t0)
	s, err := store.Open(ctx, testOptions(dir, clock))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := wl("shop", "a"), wl("shop", "b"), wl("pay", "c")
	ext := addr("203.0.113.9", flow.ClassExternal, "")
	// Two full days before today and today's first hours: a steady edge
	// every hour, others now and then, with services and names.
	for at := day.Add(-48 * time.Hour); at.Before(t0); at = at.Add(time.Hour) {
		s.Record(tcp(a, b, 80), at.Add(5*time.Minute), flow.VerdictForwarded, &flow.ServiceRef{Namespace: "shop", Name: "b"}, nil)
		if at.Hour()%5 == 0 {
			s.Record(tcp(a, ext, 443), at.Add(7*time.Minute), flow.VerdictDropped, nil, []string{"x" + at.Format("15") + ".example"})
		}
		if at.Hour()%7 == 0 {
			s.Record(tcp(c, a, 8080), at.Add(9*time.Minute), flow.VerdictForwarded, nil, nil)
		}
	}
	flush(t, s)
	windows := [][2]time.Time{
		{day.Add(-48 * time.Hour), t0},                       // two whole days and a part
		{day.Add(-47*time.Hour - 30*time.Minute), t0},        // starts inside the first day
		{day.Add(-48 * time.Hour), day.Add(-24 * time.Hour)}, // exactly one day
		{day.Add(-30 * time.Hour), day.Add(-20 * time.Hour)}, // no whole day
		{time.Time{}, time.Time{}},
	}
	want := make([]map[string]any, len(windows))
	for i, w := range windows {
		want[i] = snapshotQueries(t, s, w[0], w[1])
	}
	check := func(stage string) {
		t.Helper()
		for i, w := range windows {
			if got := snapshotQueries(t, s, w[0], w[1]); !reflect.DeepEqual(got, want[i]) {
				t.Errorf("%s, window %v–%v:\ngot  %+v\nwant %+v", stage, w[0], w[1], got, want[i])
			}
		}
	}

	n, err := s.RollUp(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 29 { // every complete day of the 30-day retention, 27 of them empty
		t.Errorf("RollUp rolled up %d days, want 29", n)
	}
	check("after rollup")
	if n, err := s.RollUp(ctx, t0); err != nil || n != 0 {
		t.Errorf("second RollUp = %d, %v; want 0", n, err)
	}

	// A late flow for a rolled-up day: its hours answer until the next rollup.
	late := day.Add(-40 * time.Hour)
	s.Record(tcp(a, b, 80), late, flow.VerdictForwarded, nil, nil)
	flush(t, s)
	for i := range want {
		if windows[i][0].IsZero() || !late.Before(windows[i][0]) && late.Before(windows[i][1]) {
			edges := want[i]["egress"].([]flow.Edge)
			for j := range edges {
				if edges[j].Dst == b {
					edges[j].Count++
					edges[j].Verdicts[flow.VerdictForwarded]++
				}
			}
			for j, ns := range want[i]["summaries"].([]store.NamespaceSummary) {
				if ns.Namespace == "shop" {
					want[i]["summaries"].([]store.NamespaceSummary)[j].Connections++
				}
			}
			nsEdges := want[i]["namespace"].([]flow.Edge)
			for j := range nsEdges {
				if nsEdges[j].Src == a && nsEdges[j].Dst == b {
					nsEdges[j].Count++
					nsEdges[j].Verdicts[flow.VerdictForwarded]++
				}
			}
		}
	}
	check("after a late flow")
	if n, err := s.RollUp(ctx, t0); err != nil || n != 1 {
		t.Errorf("RollUp after a late flow = %d, %v; want 1", n, err)
	}
	check("after rolling up again")

	// Markers survive a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, testOptions(dir, clock))
	if n, err := s.RollUp(ctx, t0); err != nil || n != 0 {
		t.Errorf("RollUp after reopen = %d, %v; want 0", n, err)
	}
	check("after reopen")
}

func TestRetentionDropsDayRollups(t *testing.T) {
	ctx := context.Background()
	day := t0.Truncate(24 * time.Hour)
	clock := newClock(t0)
	opts := testOptions(t.TempDir(), clock)
	opts.Retention = 72 * time.Hour
	s := openStore(t, opts)
	a, b := wl("shop", "a"), wl("shop", "b")
	for at := day.Add(-48 * time.Hour); at.Before(t0); at = at.Add(time.Hour) {
		s.Record(tcp(a, b, 80), at, flow.VerdictForwarded, nil, nil)
	}
	flush(t, s)
	if _, err := s.RollUp(ctx, t0); err != nil {
		t.Fatal(err)
	}
	// The cutoff falls at 06:00 on the second day: its 18 later hours stay.
	now := day.Add(-24*time.Hour + 6*time.Hour + 72*time.Hour)
	if _, err := s.EnforceRetention(ctx, now); err != nil {
		t.Fatal(err)
	}
	_, out, err := s.WorkloadEdges(ctx, a, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Count != 18+10 || !out[0].FirstSeen.Equal(day.Add(-24*time.Hour+6*time.Hour)) {
		t.Errorf("after retention: %+v, want 28 flows from 06:00 the day before", out)
	}
}
