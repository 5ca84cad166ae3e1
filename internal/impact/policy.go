package impact

import (
	"context"
	"fmt"

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
// The proposed set differs from the current one in one namespace's
// policies only: its index is derived from the current one
// (netpol.Index.WithNamespacePolicies), which compiles that namespace's
// policies alone and shares the rest, and the edges' endpoints are
// resolved once for both.
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

	// The connections the change can affect, judged as they are found:
	// the proposed index is built for the first.
	local := a.localSelection(ns, flags)
	r := a.newResolver()
	// states are the selected workloads' flags and whether a judged
	// connection involves them: one map lookup per side.
	states := make(map[*netpol.Workload]*selectedState, len(selected))
	for _, w := range selected {
		states[w] = &selectedState{flags: flags[w]}
	}
	var (
		next   *netpol.Index
		js     []judged
		failed error
	)
	js = a.judgedList()
	defer func() { a.recycle(js) }()
	judge := func(p *pair) {
		// The sides the change can affect: ingress at a destination the
		// old or new policy selects for ingress, egress at a source it
		// selects for egress. The other sides are the current ones.
		var srcChanges, dstChanges bool
		if st := states[p.dst.Workload]; st != nil && st.flags&ingress != 0 {
			dstChanges, st.observed = true, true
		}
		if st := states[p.src.Workload]; st != nil && st.flags&egress != 0 {
			srcChanges, st.observed = true, true
		}
		if !(srcChanges || dstChanges) || failed != nil {
			return
		}
		if next == nil {
			if failed = ctx.Err(); failed != nil {
				return
			}
			if next, failed = a.proposedIndex(ns, name, proposed); failed != nil {
				return
			}
		}
		imp.Evaluated++
		if imp.Evaluated&1023 == 0 {
			if failed = ctx.Err(); failed != nil {
				return // out of budget: stop, the caller has moved on
			}
		}
		if c := p.classify(a.current, next, srcChanges, dstChanges); c != unchanged {
			js = appendJudged(js, p, c)
		}
	}
	for i := range edges {
		if failed != nil {
			return Impact{}, failed
		}
		e := &edges[i]
		srcIn, dstIn := inNamespace(e.Src, ns), inNamespace(e.Dst, ns)
		if !srcIn && !dstIn {
			continue
		}
		// Resolve the other side only when a side in ns is selected.
		if !(srcIn && local.selects(&e.Src, egress)) && !(dstIn && local.selects(&e.Dst, ingress)) {
			continue
		}
		r.forEachPair(e, judge)
	}
	if failed != nil {
		return Impact{}, failed
	}
	imp.Skipped = r.skipped()
	for _, w := range selected {
		if !states[w].observed {
			imp.Unobserved = append(imp.Unobserved, w.Key())
		}
	}
	imp.Unobserved = sortedUnique(imp.Unobserved)
	if imp.Evaluated == 0 {
		imp.Unknown = true
		imp.Reason = unknownReason(listNames(imp.Selected), a.opts.Window)
		return imp, nil
	}

	a.report(&imp, js, r.pairOf, explainers{
		current: func(p *pair) netpol.Explanation {
			return p.explain(a.current)
		},
		proposed: func(p *pair) netpol.Explanation {
			return p.explain(next)
		},
	})
	return imp, nil
}

// proposedIndex derives the index of the current policies with the
// policy name of namespace ns replaced by proposed (removed when nil).
func (a *Analyzer) proposedIndex(ns, name string, proposed *networkingv1.NetworkPolicy) (*netpol.Index, error) {
	var policies []*networkingv1.NetworkPolicy
	for _, p := range a.policiesByNS[ns] {
		if p.Name != name {
			policies = append(policies, p)
		}
	}
	if proposed != nil {
		policies = append(policies, proposed)
	}
	next, err := a.current.WithNamespacePolicies(ns, policies)
	if err != nil {
		return nil, fmt.Errorf("compile the proposed policies of namespace %s: %w", ns, err)
	}
	return next, nil
}

// selectedState is what PolicyChange knows of a selected workload: how the
// change selects it, and whether a judged connection involves it.
type selectedState struct {
	flags    sides
	observed bool
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
