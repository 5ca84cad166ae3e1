package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

func TestRecordFlushQuery(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0.Add(5 * time.Hour))
	s := openStore(t, testOptions(t.TempDir(), clock))

	a, b, c := wl("shop", "frontend"), wl("shop", "checkout"), wl("pay", "api")
	ab := tcp(a, b, 8080)
	svc1 := &flow.ServiceRef{Namespace: "shop", Name: "checkout"}
	svc2 := &flow.ServiceRef{Namespace: "shop", Name: "checkout-v2"}
	// Hour 10: 3 flows, one dropped; hour 11: 2 flows; hour 12: 1 flow, no service.
	s.Record(ab, t0.Add(10*time.Minute), flow.VerdictForwarded, svc1, []string{"checkout.shop.svc"})
	s.Record(ab, t0.Add(5*time.Minute), flow.VerdictDropped, nil, nil)
	s.Record(ab, t0.Add(59*time.Minute), flow.VerdictForwarded, svc1, []string{"checkout.shop.svc"})
	s.Record(ab, t0.Add(70*time.Minute), flow.VerdictForwarded, svc2, []string{"checkout"})
	s.Record(ab, t0.Add(80*time.Minute), flow.VerdictForwarded, svc2, nil)
	s.Record(ab, t0.Add(150*time.Minute), flow.VerdictForwarded, nil, nil)
	// Another edge out of a, and one into b.
	s.Record(tcp(a, c, 443), t0.Add(90*time.Minute), flow.VerdictForwarded, nil, nil)
	s.Record(tcp(c, b, 9090), t0.Add(20*time.Minute), flow.VerdictForwarded, nil, nil)
	flush(t, s)

	type want struct {
		count            uint64
		first, last      time.Duration // after t0
		dropped          uint64
		service          *flow.ServiceRef
		names            []string
		egressA, ingress int // edges out of a, into b
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     *want // of edge a→b; nil: not in the window
	}{
		{"all hours", t0, t0.Add(3 * time.Hour), &want{6, 5 * time.Minute, 150 * time.Minute, 1, svc2, []string{"checkout", "checkout.shop.svc"}, 2, 2}},
		{"zero bounds mean everything", time.Time{}, time.Time{}, &want{6, 5 * time.Minute, 150 * time.Minute, 1, svc2, []string{"checkout", "checkout.shop.svc"}, 2, 2}},
		{"one hour", t0.Add(time.Hour), t0.Add(2 * time.Hour), &want{2, 70 * time.Minute, 80 * time.Minute, 0, svc2, []string{"checkout"}, 2, 1}},
		{"to is exclusive", t0, t0.Add(time.Hour), &want{3, 5 * time.Minute, 59 * time.Minute, 1, svc1, []string{"checkout.shop.svc"}, 1, 2}},
		{"partial hours widen to whole buckets", t0.Add(30 * time.Minute), t0.Add(31 * time.Minute), &want{3, 5 * time.Minute, 59 * time.Minute, 1, svc1, []string{"checkout.shop.svc"}, 1, 2}},
		{"a nanosecond into the next hour", t0.Add(time.Hour - time.Nanosecond), t0.Add(time.Hour + time.Nanosecond), &want{5, 5 * time.Minute, 80 * time.Minute, 1, svc2, []string{"checkout", "checkout.shop.svc"}, 2, 2}},
		{"latest service wins, buckets without one do not reset it", t0.Add(time.Hour), time.Time{}, &want{3, 70 * time.Minute, 150 * time.Minute, 0, svc2, []string{"checkout"}, 2, 1}},
		{"empty range", t0.Add(time.Hour), t0.Add(time.Hour), nil},
		{"reversed range", t0.Add(2 * time.Hour), t0, nil},
		{"before anything", t0.Add(-48 * time.Hour), t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, egress, err := s.WorkloadEdges(ctx, a, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			ingress, _, err := s.WorkloadEdges(ctx, b, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(egress, func(e flow.Edge) bool { return e.EdgeKey == ab })
			if tt.want == nil {
				if i >= 0 {
					t.Fatalf("edge a→b in window: %+v", egress[i])
				}
				return
			}
			if i < 0 {
				t.Fatalf("edge a→b missing from egress %+v", egress)
			}
			got := egress[i]
			w := tt.want
			if got.Count != w.count || !got.FirstSeen.Equal(t0.Add(w.first)) || !got.LastSeen.Equal(t0.Add(w.last)) ||
				got.Verdicts[flow.VerdictDropped] != w.dropped || got.Verdicts[flow.VerdictForwarded] != w.count-w.dropped {
				t.Errorf("a→b = count %d first %s last %s verdicts %v; want count %d first +%s last +%s dropped %d",
					got.Count, got.FirstSeen, got.LastSeen, got.Verdicts, w.count, w.first, w.last, w.dropped)
			}
			if (got.Service == nil) != (w.service == nil) || (got.Service != nil && *got.Service != *w.service) {
				t.Errorf("service = %v, want %v", got.Service, w.service)
			}
			if !slices.Equal(got.Names, w.names) {
				t.Errorf("names = %q, want %q", got.Names, w.names)
			}
			if len(egress) != w.egressA || len(ingress) != w.ingress {
				t.Errorf("egress of a: %d edges, ingress of b: %d; want %d, %d", len(egress), len(ingress), w.egressA, w.ingress)
			}
			j := slices.IndexFunc(ingress, func(e flow.Edge) bool { return e.EdgeKey == ab })
			if j < 0 || ingress[j].EdgeStats.Count != got.Count || ingress[j].LastSeen != got.LastSeen {
				t.Errorf("ingress of b does not hold a→b as egress of a does: %+v", ingress)
			}
		})
	}
}

func TestAggregationAcrossFlushesAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newClock(t0.Add(30 * time.Minute))
	k := tcp(wl("a", "x"), wl("b", "y"), 80)
	s, err := store.Open(ctx, testOptions(dir, clock))
	if err != nil {
		t.Fatal(err)
	}
	s.Record(k, t0.Add(time.Minute), flow.VerdictForwarded, nil, []string{"one"})
	flush(t, s)
	s.Record(k, t0.Add(2*time.Minute), flow.VerdictForwarded, nil, []string{"two"})
	flush(t, s)
	s.Record(k, t0.Add(3*time.Minute), flow.VerdictDropped, nil, nil)
	if err := s.Close(); err != nil { // flushes
		t.Fatal(err)
	}

	s = openStore(t, testOptions(dir, clock))
	s.Record(k, t0.Add(4*time.Minute), flow.VerdictForwarded, &flow.ServiceRef{Namespace: "b", Name: "y"}, []string{"one", "three"})
	flush(t, s)
	_, egress, err := s.WorkloadEdges(ctx, k.Src, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(egress) != 1 {
		t.Fatalf("egress = %+v, want one edge", egress)
	}
	e := egress[0]
	if e.Count != 4 || e.Verdicts[flow.VerdictDropped] != 1 || !e.FirstSeen.Equal(t0.Add(time.Minute)) ||
		!e.LastSeen.Equal(t0.Add(4*time.Minute)) || e.Service == nil || e.Service.Name != "y" ||
		!slices.Equal(e.Names, []string{"one", "three", "two"}) {
		t.Errorf("after flushes, close and reopen: %+v", e)
	}
}

func TestEvictedBucketIsMergedAgain(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0.Add(10 * time.Minute))
	s := openStore(t, testOptions(t.TempDir(), clock))
	k := tcp(wl("a", "x"), wl("b", "y"), 80)
	s.Record(k, t0.Add(time.Minute), flow.VerdictForwarded, nil, nil)
	flush(t, s)
	clock.Set(t0.Add(5 * time.Hour)) // hour t0 closes: its bucket leaves memory at the next flush
	s.Record(tcp(wl("a", "x"), wl("c", "z"), 80), t0.Add(5*time.Hour), flow.VerdictForwarded, nil, nil)
	flush(t, s)
	s.Record(k, t0.Add(2*time.Minute), flow.VerdictForwarded, nil, nil) // a late flow for the old bucket
	flush(t, s)
	_, egress, err := s.WorkloadEdges(ctx, k.Src, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(egress) != 1 || egress[0].Count != 2 || !egress[0].LastSeen.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("old bucket after eviction and a late flow: %+v, want count 2", egress)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0)
	s, err := store.Open(ctx, testOptions(t.TempDir(), clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s.Record(tcp(wl("a", "x"), wl("b", "y"), 80), t0, flow.VerdictForwarded, nil, nil) // dropped, no panic
	for name, err := range map[string]error{
		"Healthy": s.Healthy(),
		"Flush":   s.Flush(ctx),
		"WorkloadEdges": func() error {
			_, _, err := s.WorkloadEdges(ctx, wl("a", "x"), time.Time{}, time.Time{})
			return err
		}(),
		"PutWorkloadSnapshot": s.PutWorkloadSnapshot(ctx, wl("a", "x"), nil, t0),
	} {
		if !errorsIs(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestConcurrentRecord(t *testing.T) {
	ctx := context.Background()
	clock := newClock(t0.Add(30 * time.Minute))
	opts := testOptions(t.TempDir(), clock)
	opts.FlushInterval = 5 * time.Millisecond
	opts.FlushEdges = 50
	opts.MaxResidentEdges = 10_000
	s := openStore(t, opts)

	const writers, perWriter, edges = 8, 5_000, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := tcp(wl("ns", fmt.Sprintf("src-%d", i%edges)), wl("ns", "dst"), 80)
				at := t0.Add(time.Duration(w*perWriter+i) * time.Millisecond)
				s.Record(k, at, flow.VerdictForwarded, nil, []string{fmt.Sprint("n", i%3)})
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := s.WorkloadEdges(ctx, wl("ns", "dst"), time.Time{}, time.Time{}); err != nil {
				t.Error(err)
				return
			}
			if err := s.Flush(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	flush(t, s)
	ingress, _, err := s.WorkloadEdges(ctx, wl("ns", "dst"), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sumCounts(ingress); got != writers*perWriter || len(ingress) != edges {
		t.Errorf("stored %d flows over %d edges, want %d over %d", got, len(ingress), writers*perWriter, edges)
	}
	for _, e := range ingress {
		if len(e.Names) != 3 {
			t.Errorf("%s: names %q, want 3", e.Src, e.Names)
		}
	}
}
