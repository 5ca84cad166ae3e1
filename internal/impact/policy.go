package impact

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
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
	// localFlags are the change's flags by position in byNamespace[ns],
	// with how the old and the new policy each select the workload;
	// observed whether a judged connection involves it.
	loc := a.localWorkloads(ns)
	local := loc.list
	localFlags := make([]sides, len(local))
	oldSel, _ := newSelection(old)
	newSel, _ := newSelection(proposed)
	selectsAny := false
	for i, w := range local {
		if w.HostNetwork {
			continue // not selectable
		}
		if f := sel.of(w.Labels); f != 0 {
			selectsAny = true
			localFlags[i] = f | oldSel.of(w.Labels).as(oldIngress, oldEgress) | newSel.of(w.Labels).as(newIngress, newEgress)
		}
	}
	if !selectsAny {
		imp.Reason = "selects no pods: no connection can change"
		return imp, nil
	}
	isSelected := func(i int32) bool { return localFlags[i] != 0 }
	imp.Selected = loc.sortedKeys(isSelected)

	// The connections the change can affect, judged as they are found:
	// the proposed index is built for the first.
	r := a.newResolver()
	observed := make([]bool, len(local))
	var (
		next   *netpol.Index
		js     []judged
		failed error
		// rules judge a connection by the old and the new policy alone,
		// when the current tallies can be adjusted for them.
		rules *changeRules
		// release gives next's memory back once the impact is reported
		// (nothing in it refers to next).
		release func()
	)
	js = a.judgedList()
	defer func() {
		a.recycle(js)
		if release != nil {
			release()
		}
	}()
	// affected counts a connection the change can affect, building the
	// proposed index for the first; false when out of budget.
	affected := func() bool {
		if failed != nil {
			return false
		}
		if next == nil {
			if failed = ctx.Err(); failed != nil {
				return false
			}
			if next, release, failed = a.proposedIndex(ns, name, proposed); failed != nil {
				return false
			}
			rules = a.changeRules(ns, name, old, proposed, next)
		}
		imp.Evaluated++
		if imp.Evaluated&1023 == 0 {
			if failed = ctx.Err(); failed != nil {
				return false // out of budget: stop, the caller has moved on
			}
		}
		return true
	}
	judge := func(p *pair) {
		// The sides the change can affect: ingress at a destination the
		// old or new policy selects for ingress, egress at a source it
		// selects for egress. The other sides are the current ones.
		var srcChanges, dstChanges bool
		if i, ok := loc.pos[p.dst.Workload]; ok && localFlags[i]&ingress != 0 {
			dstChanges, observed[i] = true, true
		}
		if i, ok := loc.pos[p.src.Workload]; ok && localFlags[i]&egress != 0 {
			srcChanges, observed[i] = true, true
		}
		if !(srcChanges || dstChanges) || !affected() {
			return
		}
		if c := p.classify(a.current, next, srcChanges, dstChanges); c != unchanged {
			js = appendJudged(js, p, c)
		}
	}
	cache := a.cachedEdges(ns, edges)
	same := cache.builtFrom(edges)
	cursor, misses, inPlace := 0, 0, 0
	for i := range edges {
		if failed != nil {
			return Impact{}, failed
		}
		e := &edges[i]
		var ce *cachedEdge
		ok := same
		if same {
			ce = &cache.edges[i]
		}
		// A cached edge with connections touches ns; the others are
		// looked at.
		var srcIn, dstIn bool
		if !same || ce.n < 0 {
			if srcIn, dstIn = inNamespace(e.Src, ns), inNamespace(e.Dst, ns); !srcIn && !dstIn {
				continue
			}
		}
		if !same {
			if ce, ok = cache.find(a, e, &cursor); ok && cache.inPlace(ce, i) {
				inPlace++
			}
		}
		if !ok || ce.n < 0 {
			if !ok {
				misses++
			}
			// Resolve the other side only when a side in ns is selected.
			if !(srcIn && loc.selects(localFlags, &e.Src, egress)) && !(dstIn && loc.selects(localFlags, &e.Dst, ingress)) {
				continue
			}
			r.forEachPair(e, judge)
			continue
		}
		proto, _ := e.Protocol.Kubernetes()
		port := int32(e.Port)
		for k := ce.first; k < ce.first+ce.n; k++ {
			cc := &cache.conns[k]
			src, dst := &cache.eps[cc.src], &cache.eps[cc.dst]
			var srcFlags, dstFlags sides
			if src.local >= 0 {
				if srcFlags = localFlags[src.local]; srcFlags&egress != 0 {
					observed[src.local] = true
				}
			}
			if dst.local >= 0 {
				if dstFlags = localFlags[dst.local]; dstFlags&ingress != 0 {
					observed[dst.local] = true
				}
			}
			srcChanges, dstChanges := srcFlags&egress != 0, dstFlags&ingress != 0
			if !(srcChanges || dstChanges) || !affected() {
				continue
			}
			var c class
			switch {
			case !srcChanges && !cc.egress.Allows() || !dstChanges && !cc.ingress.Allows():
				c = staysRed
			default:
				before, after := true, true
				if srcChanges {
					before = cc.egress.Allows()
					after = rules.side(next, netpol.Egress, cc.egress, srcFlags, &src.res, &dst.res, proto, port)
				}
				if dstChanges {
					before = before && cc.ingress.Allows()
					after = after && rules.side(next, netpol.Ingress, cc.ingress, dstFlags, &src.res, &dst.res, proto, port)
				}
				c = classify(before, after)
			}
			if c != unchanged {
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
	if !same && inPlace == len(edges) && len(edges) == len(cache.edges) {
		cache.adopt(edges) // the next what-if over this slice takes the fast path
	}
	// A workload listed twice is observed at either position.
	for i, c := range loc.canon {
		if observed[i] {
			observed[c] = true
		}
	}
	imp.Skipped = r.skipped()
	imp.Unobserved = loc.sortedKeys(func(i int32) bool { return localFlags[i] != 0 && !observed[loc.canon[i]] })
	if imp.Evaluated == 0 {
		imp.Unknown = true
		imp.Reason = unknownReason(listNames(imp.Selected), a.opts.Window)
		return imp, nil
	}

	a.report(&imp, js, r.pairOf, explainers{
		current: func(p *pair) netpol.Explanation {
			return p.explain(a.current, a.opts.BriefExplanations)
		},
		proposed: func(p *pair) netpol.Explanation {
			return p.explain(next, a.opts.BriefExplanations)
		},
	})
	return imp, nil
}

// proposedIndex derives the index of the current policies with the
// policy name of namespace ns replaced by proposed (removed when nil), to
// be released once no longer used.
func (a *Analyzer) proposedIndex(ns, name string, proposed *networkingv1.NetworkPolicy) (*netpol.Index, func(), error) {
	var policies []*networkingv1.NetworkPolicy
	for _, p := range a.policiesByNS[ns] {
		if p.Name != name {
			policies = append(policies, p)
		}
	}
	if proposed != nil {
		policies = append(policies, proposed)
	}
	next, release, err := a.current.WithNamespacePoliciesScratch(ns, policies)
	if err != nil {
		return nil, nil, fmt.Errorf("compile the proposed policies of namespace %s: %w", ns, err)
	}
	return next, release, nil
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
	// oldIngress, oldEgress, newIngress and newEgress say which policy,
	// the old or the new, selects in which direction.
	oldIngress
	oldEgress
	newIngress
	newEgress
)

// as renames the ingress and egress flags of s.
func (s sides) as(in, eg sides) sides {
	var out sides
	if s&ingress != 0 {
		out |= in
	}
	if s&egress != 0 {
		out |= eg
	}
	return out
}

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

// changeRules judge a changed side under the proposed set from its tally
// under the current one: the proposed set isolates the subject with the
// current policies but the old one, plus the new one if it selects it, so
// only the old and the new policy's rules need a look. Without them (two
// policies of one name, a policy the index does not have), the proposed
// index judges the side.
type changeRules struct {
	fast             bool
	oldRules, rules  netpol.PolicyRules
	hasOld, hasRules bool
}

func (a *Analyzer) changeRules(ns, name string, old, proposed *networkingv1.NetworkPolicy, next *netpol.Index) *changeRules {
	r := &changeRules{}
	if !a.uniqueNames {
		return r
	}
	if old != nil {
		if r.oldRules, r.hasOld = a.current.PolicyRules(ns, name); !r.hasOld {
			return r
		}
	}
	if proposed != nil {
		if r.rules, r.hasRules = next.PolicyRules(ns, name); !r.hasRules {
			return r
		}
	}
	r.fast = true
	return r
}

// side judges one side of a connection under next, the proposed index: t
// is its tally under the current one, f the subject's flags.
func (r *changeRules) side(next *netpol.Index, dir netpol.Direction, t netpol.SideTally, f sides, src, dst *netpol.ResolvedEndpoint, protocol corev1.Protocol, port int32) bool {
	if t.Always {
		return true
	}
	if !r.fast {
		return next.SideVerdict(dir, src, dst, protocol, port)
	}
	oldBit, newBit := oldIngress, newIngress
	if dir == netpol.Egress {
		oldBit, newBit = oldEgress, newEgress
	}
	isolating, allowing := int(t.Isolating), int(t.Allowing)
	if f&oldBit != 0 {
		// The old policy is one of the tally's: take it out.
		isolating--
		if allowing == 1 && r.oldRules.SideAllows(dir, src, dst, protocol, port) {
			allowing = 0
		}
	}
	newSelects := f&newBit != 0
	switch {
	case isolating == 0 && !newSelects:
		return true // not isolated
	case allowing > 0:
		return true
	case newSelects:
		return r.rules.SideAllows(dir, src, dst, protocol, port)
	}
	return false
}
