package suggest

import (
	"context"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
)

// EdgeReader reads a workload's observed edges (store.Store does).
type EdgeReader interface {
	WorkloadEdges(ctx context.Context, ep flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error)
}

// Gather reads the edges a suggestion for subject needs over [from, to):
// its own, plus the ingress of the Services that select it (connections
// recorded to a Service endpoint are the backing workload's too).
func Gather(ctx context.Context, r EdgeReader, inv *inventory.Inventory, subject flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	if ingress, egress, err = r.WorkloadEdges(ctx, subject, from, to); err != nil {
		return nil, nil, err
	}
	for _, w := range inv.Workloads {
		if w.Namespace != subject.Namespace || w.Kind != subject.WorkloadKind || w.Name != subject.Name {
			continue
		}
		for _, svc := range ServicesSelecting(inv, w) {
			in, _, err := r.WorkloadEdges(ctx, svc, from, to)
			if err != nil {
				return nil, nil, err
			}
			ingress = append(ingress, in...)
		}
	}
	return ingress, egress, nil
}
