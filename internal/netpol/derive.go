package netpol

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// WithNamespacePolicies returns the index of the same namespaces and
// workloads with the policies of namespace ns replaced by pols (none: ns
// has no policy). It answers exactly as NewIndex over the policies of ix
// outside ns followed by pols, and costs a fraction of it: only the
// policies of pols ix did not compile are compiled, and only the
// identities of ns recomputed; the compiled policies of the other
// namespaces, those of ns that stay, and the selector matches they cached,
// are shared. ix does not change. A policy of pols in another namespace is
// an error, as is one that does not compile.
func (ix *Index) WithNamespacePolicies(ns string, pols []*networkingv1.NetworkPolicy) (*Index, error) {
	return ix.withNamespacePolicies(ns, pols, &deriveScratch{})
}

// WithNamespacePoliciesScratch is WithNamespacePolicies for an index that
// lives briefly (one what-if): once the index, and everything it gave
// (PolicyRules ...), is no longer used, release lets a later derivation
// reuse its memory. Using the index after release may panic. release may
// be called once; not calling it only costs garbage.
func (ix *Index) WithNamespacePoliciesScratch(ns string, pols []*networkingv1.NetworkPolicy) (d *Index, release func(), err error) {
	s, _ := deriveScratches.Get().(*deriveScratch)
	if s == nil {
		s = &deriveScratch{}
	}
	if d, err = ix.withNamespacePolicies(ns, pols, s); err != nil {
		s.reset()
		deriveScratches.Put(s)
		return nil, func() {}, err
	}
	return d, func() {
		d.identities, d.policies, d.byNamespace = nil, nil, nil
		s.reset()
		deriveScratches.Put(s)
	}, nil
}

// deriveScratch is the memory of a derived index that does not share
// ix's: its lists of identities and policies, its policies by namespace,
// and the identities of the namespace with their lists of policies.
// WithNamespacePoliciesScratch recycles it (deriveScratches).
type deriveScratch struct {
	identities  []*identity // nil while the index shares ix's
	ids         []identity
	lists       []*compiledPolicy // the ids' ingress and egress lists
	egress      []*compiledPolicy // an id's egress policies, while found
	policies    []*compiledPolicy
	byNamespace map[string][]*compiledPolicy
}

// deriveScratches recycles the *deriveScratch of released indexes.
var deriveScratches sync.Pool

// reset clears s for reuse, keeping its memory and no index's.
func (s *deriveScratch) reset() {
	clear(s.identities)
	clear(s.ids)
	clear(s.lists)
	clear(s.egress)
	clear(s.policies)
	clear(s.byNamespace)
	s.identities, s.ids, s.lists, s.egress, s.policies = s.identities[:0], s.ids[:0], s.lists[:0], s.egress[:0], s.policies[:0]
}

// withNamespacePolicies derives the index in the memory of s.
func (ix *Index) withNamespacePolicies(ns string, pols []*networkingv1.NetworkPolicy, s *deriveScratch) (*Index, error) {
	for _, p := range pols {
		if p.Namespace != ns {
			return nil, fmt.Errorf("networkpolicy %s: not in namespace %s", policyName(p), ns)
		}
	}
	if s.byNamespace == nil {
		s.byNamespace = make(map[string][]*compiledPolicy, len(ix.byNamespace)+1)
	}
	maps.Copy(s.byNamespace, ix.byNamespace)
	// The selector maps are ix's as long as nothing is compiled into
	// them (nothing compiles into an index once built).
	d := &Index{
		opts:          ix.opts,
		namespaces:    ix.namespaces,
		nsList:        ix.nsList,
		reg:           ix.reg,
		byNamespace:   s.byNamespace,
		nsSelectors:   ix.nsSelectors,
		selectorPeers: ix.selectorPeers,
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

	// The policies ix compiled from the same objects are taken over (each
	// once): compiled in the same namespace, they are what compiling them
	// again would give, with their selector matches already cached.
	before := ix.byNamespace[ns]
	compiled, taken := takeCompiled(before, pols)
	fresh, err := d.compileMissing(ix, pols, compiled)
	if err != nil {
		return nil, err
	}
	d.policies = slices.Grow(s.policies[:0], len(ix.policies)-len(before)+len(compiled))
	for _, p := range ix.policies {
		if p.namespace.name != ns {
			d.policies = append(d.policies, p)
		}
	}
	d.policies = append(d.policies, compiled...)
	s.policies = d.policies
	if len(compiled) == 0 {
		delete(d.byNamespace, ns)
	} else {
		list := slices.Clone(compiled)
		slices.SortFunc(list, func(a, b *compiledPolicy) int { return cmp.Compare(a.name, b.name) })
		d.byNamespace[ns] = list
	}
	d.ipBoundaries = derivedBoundaries(ix, d, before, taken, compiled, fresh)

	d.identities = ix.identities
	if known && int(info.id) < len(ix.reg.byNamespace) && len(ix.reg.byNamespace[info.id]) > 0 {
		if cap(s.identities) < len(ix.identities) {
			s.identities = make([]*identity, len(ix.identities))
		}
		d.identities = s.identities[:len(ix.identities)]
		copy(d.identities, ix.identities)
		s.identities = d.identities
		d.renewIdentities(ix, ix.reg.byNamespace[info.id], s)
	}
	return d, nil
}

// renewIdentities replaces the identities ids, of one namespace, with
// ones isolated by d's policies (as newIdentity makes them, in the
// memory of s: the identities in one block, their lists in another).
func (d *Index) renewIdentities(ix *Index, ids []int32, s *deriveScratch) {
	if cap(s.ids) < len(ids) {
		s.ids = make([]identity, len(ids))
	}
	s.ids = s.ids[:len(ids)]
	lists := s.lists[:0]
	for k, n := range ids {
		old := ix.identities[n]
		id := &s.ids[k]
		*id = identity{id: old.id, namespace: old.namespace, labels: old.labels}
		start := len(lists)
		var egress []*compiledPolicy
		lists, egress = appendIsolating(lists, s.egress[:0], d.byNamespace[old.namespace.name], id.labels)
		mid := len(lists)
		lists = append(lists, egress...)
		s.egress = egress
		if mid > start {
			id.ingress = lists[start:mid:mid]
		}
		if end := len(lists); end > mid {
			id.egress = lists[mid:end:end]
		}
		d.identities[n] = id
	}
	s.lists = lists
}

// takeCompiled returns, by position in pols, the policy of before compiled
// from the same object (nil: none left), each taken once, and which of
// before were taken.
func takeCompiled(before []*compiledPolicy, pols []*networkingv1.NetworkPolicy) (compiled []*compiledPolicy, taken []bool) {
	compiled = make([]*compiledPolicy, len(pols))
	if len(before) == 0 {
		return compiled, nil
	}
	taken = make([]bool, len(before))
	const scan = 32 // below, a scan beats a map
	var bySource map[*networkingv1.NetworkPolicy][]int
	if len(before) > scan {
		bySource = make(map[*networkingv1.NetworkPolicy][]int, len(before))
		for i, cp := range before {
			bySource[cp.source] = append(bySource[cp.source], i)
		}
	}
	for k, p := range pols {
		if bySource != nil {
			if is := bySource[p]; len(is) > 0 {
				compiled[k], taken[is[0]] = before[is[0]], true
				bySource[p] = is[1:]
			}
			continue
		}
		for i, cp := range before {
			if !taken[i] && cp.source == p {
				compiled[k], taken[i] = cp, true
				break
			}
		}
	}
	return compiled, taken
}

// compileMissing compiles the policies of pols that compiled leaves nil,
// into their places, and returns them. The selector maps of d are ix's until a policy
// interns a selector: then d gets copies and those policies are compiled
// again into them (the first pass, into empty maps, only tells).
func (d *Index) compileMissing(ix *Index, pols []*networkingv1.NetworkPolicy, compiled []*compiledPolicy) ([]*compiledPolicy, error) {
	if !slices.Contains(compiled, nil) {
		return nil, nil
	}
	d.nsSelectors, d.selectorPeers = map[string]*nsSelector{}, map[string]*compiledPeer{}
	fresh := make([]*compiledPolicy, len(pols))
	for k, p := range pols {
		if compiled[k] != nil {
			continue
		}
		cp, err := d.compilePolicy(p)
		if err != nil {
			return nil, err
		}
		fresh[k] = cp
	}
	if len(d.nsSelectors) == 0 && len(d.selectorPeers) == 0 {
		d.nsSelectors, d.selectorPeers = ix.nsSelectors, ix.selectorPeers
	} else {
		d.nsSelectors, d.selectorPeers = maps.Clone(ix.nsSelectors), maps.Clone(ix.selectorPeers)
		for k, p := range pols {
			if fresh[k] == nil {
				continue
			}
			cp, err := d.compilePolicy(p)
			if err != nil {
				return nil, err // compiled above: cannot happen
			}
			fresh[k] = cp
		}
	}
	out := fresh[:0]
	for k, cp := range fresh {
		if cp != nil {
			compiled[k] = cp
			out = append(out, cp)
		}
	}
	return out, nil
}

// derivedBoundaries returns the ipBoundaries of d, ix with the policies
// before of one namespace replaced by compiled (taken: those of before
// compiled takes over; fresh: those compiled anew), from ix's: less the
// boundaries only policies dropped had, plus those of the fresh ones.
func derivedBoundaries(ix, d *Index, before []*compiledPolicy, taken []bool, compiled, fresh []*compiledPolicy) []addrBoundary {
	var dropped, added []*compiledPolicy
	for i, p := range before {
		if !taken[i] && hasIPBlocks(before[i:i+1]) {
			dropped = append(dropped, p)
		}
	}
	for i, p := range fresh {
		if hasIPBlocks(fresh[i : i+1]) {
			added = append(added, p)
		}
	}
	if len(dropped) == 0 && len(added) == 0 {
		return ix.ipBoundaries
	}
	out := ix.ipBoundaries
	if len(dropped) > 0 {
		// The boundaries of the policies dropped that no policy of d
		// has: those of the namespace's tell most, the others' the rest.
		gone := difference(collectBoundaries(dropped), collectBoundaries(compiled))
		if len(gone) > 0 {
			kept := make([]bool, len(gone))
			others := d.policies[:len(d.policies)-len(compiled)]
			forEachBlock(others, func(b *ipBlock) {
				for i, x := range gone {
					kept[i] = kept[i] || isBoundary(b, x)
				}
			})
			k := 0
			for i, x := range gone {
				if !kept[i] {
					gone[k] = x
					k++
				}
			}
			out = difference(out, gone[:k])
		}
	}
	return mergeBoundaries(out, collectBoundaries(added))
}

// forEachBlock calls fn with each ipBlock of the policies' rules.
func forEachBlock(pols []*compiledPolicy, fn func(*ipBlock)) {
	for _, p := range pols {
		for _, rules := range [][]*compiledRule{p.ingressRules, p.egressRules} {
			for _, r := range rules {
				for _, peer := range r.peers {
					if peer.block != nil {
						fn(peer.block)
					}
				}
			}
		}
	}
}

// isBoundary reports whether x is one of the boundaries collectBoundaries
// takes from b: the start of its cidr or of an except, or the address
// after one's end (the prefix holds the address before x, not x).
func isBoundary(b *ipBlock, x addrBoundary) bool {
	prev := x.Prev()
	is := func(p netip.Prefix) bool {
		return p.Masked().Addr() == x || prev.IsValid() && p.Contains(prev) && !p.Contains(x)
	}
	return is(b.cidr) || slices.ContainsFunc(b.except, is)
}

// difference returns the boundaries of a (sorted, distinct) not in b
// (sorted, distinct): a itself when none is.
func difference(a, b []addrBoundary) []addrBoundary {
	var out []addrBoundary
	j := 0
	for i, x := range a {
		for j < len(b) && b[j].Compare(x) < 0 {
			j++
		}
		if j < len(b) && b[j] == x {
			if out == nil {
				out = make([]addrBoundary, i, len(a))
				copy(out, a[:i])
			}
			continue
		}
		if out != nil {
			out = append(out, x)
		}
	}
	if out == nil {
		return a
	}
	return out
}

// isSubset reports whether every boundary of a (sorted, distinct) is in b
// (sorted, distinct).
func isSubset(a, b []addrBoundary) bool {
	j := 0
	for _, x := range a {
		for j < len(b) && b[j].Compare(x) < 0 {
			j++
		}
		if j == len(b) || b[j] != x {
			return false
		}
	}
	return true
}

// mergeBoundaries returns the sorted, distinct union of a and b (each
// sorted and distinct): a itself when it has all of b.
func mergeBoundaries(a, b []addrBoundary) []addrBoundary {
	if isSubset(b, a) {
		return a
	}
	out := make([]addrBoundary, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Compare(b[j]) < 0:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Compare(a[i]) < 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
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
