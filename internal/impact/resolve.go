package impact

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

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
// as.
type resolved struct {
	one      netpol.Endpoint
	backends []netpol.Endpoint
	names    []flow.Endpoint
}

// resolver maps flow endpoints to engine endpoints for one what-if,
// collecting what it had to skip.
type resolver struct {
	a *Analyzer
	// nodes are stand-ins for nodes without a known address.
	nodes map[string]*netpol.Workload
	skips map[flow.Endpoint]*Skip
	// last remembers the latest resolution of each side: edges come
	// sorted by source (as the store returns them), so most sources repeat.
	last [2]memo
}

type memo struct {
	ep  flow.Endpoint
	res resolved
	ok  bool
}

// resolveSide is resolve through the memo of one side.
func (r *resolver) resolveSide(side int, ep *flow.Endpoint) (resolved, string) {
	m := &r.last[side]
	if m.ok && m.ep == *ep {
		return m.res, ""
	}
	res, why := r.resolve(ep)
	if why == "" {
		*m = memo{ep: *ep, res: res, ok: true}
	}
	return res, why
}

func (a *Analyzer) newResolver() *resolver { return &resolver{a: a} }

// workload finds a workload by namespace, kind and name.
func (a *Analyzer) workload(ns, kind, name string) *netpol.Workload {
	for _, w := range a.workloads[name] {
		if w.Namespace == ns && w.Kind == kind {
			return w
		}
	}
	return nil
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
			res.backends, res.names = svc.backends, svc.names
			return res, ""
		}
		w := r.a.workload(ep.Namespace, ep.WorkloadKind, ep.Name)
		if w == nil {
			return res, "workload not in the cluster (deleted?)"
		}
		res.one = netpol.WorkloadEndpoint(w)
	case flow.EndpointNode:
		w := r.a.nodes[ep.Name]
		if w == nil {
			if w = r.nodes[ep.Name]; w == nil {
				if r.nodes == nil {
					r.nodes = make(map[string]*netpol.Workload)
				}
				w = nodeWorkload(ep.Name, netip.Addr{})
				r.nodes[ep.Name] = w
			}
		}
		res.one = netpol.WorkloadEndpoint(w)
	case flow.EndpointAddress:
		if !ep.Addr.IsValid() {
			return res, "address endpoint without an address"
		}
		res.one = netpol.AddrEndpoint(ep.Addr)
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

// pair is one judged connection: an edge, or one backend of a Service edge.
type pair struct {
	edge     *flow.Edge
	src, dst netpol.Endpoint
	// srcName and dstName are what src and dst report as: the edge's
	// endpoints, or the backend's for an expanded Service.
	srcName, dstName *flow.Endpoint
	expanded         bool
}

// appendPair appends p, doubling the capacity when full: pairs are
// many and large, and append grows big slices by a quarter only.
func appendPair(pairs []pair, p pair) []pair {
	if len(pairs) == cap(pairs) {
		grown := make([]pair, len(pairs), max(256, 2*cap(pairs)))
		copy(grown, pairs)
		pairs = grown
	}
	return append(pairs, p)
}

// verdict judges the pair under ix.
func (p *pair) verdict(ix *netpol.Index) bool {
	proto, _ := engineProtocol(p.edge.Protocol)
	return ix.Verdict(p.src, p.dst, proto, int32(p.edge.Port))
}

// explain explains the pair's verdict under ix.
func (p *pair) explain(ix *netpol.Index) netpol.Explanation {
	proto, _ := engineProtocol(p.edge.Protocol)
	return ix.Explain(p.src, p.dst, proto, int32(p.edge.Port))
}

// forEachPair resolves an edge and calls fn for each connection it stands
// for; it returns false when the edge was skipped.
func (r *resolver) forEachPair(e *flow.Edge, fn func(p pair)) bool {
	if _, ok := engineProtocol(e.Protocol); !ok {
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
	p := pair{edge: e, src: src.one, dst: dst.one, srcName: &e.Src, dstName: &e.Dst}
	if src.backends == nil && dst.backends == nil {
		fn(p)
		return true
	}
	p.expanded = true
	srcs, srcNames := src.endpoints(&e.Src)
	dsts, dstNames := dst.endpoints(&e.Dst)
	for i := range srcs {
		for j := range dsts {
			p.src, p.dst = srcs[i], dsts[j]
			p.srcName, p.dstName = srcNames[i], dstNames[j]
			fn(p)
		}
	}
	return true
}

// endpoints lists what r stands for and their names.
func (r resolved) endpoints(name *flow.Endpoint) ([]netpol.Endpoint, []*flow.Endpoint) {
	if r.backends == nil {
		return []netpol.Endpoint{r.one}, []*flow.Endpoint{name}
	}
	names := make([]*flow.Endpoint, len(r.names))
	for i := range r.names {
		names[i] = &r.names[i]
	}
	return r.backends, names
}

func engineProtocol(p flow.Protocol) (corev1.Protocol, bool) {
	switch p {
	case flow.ProtocolTCP:
		return corev1.ProtocolTCP, true
	case flow.ProtocolUDP:
		return corev1.ProtocolUDP, true
	case flow.ProtocolSCTP:
		return corev1.ProtocolSCTP, true
	}
	return "", false
}

// isPodIn reports whether policies of namespace ns can isolate e.
func isPodIn(e netpol.Endpoint, ns string) bool {
	return e.Workload != nil && !e.Workload.HostNetwork && e.Workload.Namespace == ns
}

func isPod(e netpol.Endpoint) bool { return e.Workload != nil && !e.Workload.HostNetwork }

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
