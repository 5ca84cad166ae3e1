package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

// countingEdges answers NamespaceEdges with n fresh edges per call and
// counts the calls per namespace.
type countingEdges struct {
	mu    sync.Mutex
	calls map[string]int
	n     int
	fail  error
}

func (c *countingEdges) NamespaceEdges(_ context.Context, ns string, _, _ time.Time) ([]flow.Edge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return nil, c.fail
	}
	c.calls[ns]++
	out := make([]flow.Edge, c.n)
	for i := range out {
		out[i].Src = flow.WorkloadEndpoint(ns, "Deployment", fmt.Sprint("w", i))
		out[i].Count = uint64(c.calls[ns])
	}
	return out, nil
}

func (c *countingEdges) count(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[ns]
}

func TestEdgeCache(t *testing.T) {
	src := &countingEdges{calls: map[string]int{}, n: 10}
	clock := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := newEdgeCache(src, 30*time.Second, slog.New(slog.DiscardHandler))
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	get := func(ns string) []flow.Edge {
		t.Helper()
		edges, err := c.NamespaceEdges(ctx, ns, clock.Add(-time.Hour), clock)
		if err != nil {
			t.Fatal(err)
		}
		return edges
	}

	first := get("shop")
	if src.count("shop") != 1 || len(first) != 10 {
		t.Fatalf("first read: %d store reads, %d edges", src.count("shop"), len(first))
	}
	clock = clock.Add(29 * time.Second)
	if again := get("shop"); &again[0] != &first[0] || src.count("shop") != 1 {
		t.Fatalf("within the TTL: %d store reads, same slice %v; want the cached slice", src.count("shop"), &again[0] == &first[0])
	}

	// Past the TTL: the cached slice now, a refresh in the background.
	clock = clock.Add(2 * time.Second)
	if stale := get("shop"); &stale[0] != &first[0] {
		t.Fatal("past the TTL: the request waited for the store")
	}
	c.refreshes.Wait()
	if src.count("shop") != 2 {
		t.Fatalf("past the TTL: %d store reads, want the refresh", src.count("shop"))
	}
	if fresh := get("shop"); fresh[0].Count != 2 {
		t.Fatalf("after the refresh: count %d, want the refreshed edges", fresh[0].Count)
	}

	// A failing refresh keeps serving what was read; a failing first
	// read is an error and caches nothing.
	clock = clock.Add(time.Minute)
	src.fail = errors.New("store closed")
	if kept := get("shop"); kept[0].Count != 2 {
		t.Fatalf("refresh failing: count %d, want the last read", kept[0].Count)
	}
	c.refreshes.Wait()
	if _, err := c.NamespaceEdges(ctx, "bank", clock, clock); err == nil {
		t.Fatal("first read failing: no error")
	}
	src.fail = nil
	get("bank")
	if src.count("bank") != 1 {
		t.Fatalf("bank: %d reads", src.count("bank"))
	}

	// Much older than the TTL (refreshes failing all along): read again
	// before use.
	clock = clock.Add(11 * 30 * time.Second)
	if got := get("shop"); got[0].Count != 3 || src.count("shop") != 3 {
		t.Fatalf("stale beyond %d TTLs: count %d after %d reads, want a synchronous read", staleAfterTTLs, got[0].Count, src.count("shop"))
	}

	// Bounded: the least recently used namespace goes first.
	c.max = 25
	get("shop")
	clock = clock.Add(time.Second)
	get("bank")
	get("cafe") // 30 edges > 25: shop, used least recently, goes
	c.mu.Lock()
	_, hasShop := c.byNS["shop"]
	_, hasBank := c.byNS["bank"]
	total := c.total
	c.mu.Unlock()
	if hasShop || !hasBank || total != 20 {
		t.Fatalf("over the bound: shop kept %v, bank kept %v, %d edges; want shop dropped, 20 edges", hasShop, hasBank, total)
	}
}

// gatedEdges blocks NamespaceEdges until released, counting the calls.
type gatedEdges struct {
	countingEdges
	gate chan struct{}
}

func (g *gatedEdges) NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.countingEdges.NamespaceEdges(ctx, ns, from, to)
}

// Requests for a namespace no one has read yet wait for the one read in
// flight instead of each reading it; when that read's own budget runs
// out, a waiter with budget left reads itself.
func TestEdgeCacheFirstReadShared(t *testing.T) {
	src := &gatedEdges{countingEdges: countingEdges{calls: map[string]int{}, n: 5}, gate: make(chan struct{})}
	c := newEdgeCache(src, 30*time.Second, slog.New(slog.DiscardHandler))
	now := time.Now()
	var wg sync.WaitGroup
	got := make([][]flow.Edge, 6)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			edges, err := c.NamespaceEdges(context.Background(), "shop", now.Add(-time.Hour), now)
			if err != nil {
				t.Error(err)
			}
			got[i] = edges
		}()
	}
	// Let them all queue up behind the first, then release one read.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		r := c.reading["shop"]
		c.mu.Unlock()
		if r != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(src.gate) // every read in flight goes through: there must be one
	wg.Wait()
	if n := src.count("shop"); n != 1 {
		t.Fatalf("%d store reads for 6 concurrent first requests, want 1", n)
	}
	for i := range got {
		if len(got[i]) != 5 || &got[i][0] != &got[0][0] {
			t.Fatalf("request %d got %d edges, not the shared slice", i, len(got[i]))
		}
	}

	// The reader gives up (its budget), a waiter does not: it reads.
	src.gate = make(chan struct{})
	short, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := c.NamespaceEdges(short, "bank", now, now)
		errs <- err
	}()
	for {
		c.mu.Lock()
		r := c.reading["bank"]
		c.mu.Unlock()
		if r != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	waiter := make(chan []flow.Edge, 1)
	go func() {
		edges, err := c.NamespaceEdges(context.Background(), "bank", now, now)
		if err != nil {
			t.Error(err)
		}
		waiter <- edges
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the reader whose budget ran out: %v", err)
	}
	src.gate <- struct{}{}
	if edges := <-waiter; len(edges) != 5 {
		t.Fatalf("the waiter got %d edges, want its own read", len(edges))
	}
}
