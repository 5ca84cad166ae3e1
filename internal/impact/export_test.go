package impact

// CachedBytes is about how much memory a's cache of namespace ns takes.
func CachedBytes(a *Analyzer, ns string) int { return a.cachedBytes(ns) }
