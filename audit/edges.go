package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/suggest"
)

// NamespaceEdgeReader reads every edge touching a namespace at once, but
// for those into it from workloads of the namespaces sources (store.Store
// does).
type NamespaceEdgeReader interface {
	NamespaceEdgesExcept(ctx context.Context, ns string, sources []string, from, to time.Time) ([]flow.Edge, error)
}

// passEdges holds a pass's edges in memory, by workload, each edge once:
// read with one query per namespace instead of two per workload, which in
// a large cluster cost a fifth of the pass. Each edge has a position, so
// that the pass judges it once without a map of edges, and its ends are
// numbered, so that what the pass needs of an endpoint is worked out once
// per endpoint, not once per edge (hashing endpoints, four strings each,
// was a large part of the pass).
type passEdges struct {
	// batches are the namespaces' query results; in and out point into
	// them (appending the large Edge values themselves, per endpoint, cost
	// more in slice growth than the queries).
	batches [][]flow.Edge
	// ends[b][i] are the ids of batches[b][i]'s source and destination.
	ends [][][2]int32
	// offsets[b] is the position of batches[b][0].
	offsets []int32
	total   int
	// ids numbers the endpoints of the filed edges; eps, in and out are
	// by id.
	ids     map[flow.Endpoint]int32
	eps     []flow.Endpoint
	in, out [][]edgeRef
}

// edgeRef is batches[batch][index].
type edgeRef struct{ batch, index int32 }

// id numbers an endpoint.
func (p *passEdges) id(e flow.Endpoint) int32 {
	if i, ok := p.ids[e]; ok {
		return i
	}
	i := int32(len(p.eps))
	p.ids[e] = i
	p.eps = append(p.eps, e)
	p.in, p.out = append(p.in, nil), append(p.out, nil)
	return i
}

// bulkEdges reads the window's edges of all namespaces. A reader that
// cannot read by namespace is asked per workload and Service of inv.
func bulkEdges(ctx context.Context, r suggest.EdgeReader, inv *inventory.Inventory, namespaces []string, from, to time.Time) (*passEdges, error) {
	endpoints := len(inv.Workloads) + len(inv.Services)
	p := &passEdges{ids: make(map[flow.Endpoint]int32, endpoints)}
	nr, ok := r.(NamespaceEdgeReader)
	if !ok {
		edges, err := edgesOfEach(ctx, r, inv, from, to)
		if err != nil {
			return nil, err
		}
		p.file(edges)
		return p, nil
	}
	for _, ns := range namespaces {
		// An edge between two namespaces is read with its source's
		// namespace, or with its destination's when its source is not a
		// workload of a listed namespace: each edge once.
		edges, err := nr.NamespaceEdgesExcept(ctx, ns, namespaces, from, to)
		if err != nil {
			return nil, err
		}
		p.file(edges)
	}
	return p, nil
}

// file adds a batch of edges, each as its source's egress and its
// destination's ingress (for workload ends).
func (p *passEdges) file(edges []flow.Edge) {
	batch := int32(len(p.batches))
	p.batches = append(p.batches, edges)
	ends := make([][2]int32, len(edges))
	p.ends = append(p.ends, ends)
	p.offsets = append(p.offsets, int32(p.total))
	p.total += len(edges)
	for i := range edges {
		e := &edges[i]
		ref := edgeRef{batch, int32(i)}
		src, dst := p.id(e.Src), p.id(e.Dst)
		ends[i] = [2]int32{src, dst}
		if e.Src.Kind == flow.EndpointWorkload {
			p.out[src] = append(p.out[src], ref)
		}
		if e.Dst.Kind == flow.EndpointWorkload {
			p.in[dst] = append(p.in[dst], ref)
		}
	}
}

// edgesOfEach reads every workload's and Service's edges and keeps each
// edge once.
func edgesOfEach(ctx context.Context, r suggest.EdgeReader, inv *inventory.Inventory, from, to time.Time) ([]flow.Edge, error) {
	var eps []flow.Endpoint
	for _, w := range inv.Workloads {
		eps = append(eps, flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
	}
	for _, s := range inv.Services {
		eps = append(eps, inventory.ServiceEndpoint(s.Namespace, s.Name))
	}
	seen := map[flow.EdgeKey]bool{}
	var out []flow.Edge
	for _, ep := range eps {
		in, eg, err := r.WorkloadEdges(ctx, ep, from, to)
		if err != nil {
			return nil, fmt.Errorf("read edges of %s: %w", ep, err)
		}
		for _, e := range slices.Concat(in, eg) {
			if !seen[e.EdgeKey] {
				seen[e.EdgeKey] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// edgesOf appends to in and out the subject's ingress edges (its own and
// those of the Services selecting it) and egress edges.
func (p *passEdges) edgesOf(l *suggest.Lookup, subject flow.Endpoint, in, out []edgeRef) ([]edgeRef, []edgeRef) {
	if i, ok := p.ids[subject]; ok {
		in, out = append(in, p.in[i]...), append(out, p.out[i]...)
	}
	for _, svc := range l.ServicesSelecting(subject) {
		if i, ok := p.ids[svc]; ok {
			in = append(in, p.in[i]...)
		}
	}
	return in, out
}

// edge is the edge at ref, its position and its ends' ids.
func (p *passEdges) edge(r edgeRef) (*flow.Edge, int32, [2]int32) {
	return &p.batches[r.batch][r.index], p.offsets[r.batch] + r.index, p.ends[r.batch][r.index]
}

// WorkloadEdges answers from memory; the window is the pass's.
func (p *passEdges) WorkloadEdges(_ context.Context, ep flow.Endpoint, _, _ time.Time) (ingress, egress []flow.Edge, err error) {
	i, ok := p.ids[ep]
	if !ok {
		return nil, nil, nil
	}
	return p.edges(p.in[i]), p.edges(p.out[i]), nil
}

func (p *passEdges) edges(refs []edgeRef) []flow.Edge {
	if len(refs) == 0 {
		return nil
	}
	out := make([]flow.Edge, len(refs))
	for i, r := range refs {
		out[i] = p.batches[r.batch][r.index]
	}
	return out
}
