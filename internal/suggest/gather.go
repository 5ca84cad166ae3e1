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
// recorded to a Service endpoint are the backing workload's too). It is
// Lookup.Gather over a Lookup made for the call: a caller that also
// suggests, or gathers for many subjects, makes one Lookup for all (and
// passes it in Input.Lookup).
func Gather(ctx context.Context, r EdgeReader, inv *inventory.Inventory, subject flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	return NewLookup(inv).Gather(ctx, r, subject, from, to)
}
