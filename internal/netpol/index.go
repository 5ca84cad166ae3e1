package netpol

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Index is a compiled policy set over a cluster: policies grouped by
// namespace, and for every distinct (namespace, pod labels) identity the
// policies isolating it, computed once. Peer selectors are matched once per
// identity (lazily) and remembered as bitsets, so a verdict is a handful of
// bit tests. An Index never changes after NewIndex, except for those caches,
// which are safe for concurrent use. WithNamespacePolicies derives an index
// that shares all that a change of one namespace's policies leaves as is.
type Index struct {
	opts Options

	namespaces map[string]*namespaceInfo
	nsList     []*namespaceInfo // by id

	// reg is the workloads' identities: shared by the indexes derived
	// from this one, which keep the ids and differ only in the policies.
	reg        *registry
	identities []*identity // by id; derived indexes replace some

	policies    []*compiledPolicy
	byNamespace map[string][]*compiledPolicy
	nsSelectors map[string]*nsSelector
	// selectorPeers interns selector peers that select the same pods, so
	// that their member bitsets are computed once.
	selectorPeers map[string]*compiledPeer

	// ipBoundaries are the addresses at which ipBlock membership can change.
	ipBoundaries []addrBoundary
}

// registry is the identity of every workload given to NewIndex. It never
// changes after NewIndex.
type registry struct {
	identityKey map[string]int32
	byWorkload  map[*Workload]int32
	// byNamespace are the identity ids of each namespace, by namespace id.
	byNamespace [][]int32
}

type namespaceInfo struct {
	id     int32
	name   string
	labels labels.Set
}

// identity is a distinct (namespace, pod labels) pair: all pods that share it
// are selected by exactly the same policies.
type identity struct {
	id        int32
	namespace *namespaceInfo
	labels    labels.Set
	// ingress and egress are the policies that select the identity and
	// isolate it for that direction.
	ingress, egress []*compiledPolicy
}

// NewIndex compiles policies for the given namespaces and workloads.
// Namespaces that are referenced but missing exist with only their name
// label. A policy that does not compile (bad selector or CIDR) is an error
// naming the policy and field; run Validate first for the full apiserver
// rules.
func NewIndex(namespaces []Namespace, workloads []*Workload, policies []*networkingv1.NetworkPolicy, opts Options) (*Index, error) {
	ix := &Index{
		opts:       opts,
		namespaces: make(map[string]*namespaceInfo, len(namespaces)),
		reg: &registry{
			identityKey: make(map[string]int32, len(workloads)),
			byWorkload:  make(map[*Workload]int32, len(workloads)),
		},
		byNamespace: make(map[string][]*compiledPolicy),
		nsSelectors: make(map[string]*nsSelector),

		selectorPeers: make(map[string]*compiledPeer),
	}
	for _, ns := range namespaces {
		ix.addNamespace(ns.Name, ns.Labels)
	}
	for _, w := range workloads {
		ix.namespace(w.Namespace)
	}
	for _, p := range policies {
		ix.namespace(p.Namespace)
	}

	for _, p := range policies {
		cp, err := ix.compilePolicy(p)
		if err != nil {
			return nil, err
		}
		ix.policies = append(ix.policies, cp)
		ix.byNamespace[p.Namespace] = append(ix.byNamespace[p.Namespace], cp)
	}
	for _, list := range ix.byNamespace {
		slices.SortFunc(list, func(a, b *compiledPolicy) int { return cmp.Compare(a.name, b.name) })
	}
	ix.ipBoundaries = collectBoundaries(ix.policies)

	for _, w := range workloads {
		if w.HostNetwork {
			continue // not selectable: acts as its node's address
		}
		ix.reg.byWorkload[w] = ix.register(w)
	}
	ix.reg.byNamespace = make([][]int32, len(ix.nsList))
	for _, id := range ix.identities {
		ns := id.namespace.id
		ix.reg.byNamespace[ns] = append(ix.reg.byNamespace[ns], id.id)
	}
	return ix, nil
}

func (ix *Index) addNamespace(name string, lbls map[string]string) *namespaceInfo {
	set := make(labels.Set, len(lbls)+1)
	maps.Copy(set, lbls)
	set[NamespaceNameLabel] = name
	if ns, ok := ix.namespaces[name]; ok {
		ns.labels = set
		return ns
	}
	ns := &namespaceInfo{id: int32(len(ix.nsList)), name: name, labels: set}
	ix.namespaces[name] = ns
	ix.nsList = append(ix.nsList, ns)
	return ns
}

// namespace returns the namespace, creating it with only its name label.
func (ix *Index) namespace(name string) *namespaceInfo {
	if ns, ok := ix.namespaces[name]; ok {
		return ns
	}
	return ix.addNamespace(name, nil)
}

// register interns the workload's identity and returns its id; only
// NewIndex calls it.
func (ix *Index) register(w *Workload) int32 {
	key := identityKeyOf(w.Namespace, w.Labels)
	if id, ok := ix.reg.identityKey[key]; ok {
		return id
	}
	id := ix.newIdentity(ix.namespace(w.Namespace), w.Labels)
	id.id = int32(len(ix.identities))
	ix.identities = append(ix.identities, id)
	ix.reg.identityKey[key] = id.id
	return id.id
}

// newIdentity computes which policies isolate pods with these labels.
func (ix *Index) newIdentity(ns *namespaceInfo, lbls map[string]string) *identity {
	id := &identity{id: -1, namespace: ns, labels: labels.Set(lbls)}
	id.ingress, id.egress = appendIsolating(nil, nil, ix.byNamespace[ns.name], id.labels)
	return id
}

// appendIsolating appends to ingress and egress the policies of pols (one
// namespace's) that select pods with lbls and isolate them in that
// direction.
func appendIsolating(ingress, egress, pols []*compiledPolicy, lbls labels.Set) ([]*compiledPolicy, []*compiledPolicy) {
	for _, p := range pols {
		if !p.podSelector.Matches(lbls) {
			continue
		}
		if p.ingress {
			ingress = append(ingress, p)
		}
		if p.egress {
			egress = append(egress, p)
		}
	}
	return ingress, egress
}

// identityOf returns the identity of a pod endpoint. Workloads that were not
// given to NewIndex get a throw-away identity (correct, only slower).
func (ix *Index) identityOf(w *Workload) *identity {
	if id, ok := ix.reg.byWorkload[w]; ok {
		return ix.identities[id]
	}
	ns, ok := ix.namespaces[w.Namespace]
	if !ok {
		ns = &namespaceInfo{id: -1, name: w.Namespace, labels: labels.Set{NamespaceNameLabel: w.Namespace}}
	}
	return ix.newIdentity(ns, w.Labels)
}

func identityKeyOf(namespace string, lbls map[string]string) string {
	keys := slices.Sorted(maps.Keys(lbls))
	var b strings.Builder
	b.WriteString(namespace)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(lbls[k])
	}
	return b.String()
}

// Policies returns the names ("namespace/name") of the compiled policies.
func (ix *Index) Policies() []string {
	out := make([]string, len(ix.policies))
	for i, p := range ix.policies {
		out[i] = p.name
	}
	return out
}

// Options returns the options the index was built with.
func (ix *Index) Options() Options { return ix.opts }

func policyName(p *networkingv1.NetworkPolicy) string {
	return fmt.Sprintf("%s/%s", p.Namespace, p.Name)
}
