package netpol

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// WithNamespacePolicies returns the index of the same namespaces and
// workloads with the policies of namespace ns replaced by pols (none: ns
// has no policy). It answers exactly as NewIndex over the policies of ix
// outside ns followed by pols, and costs a fraction of it: only pols are
// compiled and only the identities of ns recomputed; the compiled policies
// of the other namespaces, and the selector matches they cached, are
// shared. ix does not change. A policy of pols in another namespace is an
// error, as is one that does not compile.
func (ix *Index) WithNamespacePolicies(ns string, pols []*networkingv1.NetworkPolicy) (*Index, error) {
	for _, p := range pols {
		if p.Namespace != ns {
			return nil, fmt.Errorf("networkpolicy %s: not in namespace %s", policyName(p), ns)
		}
	}
	d := &Index{
		opts:          ix.opts,
		namespaces:    ix.namespaces,
		nsList:        ix.nsList,
		reg:           ix.reg,
		byNamespace:   maps.Clone(ix.byNamespace),
		nsSelectors:   maps.Clone(ix.nsSelectors),
		selectorPeers: maps.Clone(ix.selectorPeers),
	}
	info, known := ix.namespaces[ns]
	if !known {
		// A namespace no workload lives in: no identity to recompute.
		// Selectors sized for the namespaces known treat it as
		// unselected, which only identities of it could notice.
		d.namespaces = maps.Clone(ix.namespaces)
		d.nsList = slices.Clone(ix.nsList)
		info = d.addNamespace(ns, nil)
	}

	compiled := make([]*compiledPolicy, 0, len(pols))
	for _, p := range pols {
		cp, err := d.compilePolicy(p)
		if err != nil {
			return nil, err
		}
		compiled = append(compiled, cp)
	}
	d.policies = make([]*compiledPolicy, 0, len(ix.policies)-len(ix.byNamespace[ns])+len(compiled))
	for _, p := range ix.policies {
		if p.namespace.name != ns {
			d.policies = append(d.policies, p)
		}
	}
	d.policies = append(d.policies, compiled...)
	if len(compiled) == 0 {
		delete(d.byNamespace, ns)
	} else {
		list := slices.Clone(compiled)
		slices.SortFunc(list, func(a, b *compiledPolicy) int { return cmp.Compare(a.name, b.name) })
		d.byNamespace[ns] = list
	}
	d.ipBoundaries = ix.ipBoundaries
	if hasIPBlocks(ix.byNamespace[ns]) || hasIPBlocks(compiled) {
		d.ipBoundaries = collectBoundaries(d.policies)
	}

	d.identities = ix.identities
	if known && int(info.id) < len(ix.reg.byNamespace) && len(ix.reg.byNamespace[info.id]) > 0 {
		d.identities = slices.Clone(ix.identities)
		for _, n := range ix.reg.byNamespace[info.id] {
			old := ix.identities[n]
			id := d.newIdentity(old.namespace, old.labels)
			id.id = old.id
			d.identities[n] = id
		}
	}
	return d, nil
}

func hasIPBlocks(pols []*compiledPolicy) bool {
	for _, p := range pols {
		for _, rules := range [][]*compiledRule{p.ingressRules, p.egressRules} {
			for _, r := range rules {
				for _, peer := range r.peers {
					if peer.block != nil {
						return true
					}
				}
			}
		}
	}
	return false
}

// A ResolvedEndpoint is an endpoint with what an index needs to judge it
// (its identity) looked up once, for judging it in many connections with
// VerdictResolved: by the index that resolved it and by the indexes derived
// from that one. Any other index judges it as its Endpoint, only slower.
type ResolvedEndpoint struct {
	Endpoint
	reg *registry
	id  int32
}

const (
	notPod       = -1 // an address or a host-network pod: no identity
	unregistered = -2 // a pod of a workload NewIndex was not given
)

// Resolve looks up e's identity for VerdictResolved.
func (ix *Index) Resolve(e Endpoint) ResolvedEndpoint {
	r := ResolvedEndpoint{Endpoint: e, reg: ix.reg, id: notPod}
	if e.isPod() {
		r.id = unregistered
		if id, ok := ix.reg.byWorkload[e.Workload]; ok {
			r.id = id
		}
	}
	return r
}

// identityOfResolved is podIdentity(r.Endpoint), without the lookup when r
// was resolved by ix or an index sharing its identities.
func (ix *Index) identityOfResolved(r *ResolvedEndpoint) *identity {
	if r.reg == ix.reg {
		switch {
		case r.id >= 0:
			return ix.identities[r.id]
		case r.id == notPod:
			return nil
		}
	}
	return ix.podIdentity(r.Endpoint)
}

// VerdictResolved is Verdict for resolved endpoints.
func (ix *Index) VerdictResolved(src, dst *ResolvedEndpoint, protocol corev1.Protocol, port int32) bool {
	if isSelf(src.Endpoint, dst.Endpoint) {
		return true
	}
	srcID, dstID := ix.identityOfResolved(src), ix.identityOfResolved(dst)
	return ix.sideAllows(Egress, srcID, dstID, dst.Endpoint, dst.Endpoint, protocol, port) &&
		ix.sideAllows(Ingress, dstID, srcID, src.Endpoint, dst.Endpoint, protocol, port)
}

// SideVerdict reports whether one side of a connection allows it: egress
// at src, or ingress at dst. Verdict is the AND of both sides; traffic
// from a pod to itself is allowed by both. Callers that know a change
// leaves one side as it was judge that side once for both indexes.
func (ix *Index) SideVerdict(dir Direction, src, dst *ResolvedEndpoint, protocol corev1.Protocol, port int32) bool {
	subject, other := dst, src
	if dir == Egress {
		subject, other = src, dst
	}
	if subject.reg == ix.reg && subject.id == notPod {
		return true // not isolated: no need to look at the other side
	}
	if isSelf(src.Endpoint, dst.Endpoint) {
		return true
	}
	subjectID := ix.identityOfResolved(subject)
	if subjectID == nil || len(subjectID.policies(dir)) == 0 {
		return true
	}
	return ix.sideAllows(dir, subjectID, ix.identityOfResolved(other), other.Endpoint, dst.Endpoint, protocol, port)
}

// WithNamespaceLabels returns the index of the same workloads and policies
// with namespace ns labelled lbls (the kubernetes.io/metadata.name label
// added). It answers exactly as NewIndex over the namespaces relabelled,
// and costs a fraction of it: namespace labels matter only to
// namespaceSelectors, so only the policies with a namespaceSelector that
// tells the old labels from the new are compiled again, and only the
// identities they isolate recomputed; everything else is shared. ix does
// not change.
func (ix *Index) WithNamespaceLabels(ns string, lbls map[string]string) (*Index, error) {
	d := &Index{
		opts:          ix.opts,
		namespaces:    maps.Clone(ix.namespaces),
		nsList:        slices.Clone(ix.nsList),
		reg:           ix.reg,
		identities:    ix.identities,
		policies:      slices.Clone(ix.policies),
		byNamespace:   maps.Clone(ix.byNamespace),
		nsSelectors:   maps.Clone(ix.nsSelectors),
		selectorPeers: maps.Clone(ix.selectorPeers),
		ipBoundaries:  ix.ipBoundaries,
	}
	var oldLabels labels.Set
	if old, ok := ix.namespaces[ns]; ok {
		oldLabels = old.labels
		info := &namespaceInfo{id: old.id, name: ns}
		d.namespaces[ns], d.nsList[old.id] = info, info
	}
	info := d.addNamespace(ns, lbls)
	if oldLabels == nil {
		oldLabels = labels.Set{NamespaceNameLabel: ns}
	}

	// The namespaceSelectors that tell the labels apart, and the peers
	// and policies using them, are compiled afresh: their caches hold
	// the old answer.
	sensitive := map[*nsSelector]bool{}
	for key, s := range ix.nsSelectors {
		if s.selector.Matches(oldLabels) != s.selector.Matches(info.labels) {
			sensitive[s] = true
			delete(d.nsSelectors, key)
		}
	}
	if len(sensitive) > 0 {
		for key, p := range ix.selectorPeers {
			if p.ns != nil && sensitive[p.ns] {
				delete(d.selectorPeers, key)
			}
		}
		changed := map[string]bool{} // namespaces whose policies changed
		for i, p := range ix.policies {
			if !usesSelectors(p, sensitive) {
				continue
			}
			cp, err := d.compilePolicy(p.source)
			if err != nil {
				return nil, err // compiled before: cannot happen
			}
			d.policies[i] = cp
			changed[p.namespace.name] = true
		}
		for name := range changed {
			list := make([]*compiledPolicy, 0, len(ix.byNamespace[name]))
			for _, p := range d.policies {
				if p.namespace.name == name {
					list = append(list, p)
				}
			}
			slices.SortFunc(list, func(a, b *compiledPolicy) int { return cmp.Compare(a.name, b.name) })
			d.byNamespace[name] = list
		}
		d.identities = slices.Clone(ix.identities)
		for name := range changed {
			if n, ok := ix.namespaces[name]; ok && int(n.id) < len(ix.reg.byNamespace) {
				for _, i := range ix.reg.byNamespace[n.id] {
					old := d.identities[i]
					id := d.newIdentity(old.namespace, old.labels)
					id.id = old.id
					d.identities[i] = id
				}
			}
		}
	}
	// The identities of ns see its new labels (only throw-away ones read
	// them; the others keep the namespace's id).
	if int(info.id) < len(ix.reg.byNamespace) && len(ix.reg.byNamespace[info.id]) > 0 {
		if len(sensitive) == 0 {
			d.identities = slices.Clone(ix.identities)
		}
		for _, i := range ix.reg.byNamespace[info.id] {
			id := *d.identities[i]
			id.namespace = info
			d.identities[i] = &id
		}
	}
	return d, nil
}

// usesSelectors reports whether a peer of p has one of the
// namespaceSelectors.
func usesSelectors(p *compiledPolicy, sels map[*nsSelector]bool) bool {
	for _, rules := range [][]*compiledRule{p.ingressRules, p.egressRules} {
		for _, r := range rules {
			for _, peer := range r.peers {
				if peer.ns != nil && sels[peer.ns] {
					return true
				}
			}
		}
	}
	return false
}
