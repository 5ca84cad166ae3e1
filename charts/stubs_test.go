package charts

import (
	"context"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/rego"
)

// Stand-ins for the Validator's collaborators: the tests only ask it for
// its webhook configuration.
type stubCluster struct{}

func (stubCluster) Snapshot() *inventory.Inventory { return nil }
func (stubCluster) Synced() bool                   { return false }

type stubEdges struct{}

func (stubEdges) NamespaceEdges(context.Context, string, time.Time, time.Time) ([]flow.Edge, error) {
	return nil, nil
}

type stubDecider struct{}

func (stubDecider) Decide(context.Context, rego.Input) (rego.Decision, error) {
	return rego.Decision{}, nil
}
