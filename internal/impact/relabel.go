package impact

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// NamespaceRelabel judges the edges observed in the window under the
// current namespace labels and under the relabelled ones.
//
// Namespace labels matter only to namespaceSelector peers, so only
// connections between a pod of the namespace and a pod whose namespace has
// a policy with a namespaceSelector that selects the old labels and not
// the new ones (or the reverse) are judged (both pods may be of the
// namespace). The store's NamespaceEdges for the namespace are what is
// needed.
func (a *Analyzer) NamespaceRelabel(ctx context.Context, r NamespaceRelabel, edges []flow.Edge) (Impact, error) {
	if r.Name == "" {
		return Impact{}, fmt.Errorf("%w: relabel of a namespace without name", ErrInvalidChange)
	}
	clusterLabels := withNameLabel(r.Name, a.namespaces[r.Name])
	oldLabels := clusterLabels
	if r.OldLabels != nil {
		oldLabels = withNameLabel(r.Name, r.OldLabels)
	}
	newLabels := withNameLabel(r.Name, r.NewLabels)

	imp := Impact{Window: a.opts.Window}
	var members []*netpol.Workload
	for _, w := range a.byNamespace[r.Name] {
		if !w.HostNetwork {
			members = append(members, w)
		}
	}
	imp.Selected = sortedKeys(members)
	sensitive := make(map[string]bool)
	for _, p := range a.nsPeers {
		for _, s := range p.selectors {
			if s.Matches(oldLabels) != s.Matches(newLabels) {
				imp.Policies = append(imp.Policies, p.name)
				sensitive[p.namespace] = true
				break
			}
		}
	}
	slices.Sort(imp.Policies)
	switch {
	case len(imp.Policies) == 0:
		imp.Reason = "no namespaceSelector tells the old labels from the new: no connection can change"
		return imp, nil
	case len(members) == 0:
		imp.Reason = "the namespace has no pods: no connection can change"
		return imp, nil
	}

	// The connections the change can affect, judged as they are found
	// under indexes derived from the current one.
	res := a.newResolver()
	observed := make(map[*netpol.Workload]bool, len(members))
	var (
		before, after *netpol.Index
		js            []judged
		failed        error
	)
	js = a.judgedList()
	defer func() { a.recycle(js) }()
	// affected counts a connection the change can affect, deriving the
	// indexes for the first; false when out of budget.
	affected := func() bool {
		if failed != nil {
			return false
		}
		if after == nil {
			if failed = ctx.Err(); failed != nil {
				return false
			}
			if before, after, failed = a.relabelIndexes(r.Name, oldLabels, clusterLabels, newLabels); failed != nil {
				return false
			}
		}
		imp.Evaluated++
		if imp.Evaluated&1023 == 0 {
			if failed = ctx.Err(); failed != nil {
				return false
			}
		}
		return true
	}
	judge := func(p *pair) {
		// A pod of the namespace is judged through its labels at the
		// other side, when that side's namespace is sensitive.
		isAffected := false
		if isPodIn(&p.src, r.Name) && isPod(&p.dst) && sensitive[p.dst.Workload.Namespace] {
			isAffected = true
			observed[p.src.Workload] = true
		}
		if isPodIn(&p.dst, r.Name) && isPod(&p.src) && sensitive[p.src.Workload.Namespace] {
			isAffected = true
			observed[p.dst.Workload] = true
		}
		if !isAffected || !affected() {
			return
		}
		if c := classify(p.verdict(before), p.verdict(after)); c != unchanged {
			js = appendJudged(js, p, c)
		}
	}
	cache := a.cachedEdges(r.Name, edges)
	// The cache's endpoints: a pod of the namespace (its position), a pod
	// of a sensitive namespace.
	type role struct {
		member    int32 // position in byNamespace, -1 for none
		sensitive bool
	}
	roles := make([]role, len(cache.eps))
	for i := range cache.eps {
		ep := &cache.eps[i]
		roles[i] = role{member: -1}
		if isPodIn(&ep.res, r.Name) {
			roles[i].member = ep.local
		}
		roles[i].sensitive = isPod(&ep.res) && sensitive[ep.res.Workload.Namespace]
	}
	localObserved := make([]bool, len(a.byNamespace[r.Name]))
	same := cache.builtFrom(edges)
	cursor, misses := 0, 0
	for i := range edges {
		if failed != nil {
			return Impact{}, failed
		}
		e := &edges[i]
		if !(inNamespace(e.Src, r.Name) && e.Dst.Kind == flow.EndpointWorkload && sensitive[e.Dst.Namespace]) &&
			!(inNamespace(e.Dst, r.Name) && e.Src.Kind == flow.EndpointWorkload && sensitive[e.Src.Namespace]) {
			continue
		}
		var ce *cachedEdge
		ok := same
		if same {
			ce = &cache.edges[i]
		} else {
			ce, ok = cache.find(a, e, &cursor)
		}
		if !ok || ce.n < 0 {
			if !ok {
				misses++
			}
			res.forEachPair(e, judge)
			continue
		}
		proto, _ := e.Protocol.Kubernetes()
		port := int32(e.Port)
		for k := ce.first; k < ce.first+ce.n; k++ {
			cc := &cache.conns[k]
			src, dst := &roles[cc.src], &roles[cc.dst]
			isAffected := false
			if src.member >= 0 && dst.sensitive {
				isAffected = true
				localObserved[src.member] = true
			}
			if dst.member >= 0 && src.sensitive {
				isAffected = true
				localObserved[dst.member] = true
			}
			if !isAffected || !affected() {
				continue
			}
			s, d := &cache.eps[cc.src].res, &cache.eps[cc.dst].res
			var was bool
			if before == a.current {
				was = cc.egress.Allows() && cc.ingress.Allows()
			} else {
				was = before.VerdictResolved(s, d, proto, port)
			}
			if c := classify(was, after.VerdictResolved(s, d, proto, port)); c != unchanged {
				srcName, dstName := cache.names(cc, e)
				js = appendJudgedRef(js, judged{edge: e, srcName: srcName, dstName: dstName, class: c, expanded: ce.expanded})
			}
		}
	}
	if failed != nil {
		return Impact{}, failed
	}
	if tooManyMisses(misses, len(edges)) {
		a.edgeCache.drop(cache)
	}
	for i, w := range a.byNamespace[r.Name] {
		if localObserved[i] {
			observed[w] = true
		}
	}
	imp.Skipped = res.skipped()
	for _, w := range members {
		if !observed[w] {
			imp.Unobserved = append(imp.Unobserved, w.Key())
		}
	}
	imp.Unobserved = sortedUnique(imp.Unobserved)
	if imp.Evaluated == 0 {
		imp.Unknown = true
		imp.Reason = unknownReason(fmt.Sprintf("namespace %s with the namespaces of %s", r.Name, listNames(imp.Policies)), a.opts.Window)
		return imp, nil
	}
	a.report(&imp, js, res.pairOf, explainers{
		current: func(p *pair) netpol.Explanation {
			return p.explain(before, a.opts.BriefExplanations)
		},
		proposed: func(p *pair) netpol.Explanation {
			return p.explain(after, a.opts.BriefExplanations)
		},
	})
	return imp, nil
}

// relabelIndexes derive from the current index the ones with namespace ns
// labelled oldLabels (the current one when the cluster has them) and
// newLabels.
func (a *Analyzer) relabelIndexes(ns string, oldLabels, clusterLabels, newLabels labels.Set) (before, after *netpol.Index, err error) {
	before = a.current
	if !maps.Equal(oldLabels, clusterLabels) {
		if before, err = a.current.WithNamespaceLabels(ns, oldLabels); err != nil {
			return nil, nil, fmt.Errorf("compile the current policies: %w", err)
		}
	}
	if after, err = a.current.WithNamespaceLabels(ns, newLabels); err != nil {
		return nil, nil, fmt.Errorf("compile the policies under the new labels: %w", err)
	}
	return before, after, nil
}
