package impact

import "github.com/redline-dev/redline/internal/flow"

// CachedBytes is about how much memory a's cache of namespace ns takes.
func CachedBytes(a *Analyzer, ns string) int { return a.cachedBytes(ns) }

// CacheTakesByPosition reports whether a what-if over edges in ns would
// take the cache's edges by position (the fast path), for the tests.
func (a *Analyzer) CacheTakesByPosition(ns string, edges []flow.Edge) bool {
	a.edgeCache.mu.Lock()
	c := a.edgeCache.byNS[ns]
	a.edgeCache.mu.Unlock()
	return c != nil && c.builtFrom(edges)
}
