package impact

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// PolicyChange judges the edges observed in the window under the current
// policy set and under the set the change proposes (the current one with
// the policy of that namespace and name added, replaced or removed).
//
// Only connections whose verdict can change are judged: those whose
// destination is a pod of the policy's namespace that the old or the new
// policy selects for ingress, or whose source is one it selects for
// egress. Edges touching no such pod may be left out of edges; the store's
// NamespaceEdges for the policy's namespace are what is needed.
//
// An invalid proposed policy is an error wrapping a
// *netpol.InvalidPolicyError (validated as on create: the API server is
// laxer on update with CIDRs the old object already had); a malformed
// Change one matching ErrInvalidChange.
//
// The proposed set is judged one side at a time: a connection's verdict is
// egress at its source (the source namespace's policies) and ingress at
// its destination (the destination namespace's). Only the sides in the
// policy's namespace change, so the proposed index compiles that
// namespace's policies alone, and the current index answers for the other
// side.
func (a *Analyzer) PolicyChange(ctx context.Context, ch Change, edges []flow.Edge) (Impact, error) {
	ns, name, err := ch.target()
	if err != nil {
		return Impact{}, err
	}
	if ch.New != nil {
		if errs := netpol.Validate(ch.New); len(errs) > 0 {
			return Impact{}, fmt.Errorf("proposed policy: %w", netpol.ValidationError(ch.New, errs))
		}
	}
	old := a.policies[nsName{ns, name}]
	if old == nil && ch.Old != nil && ch.Operation != Create {
		// The cluster does not have the policy the API server has: judge
		// against the set with it.
		b, err := a.withPolicy(ch.Old)
		if err != nil {
			return Impact{}, err
		}
		return b.PolicyChange(ctx, ch, edges)
	}
	var proposed *networkingv1.NetworkPolicy
	if ch.Operation != Delete {
		proposed = ch.New
	}

	imp := Impact{Window: a.opts.Window}
	sel, err := newSelection(old, proposed)
	if err != nil {
		return Impact{}, err
	}
	flags := make(map[*netpol.Workload]sides)
	var selected []*netpol.Workload
	for _, w := range a.byNamespace[ns] {
		if w.HostNetwork {
			continue // not selectable
		}
		if f := sel.of(w.Labels); f != 0 {
			flags[w] = f
			selected = append(selected, w)
		}
	}
	if len(selected) == 0 {
		imp.Reason = "selects no pods: no connection can change"
		return imp, nil
	}
	imp.Selected = sortedKeys(selected)

	// The connections the change can affect.
	local := a.localSelection(ns, flags)
	r := a.newResolver()
	var pairs []pair
	observed := make(map[*netpol.Workload]bool, len(selected))
	foreign := make(map[*netpol.Workload]int)
	for i := range edges {
		e := &edges[i]
		srcIn, dstIn := inNamespace(e.Src, ns), inNamespace(e.Dst, ns)
		if !srcIn && !dstIn {
			continue
		}
		// Resolve the other side only when a side in ns is selected.
		if !(srcIn && local.selects(&e.Src, egress)) && !(dstIn && local.selects(&e.Dst, ingress)) {
			continue
		}
		r.forEachPair(e, func(p pair) {
			affected := false
			if isPodIn(p.dst, ns) && flags[p.dst.Workload]&ingress != 0 {
				affected = true
				observed[p.dst.Workload] = true
			}
			if isPodIn(p.src, ns) && flags[p.src.Workload]&egress != 0 {
				affected = true
				observed[p.src.Workload] = true
			}
			if !affected {
				return
			}
			pairs = appendPair(pairs, p)
			if isPod(p.src) && p.src.Workload.Namespace != ns {
				foreign[p.src.Workload]++
			}
			if isPod(p.dst) && p.dst.Workload.Namespace != ns {
				foreign[p.dst.Workload]++
			}
		})
	}
	imp.Skipped = r.skipped()
	imp.Evaluated = len(pairs)
	for _, w := range selected {
		if !observed[w] {
			imp.Unobserved = append(imp.Unobserved, w.Key())
		}
	}
	imp.Unobserved = sortedUnique(imp.Unobserved)
	if len(pairs) == 0 {
		imp.Unknown = true
		imp.Reason = unknownReason(listNames(imp.Selected), a.opts.Window)
		return imp, nil
	}

	// The proposed policies of the namespace alone: one side of each
	// connection. The other side is the current one's.
	var policies []*networkingv1.NetworkPolicy
	for _, p := range a.policiesByNS[ns] {
		if p.Name != name {
			policies = append(policies, p)
		}
	}
	if proposed != nil {
		policies = append(policies, proposed)
	}
	// The index knows the namespace's workloads, and the others that
	// occur often enough to pay for their registration (an unknown
	// workload costs a little on every verdict instead).
	register := slices.Clone(a.byNamespace[ns])
	for w, n := range foreign {
		if n >= registerAfter {
			register = append(register, w)
		}
	}
	if err := ctx.Err(); err != nil {
		return Impact{}, err
	}
	next, err := netpol.NewIndex(a.cluster.Namespaces, register, policies, a.cluster.Options)
	if err != nil {
		return Impact{}, fmt.Errorf("compile the proposed policies of namespace %s: %w", ns, err)
	}

	classes := make([]class, len(pairs))
	for i := range pairs {
		if i&1023 == 1023 && ctx.Err() != nil {
			return Impact{}, ctx.Err() // out of budget: stop, the caller has moved on
		}
		p := &pairs[i]
		before := p.verdict(a.current)
		// before is outside ∧ inside, with outside the sides of endpoints
		// not in ns (unchanged) and inside those in ns; after is
		// outside ∧ inside'. When before holds, outside does.
		after := p.verdict(next)
		if !before && after {
			if m := otherNamespace(p, ns); m != "" {
				side, err := a.side(m)
				if err != nil {
					return Impact{}, err
				}
				after = p.verdict(side)
			}
		}
		classes[i] = classify(before, after)
	}
	a.report(&imp, pairs, classes, explainers{
		current: func(p *pair) netpol.Explanation {
			return p.explain(a.current)
		},
		proposed: func(p *pair) netpol.Explanation {
			ex := p.explain(a.current)
			if ex.Self {
				return ex
			}
			nx := p.explain(next)
			if isPodIn(p.src, ns) {
				ex.Egress = nx.Egress
			}
			if isPodIn(p.dst, ns) {
				ex.Ingress = nx.Ingress
			}
			ex.Allowed = ex.Egress.Allowed && ex.Ingress.Allowed
			return ex
		},
	})
	return imp, nil
}

// localSelection is the selection of a namespace's workloads and
// Services, by name: what an edge's endpoint in the namespace needs to
// know whether the change can affect it, without resolving the edge.
type localSelection struct {
	workloads map[string][]localWorkload
	services  map[string]sides // the union of the backends'
}

type localWorkload struct {
	kind  string
	flags sides
}

func (a *Analyzer) localSelection(ns string, flags map[*netpol.Workload]sides) localSelection {
	l := localSelection{workloads: make(map[string][]localWorkload, len(a.byNamespace[ns])), services: map[string]sides{}}
	for _, w := range a.byNamespace[ns] {
		l.workloads[w.Name] = append(l.workloads[w.Name], localWorkload{kind: w.Kind, flags: flags[w]})
	}
	for _, svc := range a.servicesByNS[ns] {
		var f sides
		for _, b := range svc.backends {
			f |= flags[b.Workload]
		}
		l.services[svc.Name] = f
	}
	return l
}

// selects reports whether the change can affect ep (of the namespace) in
// direction dir. Endpoints the cluster does not know count as selected,
// so that their edges are reported skipped.
func (l localSelection) selects(ep *flow.Endpoint, dir sides) bool {
	if ep.WorkloadKind == ServiceKind {
		f, ok := l.services[ep.Name]
		return !ok || f&dir != 0
	}
	for _, w := range l.workloads[ep.Name] {
		if w.kind == ep.WorkloadKind {
			return w.flags&dir != 0
		}
	}
	return true
}

// registerAfter is how many connections a workload of another namespace
// needs for the proposed index to register it.
const registerAfter = 4

// target checks the change's shape and returns the policy it is about.
func (ch Change) target() (namespace, name string, err error) {
	fail := func(format string, args ...any) (string, string, error) {
		return "", "", fmt.Errorf("%w: %s", ErrInvalidChange, fmt.Sprintf(format, args...))
	}
	switch ch.Operation {
	case Create:
		if ch.New == nil {
			return fail("CREATE needs the new policy")
		}
	case Update:
		if ch.New == nil {
			return fail("UPDATE needs the new policy")
		}
		if ch.Old != nil && (ch.Old.Namespace != ch.New.Namespace || ch.Old.Name != ch.New.Name) {
			return fail("UPDATE of %s/%s to %s/%s: namespace and name must stay", ch.Old.Namespace, ch.Old.Name, ch.New.Namespace, ch.New.Name)
		}
	case Delete:
		if ch.Old == nil {
			return fail("DELETE needs the old policy")
		}
		if ch.Old.Namespace == "" || ch.Old.Name == "" {
			return fail("DELETE of a policy without namespace or name")
		}
		return ch.Old.Namespace, ch.Old.Name, nil
	default:
		return fail("operation %q: want CREATE, UPDATE or DELETE", ch.Operation)
	}
	return ch.New.Namespace, ch.New.Name, nil
}

// sides are the directions in which a policy selects a workload.
type sides uint8

const (
	ingress sides = 1 << iota
	egress
	selected // by the podSelector, whatever the policyTypes
)

// selection is the podSelectors of the old and the new policy.
type selection []selector

type selector struct {
	sel             labels.Selector
	ingress, egress bool
}

func newSelection(pols ...*networkingv1.NetworkPolicy) (selection, error) {
	var out selection
	for _, p := range pols {
		if p == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			return nil, fmt.Errorf("networkpolicy %s/%s: spec.podSelector: %w", p.Namespace, p.Name, err)
		}
		s := selector{sel: sel}
		s.ingress, s.egress = netpol.PolicyTypes(p)
		out = append(out, s)
	}
	return out, nil
}

// of returns the directions in which the policies select pods with lbls.
func (s selection) of(lbls map[string]string) sides {
	var f sides
	for _, p := range s {
		if !p.sel.Matches(labels.Set(lbls)) {
			continue
		}
		f |= selected
		if p.ingress {
			f |= ingress
		}
		if p.egress {
			f |= egress
		}
	}
	return f
}

// inNamespace reports whether ep is a workload or Service of ns.
func inNamespace(ep flow.Endpoint, ns string) bool {
	return ep.Kind == flow.EndpointWorkload && ep.Namespace == ns
}

// otherNamespace is the namespace of the pod on the side of p that is not
// in ns, "" when policies isolate no such pod.
func otherNamespace(p *pair, ns string) string {
	switch {
	case isPod(p.src) && p.src.Workload.Namespace != ns:
		return p.src.Workload.Namespace
	case isPod(p.dst) && p.dst.Workload.Namespace != ns:
		return p.dst.Workload.Namespace
	}
	return ""
}
