package impact

import (
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// An Analyzer remembers, per namespace, what the what-ifs over the
// namespace's edges share whatever the change: each edge's endpoints
// resolved (Services expanded to their backends) and each connection's
// sides judged under the current set (netpol.SideTally). A what-if then
// only judges the sides the change touches under the proposed set, and
// for a policy change only the old and the new policy's rules.
//
// The cache is built from the edges of the first what-if over the
// namespace and is the Analyzer's: a new cluster snapshot, a new Analyzer,
// a new cache. Edges are matched by their key (endpoints, protocol, port),
// never by position or slice, so that traffic observed since the cache was
// built is judged on the fly, and edges gone from the window are simply
// not asked for. When many edges are new, the entry is dropped and the next
// what-if rebuilds it.
//
// Size: for 20,000 edges expanding to about 31,000 connections, about
// 2 MB (about 16 bytes per connection, 24 per edge, the endpoint tables
// and, once an edge is not where expected, a map from edge to position).
// At most maxCachedNamespaces namespaces and maxCachedConnections
// connections in all are kept, the least recently used dropped first.

const (
	maxCachedNamespaces  = 64
	maxCachedConnections = 1 << 21 // about 32 MB of connections, 64 MB in all
)

// edgeCache is the Analyzer's cache, by namespace.
type edgeCache struct {
	mu    sync.Mutex
	byNS  map[string]*nsEdges
	clock atomic.Uint64 // stamps uses, for LRU
	conns int           // cached connections, all namespaces
}

// nsEdges is what the cache holds for one namespace's edges. It does not
// change once built, but for its lazily built edge index and its stamp.
type nsEdges struct {
	ns string
	// keys are the distinct edge endpoints as the edges name them, with
	// what they resolve to: eps[keyEps[k]:keyEps[k+1]] (a Service: its
	// backends; none when it does not resolve).
	keys []flow.Endpoint
	// byWorkload are the keys of workload endpoints, by position in the
	// Analyzer's workloadRefs (-1: none yet); keyIndex the others'.
	byWorkload []int32
	keyIndex   map[flow.Endpoint]int32
	keyEps     []int32
	eps        []cachedEndpoint
	edges      []cachedEdge
	conns      []cachedConn

	indexOnce sync.Once
	index     map[edgeRef]int32

	// source is a slice whose edges are the cache's, position for
	// position (the one it was built from, or a later one found to be):
	// a what-if over that very slice (the webhook's edge cache hands out
	// the same one until it reads again) takes edges[i] as edges[i]
	// without matching keys. A weak pointer: the cache must not keep a
	// namespace's edges alive (they are ten times its size), and a freed
	// array's address, reused, does not compare equal.
	source atomic.Pointer[sourceRef]

	used atomic.Uint64
}

// cachedEndpoint is one endpoint of connections.
type cachedEndpoint struct {
	res netpol.ResolvedEndpoint
	// name is a Service backend's name (one of the Service's names, as
	// the resolver's pick wants it); nil for the edge's own endpoint.
	name *flow.Endpoint
	// local is the workload's position in the Analyzer's byNamespace of
	// the cache's namespace, -1 when it is not one of its workloads.
	local int32
}

// cachedEdge is one edge: its key and its connections,
// conns[first:first+n]. n < 0: the edge is judged on the fly (it is
// skipped, for a reason the resolver records per what-if).
type cachedEdge struct {
	src, dst int32 // keys
	port     uint16
	protocol flow.Protocol
	expanded bool
	first, n int32
}

type edgeRef struct {
	src, dst int32
	port     uint16
	protocol flow.Protocol
}

// cachedConn is one connection with its sides judged under the current
// set.
type cachedConn struct {
	src, dst        int32 // eps
	egress, ingress netpol.SideTally
}

// forNamespace returns the cache of ns, built from edges when there is
// none.
func (a *Analyzer) cachedEdges(ns string, edges []flow.Edge) *nsEdges {
	c := &a.edgeCache
	c.mu.Lock()
	e := c.byNS[ns]
	c.mu.Unlock()
	if e == nil {
		e = a.buildEdges(ns, edges)
		c.mu.Lock()
		if old := c.byNS[ns]; old != nil {
			c.conns -= len(old.conns)
		}
		if c.byNS == nil {
			c.byNS = make(map[string]*nsEdges)
		}
		c.byNS[ns] = e
		c.conns += len(e.conns)
		c.evictLocked(e)
		c.mu.Unlock()
	}
	e.used.Store(c.clock.Add(1))
	return e
}

// evictLocked drops the least recently used namespaces while the cache
// holds too much, keeping keep.
func (c *edgeCache) evictLocked(keep *nsEdges) {
	for len(c.byNS) > maxCachedNamespaces || c.conns > maxCachedConnections {
		var lru *nsEdges
		for _, e := range c.byNS {
			if e != keep && (lru == nil || e.used.Load() < lru.used.Load()) {
				lru = e
			}
		}
		if lru == nil {
			return
		}
		delete(c.byNS, lru.ns)
		c.conns -= len(lru.conns)
	}
}

// drop forgets e (when too many edges were not in it).
func (c *edgeCache) drop(e *nsEdges) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byNS[e.ns] == e {
		delete(c.byNS, e.ns)
		c.conns -= len(e.conns)
	}
}

// cachedBytes is about how much memory the cache of ns takes (for tests
// and benchmarks).
func (a *Analyzer) cachedBytes(ns string) int {
	a.edgeCache.mu.Lock()
	e := a.edgeCache.byNS[ns]
	a.edgeCache.mu.Unlock()
	if e == nil {
		return 0
	}
	// Maps take about twice their items' size.
	const mapFactor = 2
	var (
		key  flow.Endpoint
		ep   cachedEndpoint
		edge cachedEdge
		conn cachedConn
		ref  edgeRef
	)
	n := (len(e.keys)+len(e.keyIndex)*mapFactor)*int(unsafe.Sizeof(key)) + (len(e.byWorkload)+len(e.keyEps))*4 + len(e.eps)*int(unsafe.Sizeof(ep)) +
		len(e.edges)*int(unsafe.Sizeof(edge)) + len(e.conns)*int(unsafe.Sizeof(conn))
	if e.index != nil {
		n += len(e.index) * int(unsafe.Sizeof(ref)+4) * mapFactor
	}
	return n
}

// buildEdges resolves and judges the edges of ns under the current set.
func (a *Analyzer) buildEdges(ns string, edges []flow.Edge) *nsEdges {
	c := &nsEdges{ns: ns, keyIndex: make(map[flow.Endpoint]int32), keyEps: []int32{0}, byWorkload: make([]int32, len(a.workloadRefs)),
		edges: make([]cachedEdge, 0, len(edges)), conns: make([]cachedConn, 0, len(edges)*3/2)}
	c.adopt(edges)
	local := make(map[*netpol.Workload]int32, len(a.byNamespace[ns]))
	for i, w := range a.byNamespace[ns] {
		local[w] = int32(i)
	}
	for i := range c.byWorkload {
		c.byWorkload[i] = -1
	}
	r := a.newResolver()
	last := int32(-1) // the latest source: edges come sorted by source
	key := func(ep *flow.Endpoint) int32 {
		if last >= 0 && c.keys[last] == *ep {
			return last
		}
		k, ok := c.lookup(a, ep)
		if ok {
			return k
		}
		k = int32(len(c.keys))
		c.keys = append(c.keys, *ep)
		if w := a.workloadRef(ep); w >= 0 {
			c.byWorkload[w] = k
		} else {
			c.keyIndex[*ep] = k
		}
		if res, why := r.resolve(ep); why == "" {
			add := func(re netpol.ResolvedEndpoint, name *flow.Endpoint) {
				l, ok := local[re.Workload]
				if !ok || re.Workload == nil {
					l = -1
				}
				c.eps = append(c.eps, cachedEndpoint{res: re, name: name, local: l})
			}
			if res.svc != nil {
				for i := range res.svc.backends {
					add(res.svc.backends[i], &res.svc.names[i])
				}
			} else {
				add(res.one, nil)
			}
		}
		c.keyEps = append(c.keyEps, int32(len(c.eps)))
		return k
	}
	for i := range edges {
		e := &edges[i]
		ce := cachedEdge{src: key(&e.Src), port: e.Port, protocol: e.Protocol, first: int32(len(c.conns))}
		last = ce.src
		ce.dst = key(&e.Dst)
		srcs, dsts := c.eps[c.keyEps[ce.src]:c.keyEps[ce.src+1]], c.eps[c.keyEps[ce.dst]:c.keyEps[ce.dst+1]]
		proto, ok := e.Protocol.Kubernetes()
		if !ok || len(srcs) == 0 || len(dsts) == 0 || !inNamespace(e.Src, ns) && !inNamespace(e.Dst, ns) {
			// Judged on the fly, when asked (not at all when it does not
			// touch ns).
			ce.n = -1
			c.edges = append(c.edges, ce)
			continue
		}
		ce.expanded = e.Src.WorkloadKind == ServiceKind && e.Src.Kind == flow.EndpointWorkload ||
			e.Dst.WorkloadKind == ServiceKind && e.Dst.Kind == flow.EndpointWorkload
		port := int32(e.Port)
		for si := range srcs {
			for di := range dsts {
				s, d := &srcs[si].res, &dsts[di].res
				c.conns = append(c.conns, cachedConn{
					src:     c.keyEps[ce.src] + int32(si),
					dst:     c.keyEps[ce.dst] + int32(di),
					egress:  a.current.SideTally(netpol.Egress, s, d, proto, port),
					ingress: a.current.SideTally(netpol.Ingress, s, d, proto, port),
				})
			}
		}
		ce.n = int32(len(c.conns)) - ce.first
		c.edges = append(c.edges, ce)
	}
	return c
}

type sourceRef struct {
	first weak.Pointer[flow.Edge]
	n     int
}

// builtFrom reports whether edges is the cache's source slice: then
// c.edges[i] is edges[i]'s.
func (c *nsEdges) builtFrom(edges []flow.Edge) bool {
	s := c.source.Load()
	return s != nil && len(edges) > 0 && len(edges) == s.n && s.first.Value() == unsafe.SliceData(edges)
}

// adopt makes edges the source slice; the caller knows that its edges are
// the cache's, position for position.
func (c *nsEdges) adopt(edges []flow.Edge) {
	if len(edges) > 0 {
		c.source.Store(&sourceRef{weak.Make(unsafe.SliceData(edges)), len(edges)})
	}
}

// inPlace reports whether find found edges[i] at position i: counted over
// a what-if, every edge so found means the slice can be adopted.
func (c *nsEdges) inPlace(ce *cachedEdge, i int) bool {
	return i < len(c.edges) && ce == &c.edges[i]
}

// find returns the position of e's key in the cache, trying at
// *cursor first (edges come in the same order as when the cache was
// built, but for those new or gone since), and moves the cursor past it.
func (c *nsEdges) find(a *Analyzer, e *flow.Edge, cursor *int) (*cachedEdge, bool) {
	if k := *cursor; k < len(c.edges) && c.matches(&c.edges[k], e) {
		*cursor = k + 1
		return &c.edges[k], true
	}
	src, ok := c.lookup(a, &e.Src)
	if !ok {
		return nil, false
	}
	dst, ok := c.lookup(a, &e.Dst)
	if !ok {
		return nil, false
	}
	c.indexOnce.Do(func() {
		c.index = make(map[edgeRef]int32, len(c.edges))
		for i, ce := range c.edges {
			c.index[edgeRef{ce.src, ce.dst, ce.port, ce.protocol}] = int32(i)
		}
	})
	k, ok := c.index[edgeRef{src, dst, e.Port, e.Protocol}]
	if !ok {
		return nil, false
	}
	*cursor = int(k) + 1
	return &c.edges[k], true
}

// lookup returns the key of ep.
func (c *nsEdges) lookup(a *Analyzer, ep *flow.Endpoint) (int32, bool) {
	if w := a.workloadRef(ep); w >= 0 {
		k := c.byWorkload[w]
		return k, k >= 0
	}
	k, ok := c.keyIndex[*ep]
	return k, ok
}

func (c *nsEdges) matches(ce *cachedEdge, e *flow.Edge) bool {
	return ce.port == e.Port && ce.protocol == e.Protocol && c.keys[ce.src] == e.Src && c.keys[ce.dst] == e.Dst
}

// tooManyMisses reports whether a what-if judged so many edges on the fly
// that the cache is better rebuilt.
func tooManyMisses(misses, edges int) bool {
	return misses > 64 && misses > edges/8
}

// names returns what the connection's endpoints report as: a backend's
// name, else the edge's endpoint.
func (c *nsEdges) names(cc *cachedConn, e *flow.Edge) (src, dst *flow.Endpoint) {
	src, dst = c.eps[cc.src].name, c.eps[cc.dst].name
	if src == nil {
		src = &e.Src
	}
	if dst == nil {
		dst = &e.Dst
	}
	return src, dst
}
