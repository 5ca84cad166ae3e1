package impact

import (
	"context"
	"fmt"
	"maps"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
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

	res := a.newResolver()
	var pairs []pair
	observed := make(map[*netpol.Workload]bool, len(members))
	involved := map[string]bool{r.Name: true}
	register := append([]*netpol.Workload(nil), members...)
	seen := make(map[*netpol.Workload]bool)
	for i := range edges {
		e := &edges[i]
		if !(inNamespace(e.Src, r.Name) && e.Dst.Kind == flow.EndpointWorkload && sensitive[e.Dst.Namespace]) &&
			!(inNamespace(e.Dst, r.Name) && e.Src.Kind == flow.EndpointWorkload && sensitive[e.Src.Namespace]) {
			continue
		}
		res.forEachPair(e, func(p pair) {
			// A pod of the namespace is judged through its labels at the
			// other side, when that side's namespace is sensitive.
			affected := false
			if isPodIn(p.src, r.Name) && isPod(p.dst) && sensitive[p.dst.Workload.Namespace] {
				affected = true
				observed[p.src.Workload] = true
			}
			if isPodIn(p.dst, r.Name) && isPod(p.src) && sensitive[p.src.Workload.Namespace] {
				affected = true
				observed[p.dst.Workload] = true
			}
			if !affected {
				return
			}
			pairs = appendPair(pairs, p)
			for _, ep := range []netpol.Endpoint{p.src, p.dst} {
				if isPod(ep) && ep.Workload.Namespace != r.Name && !seen[ep.Workload] {
					seen[ep.Workload] = true
					involved[ep.Workload.Namespace] = true
					register = append(register, ep.Workload)
				}
			}
		})
	}
	imp.Skipped = res.skipped()
	imp.Evaluated = len(pairs)
	for _, w := range members {
		if !observed[w] {
			imp.Unobserved = append(imp.Unobserved, w.Key())
		}
	}
	imp.Unobserved = sortedUnique(imp.Unobserved)
	if len(pairs) == 0 {
		imp.Unknown = true
		imp.Reason = unknownReason(fmt.Sprintf("namespace %s with the namespaces of %s", r.Name, listNames(imp.Policies)), a.opts.Window)
		return imp, nil
	}

	// The policies of the namespaces involved decide every judged
	// connection.
	var policies []*networkingv1.NetworkPolicy
	for _, ns := range slices.Sorted(maps.Keys(involved)) {
		policies = append(policies, a.policiesByNS[ns]...)
	}
	before := a.current
	if !maps.Equal(oldLabels, clusterLabels) {
		var err error
		before, err = netpol.NewIndex(a.relabelled(r.Name, oldLabels), register, policies, a.cluster.Options)
		if err != nil {
			return Impact{}, fmt.Errorf("compile the current policies: %w", err)
		}
	}
	after, err := netpol.NewIndex(a.relabelled(r.Name, newLabels), register, policies, a.cluster.Options)
	if err != nil {
		return Impact{}, fmt.Errorf("compile the policies under the new labels: %w", err)
	}
	classes := make([]class, len(pairs))
	for i := range pairs {
		if i&1023 == 1023 && ctx.Err() != nil {
			return Impact{}, ctx.Err()
		}
		p := &pairs[i]
		classes[i] = classify(
			p.verdict(before),
			p.verdict(after))
	}
	a.report(&imp, pairs, classes, explainers{
		current: func(p *pair) netpol.Explanation {
			return p.explain(before)
		},
		proposed: func(p *pair) netpol.Explanation {
			return p.explain(after)
		},
	})
	return imp, nil
}

// relabelled returns the cluster's namespaces with ns labelled lbls.
func (a *Analyzer) relabelled(ns string, lbls labels.Set) []netpol.Namespace {
	out := make([]netpol.Namespace, 0, len(a.cluster.Namespaces)+1)
	found := false
	for _, n := range a.cluster.Namespaces {
		if n.Name == ns {
			n.Labels, found = lbls, true
		}
		out = append(out, n)
	}
	if !found {
		out = append(out, netpol.Namespace{Name: ns, Labels: lbls})
	}
	return out
}
