package impact

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// class is what a change does to a connection.
type class uint8

const (
	unchanged class = iota // allowed before and after
	turnsRed
	turnsGreen
	staysRed
)

func classify(before, after bool) class {
	switch {
	case before && !after:
		return turnsRed
	case !before && after:
		return turnsGreen
	case !before && !after:
		return staysRed
	}
	return unchanged
}

// explainers explain a connection under the current and the proposed set.
type explainers struct {
	current, proposed func(p *pair) netpol.Explanation
}

// rank orders judged connections: most connections first, then by names.
type rank struct {
	count uint64
	i     int32
}

// report fills the totals and connection lists of imp from the judged
// pairs the change affects (the unchanged left out), each list sorted and
// cut to MaxConnections, the first MaxExplained of each explained (only
// TurnsRed listed with Options.TurnsRedOnly); pairOf
// gives back the pair of one for its explanation.
func (a *Analyzer) report(imp *Impact, js []judged, pairOf func(*judged) pair, ex explainers) {
	var ranks [4][]rank
	var sizes [4]int
	for i := range js {
		sizes[js[i].class]++
	}
	// The ranks of all classes share one recycled buffer.
	buf := a.rankList(sizes[turnsRed] + sizes[turnsGreen] + sizes[staysRed])
	defer a.recycleRanks(buf)
	off := 0
	for c := turnsRed; c <= staysRed; c++ {
		ranks[c] = buf[off:off:(off + sizes[c])]
		off += sizes[c]
	}
	totals := [4]*Total{nil, &imp.Totals.TurnsRed, &imp.Totals.TurnsGreen, &imp.Totals.StaysRed}
	for i := range js {
		c := js[i].class
		if c == unchanged {
			continue
		}
		n := js[i].count
		ranks[c] = append(ranks[c], rank{count: n, i: int32(i)})
		totals[c].Connections++
		totals[c].Count += n
	}
	order := func(x, y rank) int {
		if x.count != y.count {
			return cmp.Compare(y.count, x.count)
		}
		return compareJudged(&js[x.i], &js[y.i])
	}
	lists := [4]*[]Connection{nil, &imp.TurnsRed, &imp.TurnsGreen, &imp.StaysRed}
	var p pair // the pair explained, one for all
	for c := turnsRed; c <= staysRed; c++ {
		rs := ranks[c]
		if len(rs) == 0 || a.opts.TurnsRedOnly && c != turnsRed {
			continue
		}
		if limit := a.opts.MaxConnections; limit > 0 && len(rs) > limit {
			rs = firstRanks(rs, limit, order)
		}
		slices.SortFunc(rs, order)
		out := make([]Connection, len(rs))
		explained := len(rs)
		if a.opts.MaxExplained >= 0 {
			explained = min(explained, a.opts.MaxExplained)
		}
		// The explanations of a list in one block.
		exps := make([]netpol.Explanation, explained)
		explain := ex.proposed
		if c == turnsGreen {
			explain = ex.current
		}
		for n, r := range rs {
			j := &js[r.i]
			out[n] = j.connection()
			if n < explained {
				p = pairOf(j)
				exps[n] = explain(&p)
				rename(&exps[n], out[n].Src, out[n].Dst)
				out[n].Explanation = &exps[n]
			}
		}
		*lists[c] = out
	}
}

// firstRanks returns the first k of rs in order (in no particular order
// among themselves), reordering rs. It selects by count alone, cheap to
// compare, and orders by names only the connections tied at the count of
// the last one.
func firstRanks(rs []rank, k int, order func(x, y rank) int) []rank {
	selectByCount(rs, k)
	last := rs[0].count
	for _, r := range rs[:k] {
		last = min(last, r.count)
	}
	// rs[:k] holds every rank counted more than last and some counted
	// last: gather those counted last to the end of the ones above.
	above := 0
	for i, r := range rs[:k] {
		if r.count > last {
			rs[above], rs[i] = rs[i], rs[above]
			above++
		}
	}
	tied := above
	for i := above; i < len(rs); i++ {
		if rs[i].count == last {
			rs[tied], rs[i] = rs[i], rs[tied]
			tied++
		}
	}
	if tied > k {
		selectFirst(rs[above:tied], k-above, order)
	}
	return rs[:k]
}

// selectByCount reorders rs so that its first k elements are ones with
// the k highest counts.
func selectByCount(rs []rank, k int) {
	selectFirst(rs, k, func(x, y rank) int { return cmp.Compare(y.count, x.count) })
}

// rankList returns a list of n ranks, recycled when one is big enough.
func (a *Analyzer) rankList(n int) []rank {
	if l, ok := a.rankLists.Get().(*[]rank); ok && cap(*l) >= n {
		return (*l)[:n]
	}
	return make([]rank, n)
}

// recycleRanks returns a list rankList gave.
func (a *Analyzer) recycleRanks(rs []rank) {
	if cap(rs) > 0 {
		a.rankLists.Put(&rs)
	}
}

// selectFirst reorders rs so that its first k elements are the k first
// in order (in no particular order among themselves): quickselect.
func selectFirst(rs []rank, k int, order func(x, y rank) int) {
	lo, hi, t := 0, len(rs)-1, k-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if order(rs[mid], rs[lo]) < 0 {
			rs[mid], rs[lo] = rs[lo], rs[mid]
		}
		if order(rs[hi], rs[lo]) < 0 {
			rs[hi], rs[lo] = rs[lo], rs[hi]
		}
		if order(rs[hi], rs[mid]) < 0 {
			rs[hi], rs[mid] = rs[mid], rs[hi]
		}
		pivot := rs[mid]
		i, j := lo, hi
		for i <= j {
			for order(rs[i], pivot) < 0 {
				i++
			}
			for order(rs[j], pivot) > 0 {
				j--
			}
			if i <= j {
				rs[i], rs[j] = rs[j], rs[i]
				i++
				j--
			}
		}
		switch {
		case t <= j:
			hi = j
		case t >= i:
			lo = i
		default:
			return
		}
	}
}

func (p *judged) connection() Connection {
	e := p.edge
	return Connection{
		Src: *p.srcName, Dst: *p.dstName,
		Protocol: e.Protocol, Port: e.Port,
		Count: e.Count, LastSeen: e.LastSeen,
		ObservedDropped: e.Verdicts[flow.VerdictDropped],
		Service:         serviceOf(p),
		Expanded:        p.expanded,
	}
}

// serviceOf is the Service the connection went through: the edge's, or
// the Service endpoint it was expanded from.
func serviceOf(p *judged) *flow.ServiceRef {
	if p.edge.Service != nil || !p.expanded {
		return p.edge.Service
	}
	ep := &p.edge.Dst
	if ep.WorkloadKind != ServiceKind {
		ep = &p.edge.Src
	}
	return &flow.ServiceRef{Namespace: ep.Namespace, Name: ep.Name}
}

// compareJudged orders by source, destination, protocol and port.
func compareJudged(a, b *judged) int {
	if c := compareEndpoints(a.srcName, b.srcName); c != 0 {
		return c
	}
	return cmp.Or(
		compareEndpoints(a.dstName, b.dstName),
		cmp.Compare(a.edge.Protocol, b.edge.Protocol),
		cmp.Compare(a.edge.Port, b.edge.Port),
	)
}

// rename puts the flow names of the endpoints into an explanation (a node
// is a stand-in workload to the engine).
func rename(e *netpol.Explanation, src, dst flow.Endpoint) {
	s, d := src.String(), dst.String()
	e.Src, e.Dst = s, d
	e.Egress.Endpoint, e.Ingress.Endpoint = s, d
	if src.Kind == flow.EndpointNode {
		e.Egress.Reason = "a node: no policy applies"
	}
	if dst.Kind == flow.EndpointNode {
		e.Ingress.Reason = "a node: no policy applies"
	}
	for _, side := range []*netpol.Side{&e.Egress, &e.Ingress} {
		for i := range side.Rules {
			for _, ep := range []flow.Endpoint{src, dst} {
				if ep.Kind == flow.EndpointNode {
					side.Rules[i].Reason = strings.ReplaceAll(side.Rules[i].Reason, "/"+ep.Name+"["+nodeKind+"]", ep.String())
				}
			}
		}
	}
}

// unknownReason words the "impact unknown" answer.
func unknownReason(what string, window time.Duration) string {
	return fmt.Sprintf("no traffic observed for %s in the last %s: impact unknown", what, formatWindow(window))
}

// formatWindow renders whole days as "7d".
func formatWindow(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// listNames shortens a long list of names for a message.
func listNames(names []string) string {
	const max = 5
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
