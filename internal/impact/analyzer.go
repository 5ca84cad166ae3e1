package impact

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/netpol"
)

// An Analyzer holds the compiled current policy set of one cluster version,
// so that repeated what-ifs over it are cheap. It is safe for concurrent
// use.
type Analyzer struct {
	cluster Cluster
	opts    Options
	// current is the whole current policy set.
	current *netpol.Index

	// workloads are by name (one string to hash, not three), resolved by
	// current.
	workloads    map[string]int32 // the first in workloadRefs
	workloadRefs []workloadRef
	byNamespace  map[string][]*netpol.Workload
	services     map[nsName]*service
	// servicesByNS are the Services of each namespace.
	servicesByNS map[string][]*service
	nodes        map[string]netpol.ResolvedEndpoint
	namespaces   map[string]map[string]string

	policies     map[nsName]*networkingv1.NetworkPolicy
	policiesByNS map[string][]*networkingv1.NetworkPolicy
	// nsPeers are the policies with namespaceSelector peers, for relabels.
	nsPeers []nsPeerPolicy

	// uniqueNames is set when no two policies have the same namespace
	// and name: a policy change's proposed sides can then be judged from
	// the current ones' tallies.
	uniqueNames bool
	// edgeCache holds the resolved and judged edges of the namespaces
	// what-ifs were asked about (edgecache.go).
	edgeCache edgeCache
	// locals are the workloads of the namespaces policy changes were
	// asked about, by position (local.go).
	locals nsWorkloadsCache

	// judgedLists recycles the lists of judged pairs (*[]judged): a
	// what-if may judge tens of thousands.
	judgedLists sync.Pool
	// rankLists recycles report's lists of ranks (*[]rank).
	rankLists sync.Pool
}

// judgedList returns an empty list of judged pairs, recycled when one is.
func (a *Analyzer) judgedList() []judged {
	if l, ok := a.judgedLists.Get().(*[]judged); ok {
		return (*l)[:0]
	}
	return nil
}

// recycle returns a list judgedList gave, once nothing refers to it.
func (a *Analyzer) recycle(js []judged) {
	if cap(js) == 0 {
		return
	}
	clear(js) // keep no edges alive
	js = js[:0]
	a.judgedLists.Put(&js)
}

type nsName struct{ namespace, name string }

type service struct {
	Service
	// backends are the workloads the selector picks, names their
	// endpoints.
	backends []netpol.ResolvedEndpoint
	names    []flow.Endpoint
}

type nsPeerPolicy struct {
	name      string // namespace/name
	namespace string
	selectors []labels.Selector
}

// NewAnalyzer compiles the current policy set of c. A policy that does not
// compile is an error naming it.
func NewAnalyzer(c Cluster, opts Options) (*Analyzer, error) {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxExplained == 0 {
		opts.MaxExplained = DefaultMaxExplained
	}
	current, err := netpol.NewIndex(c.Namespaces, c.Workloads, c.Policies, c.Options)
	if err != nil {
		return nil, fmt.Errorf("compile the current policies: %w", err)
	}
	a := &Analyzer{
		cluster:      c,
		opts:         opts,
		current:      current,
		workloads:    make(map[string]int32, len(c.Workloads)),
		workloadRefs: make([]workloadRef, 0, len(c.Workloads)),
		byNamespace:  make(map[string][]*netpol.Workload),
		services:     make(map[nsName]*service, len(c.Services)),
		servicesByNS: make(map[string][]*service),
		nodes:        make(map[string]netpol.ResolvedEndpoint, len(c.NodeAddrs)),
		namespaces:   make(map[string]map[string]string, len(c.Namespaces)),
		policies:     make(map[nsName]*networkingv1.NetworkPolicy, len(c.Policies)),
		policiesByNS: make(map[string][]*networkingv1.NetworkPolicy),
	}
	for _, ns := range c.Namespaces {
		a.namespaces[ns.Name] = ns.Labels
	}
	// The names the lookups compare are copied next to each other, and
	// the namespaces and kinds interned: a lookup reads little memory.
	var arena strings.Builder
	for _, w := range c.Workloads {
		arena.WriteString(w.Name)
	}
	names := arena.String()
	intern := map[string]string{}
	interned := func(s string) string {
		if t, ok := intern[s]; ok {
			return t
		}
		intern[s] = s
		return s
	}
	for _, w := range c.Workloads {
		name := names[:len(w.Name)]
		names = names[len(w.Name):]
		ref := workloadRef{namespace: interned(w.Namespace), kind: interned(w.Kind), ep: current.Resolve(netpol.WorkloadEndpoint(w)), next: -1}
		if first, ok := a.workloads[name]; ok {
			ref.next = a.workloadRefs[first].next
			a.workloadRefs[first].next = int32(len(a.workloadRefs))
		} else {
			a.workloads[name] = int32(len(a.workloadRefs))
		}
		a.workloadRefs = append(a.workloadRefs, ref)
		a.byNamespace[w.Namespace] = append(a.byNamespace[w.Namespace], w)
	}
	for _, s := range c.Services {
		svc := &service{Service: s}
		if len(s.Selector) > 0 {
			sel := labels.SelectorFromSet(s.Selector)
			for _, w := range a.byNamespace[s.Namespace] {
				if sel.Matches(labels.Set(w.Labels)) {
					svc.backends = append(svc.backends, current.Resolve(netpol.WorkloadEndpoint(w)))
					svc.names = append(svc.names, flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name))
				}
			}
		}
		a.services[nsName{s.Namespace, s.Name}] = svc
		a.servicesByNS[s.Namespace] = append(a.servicesByNS[s.Namespace], svc)
	}
	for name, addr := range c.NodeAddrs {
		a.nodes[name] = current.Resolve(netpol.WorkloadEndpoint(nodeWorkload(name, addr)))
	}
	a.uniqueNames = true
	for _, p := range c.Policies {
		if a.policies[nsName{p.Namespace, p.Name}] != nil {
			a.uniqueNames = false
		}
		a.policies[nsName{p.Namespace, p.Name}] = p
		a.policiesByNS[p.Namespace] = append(a.policiesByNS[p.Namespace], p)
		if np := namespacePeers(p); len(np.selectors) > 0 {
			a.nsPeers = append(a.nsPeers, np)
		}
	}
	return a, nil
}

// Options returns the analyzer's options, defaulted.
func (a *Analyzer) Options() Options { return a.opts }

// namespacePeers collects the namespaceSelectors of a policy's peers.
func namespacePeers(p *networkingv1.NetworkPolicy) nsPeerPolicy {
	out := nsPeerPolicy{name: p.Namespace + "/" + p.Name, namespace: p.Namespace}
	seen := map[string]bool{}
	add := func(peers []networkingv1.NetworkPolicyPeer) {
		for _, peer := range peers {
			if peer.NamespaceSelector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
			if err != nil || sel.Empty() || seen[sel.String()] {
				continue // does not compile (NewIndex refused it) or selects all
			}
			seen[sel.String()] = true
			out.selectors = append(out.selectors, sel)
		}
	}
	ingress, egress := netpol.PolicyTypes(p)
	if ingress {
		for _, r := range p.Spec.Ingress {
			add(r.From)
		}
	}
	if egress {
		for _, r := range p.Spec.Egress {
			add(r.To)
		}
	}
	return out
}

// withPolicy returns an analyzer over the cluster with p added (or
// replacing the policy of that name): the current set when the cluster
// snapshot lags behind the API server.
func (a *Analyzer) withPolicy(p *networkingv1.NetworkPolicy) (*Analyzer, error) {
	c := a.cluster
	c.Policies = slices.DeleteFunc(slices.Clone(c.Policies), func(q *networkingv1.NetworkPolicy) bool {
		return q.Namespace == p.Namespace && q.Name == p.Name
	})
	c.Policies = append(c.Policies, p)
	return NewAnalyzer(c, a.opts)
}

// sortedKeys renders workloads as sorted "ns/name[Kind]" keys.
func sortedKeys(ws []*netpol.Workload) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.Key())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// withNameLabel copies lbls and adds the namespace name label.
func withNameLabel(name string, lbls map[string]string) labels.Set {
	out := make(labels.Set, len(lbls)+1)
	maps.Copy(out, lbls)
	out[netpol.NamespaceNameLabel] = name
	return out
}

// sortedUnique sorts names and drops duplicates.
func sortedUnique(names []string) []string {
	slices.Sort(names)
	return slices.Compact(names)
}
