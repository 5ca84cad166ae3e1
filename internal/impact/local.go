package impact

import (
	"cmp"
	"slices"
	"sync"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// nsWorkloads is what a policy change in a namespace looks up about the
// namespace's workloads, the same for every change: built once per
// namespace and Analyzer, so that a what-if keeps its per-workload state
// in slices by position (no map, no key string per request).
type nsWorkloads struct {
	// list is the Analyzer's byNamespace of the namespace.
	list []*netpol.Workload
	// pos is each workload's position in list; canon the position pos
	// gives for each (a workload listed twice has one, the first).
	pos   map[*netpol.Workload]int32
	canon []int32
	// byName are the positions of the workloads of each name, in order.
	byName map[string][]int32
	// services are the positions of each Service's backends, by name.
	services map[string][]int32
	// keys are the workloads' Keys by position, sorted the positions in
	// the order of their keys.
	keys   []string
	sorted []int32
}

// nsWorkloadsCache holds the Analyzer's nsWorkloads, by namespace.
type nsWorkloadsCache struct {
	mu   sync.Mutex
	byNS map[string]*nsWorkloads
}

// localWorkloads returns the nsWorkloads of ns, building them the first
// time.
func (a *Analyzer) localWorkloads(ns string) *nsWorkloads {
	c := &a.locals
	c.mu.Lock()
	l := c.byNS[ns]
	c.mu.Unlock()
	if l != nil {
		return l
	}
	l = a.buildLocalWorkloads(ns)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.byNS[ns]; prev != nil {
		return prev // built concurrently: keep one
	}
	if c.byNS == nil {
		c.byNS = make(map[string]*nsWorkloads)
	}
	c.byNS[ns] = l
	return l
}

func (a *Analyzer) buildLocalWorkloads(ns string) *nsWorkloads {
	list := a.byNamespace[ns]
	l := &nsWorkloads{
		list:     list,
		pos:      make(map[*netpol.Workload]int32, len(list)),
		canon:    make([]int32, len(list)),
		byName:   make(map[string][]int32, len(list)),
		services: make(map[string][]int32, len(a.servicesByNS[ns])),
		keys:     make([]string, len(list)),
		sorted:   make([]int32, len(list)),
	}
	for i, w := range list {
		if _, ok := l.pos[w]; !ok {
			l.pos[w] = int32(i)
		}
		l.canon[i] = l.pos[w]
		l.byName[w.Name] = append(l.byName[w.Name], int32(i))
		l.keys[i] = w.Key()
		l.sorted[i] = int32(i)
	}
	slices.SortStableFunc(l.sorted, func(x, y int32) int { return cmp.Compare(l.keys[x], l.keys[y]) })
	for _, svc := range a.servicesByNS[ns] {
		backends := make([]int32, 0, len(svc.backends))
		for _, b := range svc.backends {
			if i, ok := l.pos[b.Workload]; ok {
				backends = append(backends, i)
			}
		}
		l.services[svc.Name] = backends
	}
	return l
}

// sortedKeys returns the sorted, distinct keys of the workloads at the
// positions where keep is true (sortedKeys of those workloads).
func (l *nsWorkloads) sortedKeys(keep func(i int32) bool) []string {
	n := 0
	for _, i := range l.sorted {
		if keep(i) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for _, i := range l.sorted {
		if keep(i) {
			out = append(out, l.keys[i])
		}
	}
	return slices.Compact(out)
}

// selects reports whether the change can affect ep (of the namespace) in
// direction dir, flags being the change's flags by position. Endpoints
// the cluster does not know count as selected, so that their edges are
// reported skipped.
func (l *nsWorkloads) selects(flags []sides, ep *flow.Endpoint, dir sides) bool {
	if ep.WorkloadKind == ServiceKind {
		backends, ok := l.services[ep.Name]
		if !ok {
			return true
		}
		var f sides
		for _, i := range backends {
			f |= flags[i]
		}
		return f&dir != 0
	}
	for _, i := range l.byName[ep.Name] {
		if l.list[i].Kind == ep.WorkloadKind {
			return flags[i]&dir != 0
		}
	}
	return true
}
