package webhook

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redline-dev/redline/internal/flow"
)

const (
	// DefaultEdgeCacheTTL is how long a namespace's edges, read from the
	// store, serve what-ifs before they are read again. Reading 20,000
	// edges of a week takes tens of milliseconds, ten times the decision;
	// traffic of the last half minute counting a little later is the
	// price.
	DefaultEdgeCacheTTL = 30 * time.Second
	// maxCachedEdges bounds the edges kept, all namespaces together
	// (about 330 bytes each), the least recently used namespaces dropped
	// first.
	maxCachedEdges = 250_000
	// staleAfterTTLs: edges older than this many TTLs (their refreshes
	// failing) are read again before they are used.
	staleAfterTTLs = 10
	// refreshTimeout bounds a background refresh.
	refreshTimeout = 30 * time.Second
)

// edgeCache serves NamespaceEdges from memory. A namespace read less than
// a TTL ago is served as read; one read longer ago is served as read too,
// while a background refresh reads it again (one at a time per
// namespace), so that no admission request waits for the store but the
// first for a namespace. The slices it returns are shared: nobody may
// change them (impact.Analyzer recognises a slice it has seen and skips
// matching its edges again).
type edgeCache struct {
	src EdgeSource
	ttl time.Duration
	now func() time.Time
	log *slog.Logger
	max int // edges kept, all namespaces together

	mu    sync.Mutex
	byNS  map[string]*cachedEdges
	total int
	// reading are the first reads of namespaces in flight: requests for
	// the same namespace wait for it rather than read too (at start-up,
	// every request is a first).
	reading map[string]*coldRead
	// refreshes counts background refreshes in flight (tests wait).
	refreshes sync.WaitGroup
}

type coldRead struct {
	done  chan struct{}
	edges []flow.Edge
	err   error
}

type cachedEdges struct {
	edges      []flow.Edge
	read, used time.Time
	refreshing bool
}

func newEdgeCache(src EdgeSource, ttl time.Duration, log *slog.Logger) *edgeCache {
	return &edgeCache{src: src, ttl: ttl, now: time.Now, log: log, max: maxCachedEdges, byNS: map[string]*cachedEdges{}, reading: map[string]*coldRead{}}
}

// Healthy forwards the source's health check (the store's), which
// readiness reports; nil when the source has none.
func (c *edgeCache) Healthy() error {
	if h, ok := c.src.(interface{ Healthy() error }); ok {
		return h.Healthy()
	}
	return nil
}

// NamespaceEdges implements EdgeSource. The window of a cached read is
// the one of the request that read it.
func (c *edgeCache) NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error) {
	now := c.now()
	c.mu.Lock()
	e := c.byNS[ns]
	if e != nil && now.Sub(e.read) < staleAfterTTLs*c.ttl {
		e.used = now
		if now.Sub(e.read) >= c.ttl && !e.refreshing {
			e.refreshing = true
			c.refreshes.Add(1)
			go c.refresh(ns, to.Sub(from), to.Sub(now))
		}
		edges := e.edges
		c.mu.Unlock()
		return edges, nil
	}
	if r := c.reading[ns]; r != nil {
		c.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.err != nil && ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
			// The reader's budget ran out, not ours: read again.
			return c.NamespaceEdges(ctx, ns, from, to)
		}
		return r.edges, r.err
	}
	r := &coldRead{done: make(chan struct{})}
	c.reading[ns] = r
	c.mu.Unlock()
	r.edges, r.err = c.src.NamespaceEdges(ctx, ns, from, to)
	if r.err == nil {
		c.store(ns, r.edges, now)
	}
	c.mu.Lock()
	delete(c.reading, ns)
	c.mu.Unlock()
	close(r.done)
	return r.edges, r.err
}

// (store keeps the newer of two reads: a slow background refresh may end
// after a later synchronous read.)

// refresh reads ns again over a window as long as the request's, ending
// as far after now as the request's did.
func (c *edgeCache) refresh(ns string, window, slack time.Duration) {
	defer c.refreshes.Done()
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	now := c.now()
	edges, err := c.src.NamespaceEdges(ctx, ns, now.Add(slack-window), now.Add(slack))
	if err != nil {
		c.log.Warn("refresh observed edges; serving the previous read", "namespace", ns, "err", err)
		c.mu.Lock()
		if e := c.byNS[ns]; e != nil {
			e.refreshing = false
		}
		c.mu.Unlock()
		return
	}
	c.store(ns, edges, now)
}

func (c *edgeCache) store(ns string, edges []flow.Edge, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byNS[ns]; old != nil {
		if old.read.After(read) {
			return
		}
		c.total -= len(old.edges)
	}
	c.byNS[ns] = &cachedEdges{edges: edges, read: read, used: read}
	c.total += len(edges)
	for c.total > c.max && len(c.byNS) > 1 {
		var lru string
		for name, e := range c.byNS {
			if name != ns && (lru == "" || e.used.Before(c.byNS[lru].used)) {
				lru = name
			}
		}
		c.total -= len(c.byNS[lru].edges)
		delete(c.byNS, lru)
	}
}
