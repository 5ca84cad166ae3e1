package audit

import (
	"context"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/suggest"
)

// NamespaceEdgeReader reads every edge touching a namespace at once
// (store.Store does).
type NamespaceEdgeReader interface {
	NamespaceEdges(ctx context.Context, ns string, from, to time.Time) ([]flow.Edge, error)
}

// passEdges holds a pass's edges in memory, by workload: read with one
// query per namespace instead of two per workload, which in a large
// cluster cost a fifth of the pass.
type passEdges struct {
	// batches are the namespaces' query results; in and out point into
	// them (appending the large Edge values themselves, per endpoint, cost
	// more in slice growth than the queries).
	batches [][]flow.Edge
	in, out map[flow.Endpoint][]edgeRef
}

// edgeRef is batches[batch][index].
type edgeRef struct{ batch, index int32 }

// bulkEdges reads the window's edges of all namespaces when r can; else it
// returns r itself.
// endpoints is a size hint: about how many workloads have edges.
func bulkEdges(ctx context.Context, r suggest.EdgeReader, namespaces []string, endpoints int, from, to time.Time) (suggest.EdgeReader, error) {
	nr, ok := r.(NamespaceEdgeReader)
	if !ok {
		return r, nil
	}
	p := &passEdges{in: make(map[flow.Endpoint][]edgeRef, endpoints), out: make(map[flow.Endpoint][]edgeRef, endpoints)}
	listed := make(map[string]bool, len(namespaces))
	for _, ns := range namespaces {
		listed[ns] = true
	}
	for _, ns := range namespaces {
		edges, err := nr.NamespaceEdges(ctx, ns, from, to)
		if err != nil {
			return nil, err
		}
		// Each edge is a source's egress in the source's namespace and a
		// destination's ingress in the destination's: file it once each.
		// An edge between two namespaces comes back from both queries; its
		// egress is filed from the source's (or, when that namespace is
		// not listed, from the destination's).
		batch := int32(len(p.batches))
		p.batches = append(p.batches, edges)
		for i := range edges {
			e := &edges[i]
			ref := edgeRef{batch, int32(i)}
			if e.Src.Kind == flow.EndpointWorkload && (e.Src.Namespace == ns || !listed[e.Src.Namespace]) {
				p.out[e.Src] = append(p.out[e.Src], ref)
			}
			if e.Dst.Kind == flow.EndpointWorkload && e.Dst.Namespace == ns {
				p.in[e.Dst] = append(p.in[e.Dst], ref)
			}
		}
	}
	return p, nil
}

// edgesOf appends to in and out the subject's ingress edges (its own and
// those of the Services selecting it) and egress edges, as pointers into
// the pass's edges when they are in memory.
func edgesOf(ctx context.Context, r suggest.EdgeReader, l *suggest.Lookup, subject flow.Endpoint, from, to time.Time, in, out []*flow.Edge) ([]*flow.Edge, []*flow.Edge, error) {
	p, ok := r.(*passEdges)
	if !ok {
		ingress, egress, err := l.Gather(ctx, r, subject, from, to)
		if err != nil {
			return nil, nil, err
		}
		for i := range ingress {
			in = append(in, &ingress[i])
		}
		for i := range egress {
			out = append(out, &egress[i])
		}
		return in, out, nil
	}
	in = p.pointers(in, p.in[subject])
	for _, svc := range l.ServicesSelecting(subject) {
		in = p.pointers(in, p.in[svc])
	}
	return in, p.pointers(out, p.out[subject]), nil
}

func (p *passEdges) pointers(dst []*flow.Edge, refs []edgeRef) []*flow.Edge {
	for _, r := range refs {
		dst = append(dst, &p.batches[r.batch][r.index])
	}
	return dst
}

// edgeCount is how many edges r holds, when it knows (a size hint).
func edgeCount(r suggest.EdgeReader) int {
	p, ok := r.(*passEdges)
	if !ok {
		return 0
	}
	n := 0
	for _, b := range p.batches {
		n += len(b)
	}
	return n
}

// WorkloadEdges answers from memory; the window is the pass's.
func (p *passEdges) WorkloadEdges(_ context.Context, ep flow.Endpoint, _, _ time.Time) (ingress, egress []flow.Edge, err error) {
	return p.edges(p.in[ep]), p.edges(p.out[ep]), nil
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
