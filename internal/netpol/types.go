// Package netpol decides, exactly as Kubernetes does, whether a connection is
// allowed by a set of networking.k8s.io/v1 NetworkPolicies, and explains why.
//
// It is pure: plain values in, plain values out, no clients and no clocks.
// Build an Index once per policy set with NewIndex and ask it Verdict,
// Explain or AllowedConns as often as needed; an Index is safe for concurrent
// use. A what-if derives the index of a changed set from it
// (WithNamespacePolicies, WithNamespaceLabels) for a fraction of a build,
// and judges endpoints resolved once (Resolve, VerdictResolved,
// SideVerdict) under both.
package netpol

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// NamespaceNameLabel is the label the API server puts on every namespace.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// ContainerPort is a port a pod declares; only named ports matter to policies.
type ContainerPort struct {
	Name     string
	Port     int32
	Protocol corev1.Protocol // empty means TCP
}

// Workload is a set of identical pods (a Deployment, a bare Pod ...), seen
// through its pod template: policies select it by these labels.
type Workload struct {
	Namespace string
	Kind      string
	Name      string
	// Labels are the pod labels (of the template for controllers).
	Labels map[string]string
	// IPs are the pod addresses, when known (pods read from a cluster).
	IPs []netip.Addr
	// HostNetwork pods use their node's address and are not selected by
	// pod or namespace selectors.
	HostNetwork bool
	Node        string
	Ports       []ContainerPort
}

// Key is the "namespace/name[Kind]" form used in output.
func (w *Workload) Key() string {
	return w.Namespace + "/" + w.Name + "[" + w.Kind + "]"
}

// Endpoint is one side of a connection: a workload (optionally one of its
// pod addresses) or a bare address.
type Endpoint struct {
	Workload *Workload
	// Addr is the address used. For a workload it is optional and only
	// matters to ipBlock peers; for a bare address it is required.
	Addr netip.Addr
}

// WorkloadEndpoint is a convenience for an endpoint that is a workload.
func WorkloadEndpoint(w *Workload) Endpoint { return Endpoint{Workload: w} }

// AddrEndpoint is a convenience for an endpoint that is an address.
func AddrEndpoint(a netip.Addr) Endpoint { return Endpoint{Addr: a} }

// String renders the endpoint as in analyze output.
func (e Endpoint) String() string {
	if e.Workload != nil {
		return e.Workload.Key()
	}
	return e.Addr.String()
}

// address returns the address ipBlocks see for this endpoint, if any.
func (e Endpoint) address() (netip.Addr, bool) {
	if e.Addr.IsValid() {
		return e.Addr, true
	}
	if e.Workload != nil && len(e.Workload.IPs) > 0 {
		return e.Workload.IPs[0], true
	}
	return netip.Addr{}, false
}

// isPod reports whether policies can select this endpoint: a workload that is
// not on the host network.
func (e Endpoint) isPod() bool { return e.Workload != nil && !e.Workload.HostNetwork }

// Options tune the implementation-defined parts of the semantics.
type Options struct {
	// IPBlockMatchesPods makes ipBlock peers match pod addresses too, as the
	// upstream conformance tests expect. NewIndex callers usually want
	// DefaultOptions.
	IPBlockMatchesPods bool
	// ClusterCIDRs are the pod and service ranges; addresses inside them are
	// not "outside the cluster" in analyze output.
	ClusterCIDRs []netip.Prefix
}

// DefaultOptions are the options matching upstream behaviour.
func DefaultOptions() Options { return Options{IPBlockMatchesPods: true} }

// Direction of a policy rule.
type Direction string

const (
	Ingress Direction = "Ingress"
	Egress  Direction = "Egress"
)
