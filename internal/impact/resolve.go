package impact

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// ServiceKind is the WorkloadKind of a Service endpoint (as
// inventory.ServiceEndpointKind).
const ServiceKind = "Service"

// nodeKind is the kind of the stand-in workload of a node: a host-network
// workload, which policies neither isolate nor select, with the node's
// address when known.
const nodeKind = "Node"

func nodeWorkload(name string, addr netip.Addr) *netpol.Workload {
	w := &netpol.Workload{Kind: nodeKind, Name: name, HostNetwork: true, Node: name}
	if addr.IsValid() {
		w.IPs = []netip.Addr{addr}
	}
	return w
}

// resolved is what a flow endpoint stands for in the engine: one endpoint,
// or (for a Service) the workloads backing it, with the names they report
// as. The endpoints are resolved by the current index, so that it and the
// indexes derived from it judge them without looking them up again.
type resolved struct {
	one netpol.ResolvedEndpoint
	svc *service // for a Service: its backends, never empty
}

// pick returns the backend reported as name (one of the Service's names),
// else one.
func (r *resolved) pick(name *flow.Endpoint) netpol.ResolvedEndpoint {
	if r.svc != nil {
		for i := range r.svc.names {
			if &r.svc.names[i] == name {
				return r.svc.backends[i]
			}
		}
	}
	return r.one
}

// resolver maps flow endpoints to engine endpoints for one what-if,
// collecting what it had to skip.
type resolver struct {
	a *Analyzer
	// nodes are stand-ins for nodes without a known address.
	nodes map[string]netpol.ResolvedEndpoint
	skips map[flow.Endpoint]*Skip
	// last remembers the latest resolution of each side: edges come
	// sorted by source (as the store returns them), so most sources repeat.
	last [2]memo
	// pair is the one forEachPair hands out (not one allocation each).
	pair pair
}

type memo struct {
	ep  flow.Endpoint
	res resolved
	ok  bool
}

// resolveSide is resolve through the memo of one side.
func (r *resolver) resolveSide(side int, ep *flow.Endpoint) (*resolved, string) {
	m := &r.last[side]
	if m.ok && m.ep == *ep {
		return &m.res, ""
	}
	res, why := r.resolve(ep)
	if why != "" {
		return nil, why
	}
	*m = memo{ep: *ep, res: res, ok: true}
	return &m.res, ""
}

func (a *Analyzer) newResolver() *resolver { return &resolver{a: a} }

// workloadRef is a workload as lookups by name see it.
type workloadRef struct {
	namespace, kind string
	ep              netpol.ResolvedEndpoint
	// next is the index of the next workload of the same name, -1 at the
	// last.
	next int32
}

// workload finds a workload by namespace, kind and name: one probe of a
// small map, then the workloads of that name.
func (a *Analyzer) workload(ns, kind, name string) (netpol.ResolvedEndpoint, bool) {
	i, ok := a.workloads[name]
	if !ok {
		return netpol.ResolvedEndpoint{}, false
	}
	for ; i >= 0; i = a.workloadRefs[i].next {
		if w := &a.workloadRefs[i]; w.namespace == ns && w.kind == kind {
			return w.ep, true
		}
	}
	return netpol.ResolvedEndpoint{}, false
}

// workloadRef returns the position in workloadRefs of the workload ep
// names, -1 when ep is not a workload endpoint the cluster knows (a
// Service, a node, an address, a workload gone).
func (a *Analyzer) workloadRef(ep *flow.Endpoint) int32 {
	if ep.Kind != flow.EndpointWorkload || ep.WorkloadKind == ServiceKind {
		return -1
	}
	i, ok := a.workloads[ep.Name]
	if !ok {
		return -1
	}
	for ; i >= 0; i = a.workloadRefs[i].next {
		if w := &a.workloadRefs[i]; w.namespace == ep.Namespace && w.kind == ep.WorkloadKind {
			return i
		}
	}
	return -1
}

// resolve maps ep; reason is not empty when it cannot be judged.
func (r *resolver) resolve(ep *flow.Endpoint) (res resolved, reason string) {
	switch ep.Kind {
	case flow.EndpointWorkload:
		if ep.WorkloadKind == ServiceKind {
			svc := r.a.services[nsName{ep.Namespace, ep.Name}]
			switch {
			case svc == nil:
				return res, "Service not in the cluster"
			case len(svc.Selector) == 0:
				return res, "Service without selector: its backends are not known"
			case len(svc.backends) == 0:
				return res, "Service selects no workload"
			}
			res.svc = svc
			return res, ""
		}
		w, ok := r.a.workload(ep.Namespace, ep.WorkloadKind, ep.Name)
		if !ok {
			return res, "workload not in the cluster (deleted?)"
		}
		res.one = w
	case flow.EndpointNode:
		w, ok := r.a.nodes[ep.Name]
		if !ok {
			if w, ok = r.nodes[ep.Name]; !ok {
				if r.nodes == nil {
					r.nodes = make(map[string]netpol.ResolvedEndpoint)
				}
				w = r.a.current.Resolve(netpol.WorkloadEndpoint(nodeWorkload(ep.Name, netip.Addr{})))
				r.nodes[ep.Name] = w
			}
		}
		res.one = w
	case flow.EndpointAddress:
		if !ep.Addr.IsValid() {
			return res, "address endpoint without an address"
		}
		res.one = r.a.current.Resolve(netpol.AddrEndpoint(ep.Addr))
	default:
		return res, "endpoint of unknown kind"
	}
	return res, ""
}

func (r *resolver) skip(ep flow.Endpoint, reason string, e *flow.Edge) {
	if r.skips == nil {
		r.skips = make(map[flow.Endpoint]*Skip)
	}
	s := r.skips[ep]
	if s == nil {
		s = &Skip{Endpoint: ep, Reason: reason}
		r.skips[ep] = s
	}
	s.Edges++
	s.Count += e.Count
}

// skipped returns the skips, most connections first.
func (r *resolver) skipped() []Skip {
	if len(r.skips) == 0 {
		return nil
	}
	out := make([]Skip, 0, len(r.skips))
	for _, s := range r.skips {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Skip) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), compareEndpoints(&a.Endpoint, &b.Endpoint))
	})
	return out
}

// pair is one connection to judge: an edge, or one backend of a Service
// edge.
type pair struct {
	edge     *flow.Edge
	src, dst netpol.ResolvedEndpoint
	// srcName and dstName are what src and dst report as: the edge's
	// endpoints, or the backend's for an expanded Service.
	srcName, dstName *flow.Endpoint
	expanded         bool
}

// judged is a judged pair that a change affects, kept small: there may
// be tens of thousands. pairOf rebuilds the pair for an explanation.
type judged struct {
	edge             *flow.Edge
	srcName, dstName *flow.Endpoint
	// count is the edge's Count: report ranks by it without going back
	// to the edges.
	count    uint64
	class    class
	expanded bool
}

// appendJudged appends p judged c, doubling the capacity when full:
// append grows big slices by a quarter only.
func appendJudged(js []judged, p *pair, c class) []judged {
	if len(js) == cap(js) {
		grown := make([]judged, len(js), max(256, 2*cap(js)))
		copy(grown, js)
		js = grown
	}
	return appendJudgedRef(js, judged{edge: p.edge, srcName: p.srcName, dstName: p.dstName, class: c, expanded: p.expanded})
}

// appendJudgedRef is appendJudged for a judged pair already made.
func appendJudgedRef(js []judged, j judged) []judged {
	if len(js) == cap(js) {
		grown := make([]judged, len(js), max(256, 2*cap(js)))
		copy(grown, js)
		js = grown
	}
	j.count = j.edge.Count
	return append(js, j)
}

// pairOf resolves a judged pair's endpoints again (an edge that was
// judged resolves).
func (r *resolver) pairOf(j *judged) pair {
	src, _ := r.resolve(&j.edge.Src)
	dst, _ := r.resolve(&j.edge.Dst)
	return pair{edge: j.edge, src: src.pick(j.srcName), dst: dst.pick(j.dstName),
		srcName: j.srcName, dstName: j.dstName, expanded: j.expanded}
}

// verdict judges the pair under ix.
func (p *pair) verdict(ix *netpol.Index) bool {
	proto, _ := p.edge.Protocol.Kubernetes()
	return ix.VerdictResolved(&p.src, &p.dst, proto, int32(p.edge.Port))
}

// classify judges the pair under the current index and the proposed
// one, which differ at most in egress at the source (srcChanges) and
// ingress at the destination (dstChanges): a side that does not change
// is judged once, and when it denies, the pair stays red whatever the
// other.
func (p *pair) classify(current, proposed *netpol.Index, srcChanges, dstChanges bool) class {
	proto, _ := p.edge.Protocol.Kubernetes()
	port := int32(p.edge.Port)
	if !srcChanges && !current.SideVerdict(netpol.Egress, &p.src, &p.dst, proto, port) ||
		!dstChanges && !current.SideVerdict(netpol.Ingress, &p.src, &p.dst, proto, port) {
		return staysRed
	}
	before, after := true, true
	if srcChanges {
		before = current.SideVerdict(netpol.Egress, &p.src, &p.dst, proto, port)
		after = proposed.SideVerdict(netpol.Egress, &p.src, &p.dst, proto, port)
	}
	if dstChanges {
		before = before && current.SideVerdict(netpol.Ingress, &p.src, &p.dst, proto, port)
		after = after && proposed.SideVerdict(netpol.Ingress, &p.src, &p.dst, proto, port)
	}
	return classify(before, after)
}

// explain explains the pair's verdict under ix.
func (p *pair) explain(ix *netpol.Index, brief bool) netpol.Explanation {
	proto, _ := p.edge.Protocol.Kubernetes()
	if brief {
		return ix.ExplainBrief(p.src.Endpoint, p.dst.Endpoint, proto, int32(p.edge.Port))
	}
	return ix.Explain(p.src.Endpoint, p.dst.Endpoint, proto, int32(p.edge.Port))
}

// forEachPair resolves an edge and calls fn for each connection it stands
// for (fn must not keep p); it returns false when the edge was skipped.
func (r *resolver) forEachPair(e *flow.Edge, fn func(p *pair)) bool {
	if _, ok := e.Protocol.Kubernetes(); !ok {
		r.skip(e.Dst, "protocol NetworkPolicies do not know", e)
		return false
	}
	src, why := r.resolveSide(0, &e.Src)
	if why != "" {
		r.skip(e.Src, why, e)
		return false
	}
	dst, why := r.resolveSide(1, &e.Dst)
	if why != "" {
		r.skip(e.Dst, why, e)
		return false
	}
	p := &r.pair
	*p = pair{edge: e, src: src.one, dst: dst.one, srcName: &e.Src, dstName: &e.Dst}
	if src.svc == nil && dst.svc == nil {
		fn(p)
		return true
	}
	p.expanded = true
	srcs, dsts := 1, 1
	if src.svc != nil {
		srcs = len(src.svc.backends)
	}
	if dst.svc != nil {
		dsts = len(dst.svc.backends)
	}
	for i := range srcs {
		if src.svc != nil {
			p.src, p.srcName = src.svc.backends[i], &src.svc.names[i]
		}
		for j := range dsts {
			if dst.svc != nil {
				p.dst, p.dstName = dst.svc.backends[j], &dst.svc.names[j]
			}
			fn(p)
		}
	}
	return true
}

// isPodIn reports whether policies of namespace ns can isolate e.
func isPodIn(e *netpol.ResolvedEndpoint, ns string) bool {
	return e.Workload != nil && !e.Workload.HostNetwork && e.Workload.Namespace == ns
}

func isPod(e *netpol.ResolvedEndpoint) bool { return e.Workload != nil && !e.Workload.HostNetwork }

// compareEndpoints orders endpoints by kind, then namespace, name and kind,
// or address.
func compareEndpoints(a, b *flow.Endpoint) int {
	return cmp.Or(
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.WorkloadKind, b.WorkloadKind),
		a.Addr.Compare(b.Addr),
	)
}
