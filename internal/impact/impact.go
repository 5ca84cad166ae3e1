// Package impact answers the what-if question: which of the connections
// observed in a window would a proposed change turn red (allowed now, denied
// after), turn green, or leave red?
//
// It is pure: the current cluster state, the change and the observed edges
// come in as plain values, an Impact comes out. The webhook, the CLI and the
// UI share it.
//
// An Analyzer compiles the current policy set once (NewAnalyzer); each
// what-if (PolicyChange, NamespaceRelabel) then evaluates only the edges the
// change can affect, under the current and the proposed set.
//
// # Endpoints
//
// Edges carry flow endpoints; the engine judges netpol endpoints:
//
//   - a workload endpoint is the cluster's workload of that namespace, kind
//     and name. A workload the cluster does not know (deleted since the
//     traffic was seen) cannot be judged: its edges are left out and counted
//     in Impact.Skipped.
//   - a Service endpoint (WorkloadKind "Service": what a ClusterIP resolves
//     to when not exactly one workload backs the Service) stands for the
//     workloads its selector picks in its namespace; the edge is judged once
//     per backing workload, each result reported with Expanded set and the
//     Service edge's count. A Service the cluster does not list, or one that
//     picks no workload, is skipped.
//   - a node endpoint is the node's address (Cluster.NodeAddrs) when known.
//     Policies never isolate a node or select it with pod or namespace
//     selectors; without an address ipBlock peers cannot match it either, so
//     an egress policy allowing the node's CIDR still counts it denied.
//   - an address endpoint is that address.
//
// The edges are the ones observed in the window (the store's NamespaceEdges
// for the affected namespace), one per EdgeKey.
package impact

import (
	"errors"
	"net/netip"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// DefaultWindow is how far back observed traffic reaches by default.
const DefaultWindow = 7 * 24 * time.Hour

// DefaultMaxExplained is how many connections of each class get an
// explanation when Options leaves it zero.
const DefaultMaxExplained = 50

// ErrInvalidChange is matched (errors.Is) by errors about a Change or
// NamespaceRelabel that is not well formed (an UPDATE without the new
// policy, a relabel without a name ...). An invalid proposed policy is a
// netpol.ErrInvalidPolicy instead.
var ErrInvalidChange = errors.New("invalid change")

// Operation is what happens to a NetworkPolicy, as admission names it.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Change is a proposed NetworkPolicy change. Old is needed for UPDATE and
// DELETE, New for CREATE and UPDATE. The policy is matched to the cluster's
// by namespace and name: the cluster's version is the current one; Old
// stands in only when the cluster does not have the policy (yet).
type Change struct {
	Operation Operation
	Old, New  *networkingv1.NetworkPolicy
}

// ChangeFor is the change proposing p makes to the current policies (or,
// with del, deleting it): an update of the current policy of the same
// namespace and name when there is one, else a create; a delete of the
// current one when there is one, else of p.
func ChangeFor(current []*networkingv1.NetworkPolicy, p *networkingv1.NetworkPolicy, del bool) Change {
	var cur *networkingv1.NetworkPolicy
	for _, cp := range current {
		if cp.Namespace == p.Namespace && cp.Name == p.Name {
			cur = cp
		}
	}
	switch {
	case del && cur != nil:
		return Change{Operation: Delete, Old: cur}
	case del:
		return Change{Operation: Delete, Old: p}
	case cur != nil:
		return Change{Operation: Update, Old: cur, New: p}
	}
	return Change{Operation: Create, New: p}
}

// NamespaceRelabel is a proposed change of a namespace's labels. OldLabels
// nil means the labels the cluster has. The kubernetes.io/metadata.name
// label cannot change and is added to both.
type NamespaceRelabel struct {
	Name                 string
	OldLabels, NewLabels map[string]string
}

// Service is a Service as impact needs it: the selector picking its
// backing workloads. A nil or empty selector picks nothing.
type Service struct {
	Namespace string
	Name      string
	Selector  map[string]string
}

// Cluster is the current state, as plain values. NewAnalyzer does not
// modify it and keeps references: do not modify it while the Analyzer is
// in use.
type Cluster struct {
	Namespaces []netpol.Namespace
	Workloads  []*netpol.Workload
	Policies   []*networkingv1.NetworkPolicy
	Services   []Service
	// NodeAddrs are the nodes' addresses, by node name, when known.
	NodeAddrs map[string]netip.Addr
	Options   netpol.Options
}

// Options tune an Analyzer. The zero value is ready to use.
type Options struct {
	// Window is how far back the edges given reach; it only words the
	// result ("no traffic observed ... in the last 7d"). The caller selects
	// the edges. Zero means DefaultWindow.
	Window time.Duration
	// MaxExplained bounds the connections of each class that get an
	// explanation, the first ones in the result's order: explaining is far
	// slower than judging. Zero means DefaultMaxExplained, negative all.
	MaxExplained int
	// MaxConnections bounds each list of connections, the first ones in
	// order; Impact.Totals still count them all. Zero means no bound. A
	// webhook wants one: thousands of rows help nobody and slow what
	// reads them.
	MaxConnections int
	// TurnsRedOnly lists (and explains) only the connections that turn
	// red: TurnsGreen and StaysRed are left empty, Totals still count
	// every class. A webhook, which reads no other list, saves the work
	// of sorting and explaining them.
	TurnsRedOnly bool
	// BriefExplanations explains connections without the reasons of each
	// rule (netpol.Index.ExplainBrief): enough to say which side denies and
	// which policies isolate it, which is all a webhook's one line says.
	BriefExplanations bool
}

// Connection is an observed edge judged under the current and the proposed
// policy sets.
type Connection struct {
	Src, Dst flow.Endpoint
	Protocol flow.Protocol
	Port     uint16
	// Count is the number of connections seen in the window, LastSeen the
	// latest. For an Expanded connection they are the Service edge's: how
	// the connections spread over the backing workloads is not known.
	Count    uint64
	LastSeen time.Time
	// ObservedDropped is how many of them the datapath reported dropped.
	ObservedDropped uint64
	// Service is the Service the connection went through, if known.
	Service *flow.ServiceRef `json:",omitempty"`
	// Expanded is set when the edge was recorded to (or from) a Service
	// endpoint and Src or Dst is one of the workloads backing it.
	Expanded bool `json:",omitempty"`
	// Explanation is the engine's account of the verdict under the set that
	// denies the connection: the proposed one for TurnsRed and StaysRed,
	// the current one for TurnsGreen. It is nil beyond Options.MaxExplained.
	Explanation *netpol.Explanation `json:",omitempty"`
}

// Total counts the connections of a class: Connections judged (edges,
// Service edges once per backing workload) and Count, the connections seen
// on them (a Service edge's counted once per backing workload).
type Total struct {
	Connections int
	Count       uint64
}

// Totals count the connections of each class.
type Totals struct {
	TurnsRed, TurnsGreen, StaysRed Total
}

// Skip is an endpoint whose edges could not be judged, with why.
type Skip struct {
	Endpoint flow.Endpoint
	Reason   string
	// Edges is how many edges were left out, Count their connections.
	Edges int
	Count uint64
}

// Impact is what a change does to the observed traffic.
type Impact struct {
	// TurnsRed are allowed now and denied after the change, TurnsGreen
	// the reverse; StaysRed are affected connections (see Evaluated)
	// denied before and after. Each is sorted most connections first, then
	// by source, destination, protocol and port.
	TurnsRed, TurnsGreen, StaysRed []Connection
	// Totals count the connections of each class, listed or not.
	Totals Totals
	// Evaluated is how many connections (edges, Service edges counted once
	// per backing workload) the change could affect and were judged under
	// both sets: for a policy change those whose destination the policy
	// selects for ingress or whose source it selects for egress, before or
	// after; for a relabel those with a pod of the namespace on one side and
	// a pod judged by namespace selectors that tell the labels apart on the
	// other.
	Evaluated int
	// Selected are the workloads ("ns/name[Kind]") the changed policy
	// selects before or after the change; for a relabel, the workloads of
	// the namespace.
	Selected []string `json:",omitempty"`
	// Policies are, for a relabel, the policies with a namespaceSelector
	// that selects the old labels and not the new ones, or the reverse.
	Policies []string `json:",omitempty"`
	// Unobserved are the Selected workloads no evaluated connection
	// involves: their part of the change cannot be judged.
	Unobserved []string `json:",omitempty"`
	// Unknown is set when no connection of the selected workloads was
	// observed in the window: the impact is unknown, not harmless.
	Unknown bool
	// Reason says why the result is unknown or empty by construction
	// ("selects no pods"); empty otherwise.
	Reason string `json:",omitempty"`
	// Skipped are the endpoints whose edges could not be judged.
	Skipped []Skip `json:",omitempty"`
	// Window is Options.Window, defaulted.
	Window time.Duration
}
