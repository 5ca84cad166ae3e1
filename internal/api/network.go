package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/inventory"
	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
	"github.com/redline-dev/redline/internal/store"
	"github.com/redline-dev/redline/internal/suggest"
	"github.com/redline-dev/redline/internal/traffic"
)

// Access authenticates and authorises callers (kubeauth.Guard): Check for
// the request's own permission, Allowed for further ones of the same user
// (which namespaces it may read).
type Access interface {
	Authorizer
	Allowed(ctx context.Context, u user.Info, perm kubeauth.Permission) (bool, error)
}

// The virtual resources the Network view adds to kubeauth's (group
// redline.io, docs/api.md).
var (
	// ManageSettings allows the admin actions: aliases, allowed addresses
	// and cluster CIDRs, written to the redline-config ConfigMap.
	ManageSettings = kubeauth.Permission{Verb: "update", Resource: "settings"}
)

// UpdateDrafts allows saving a workload's draft choices in namespace.
func UpdateDrafts(namespace string) kubeauth.Permission {
	return kubeauth.Permission{Verb: "update", Resource: "drafts", Namespace: namespace}
}

// DefaultClusterName names the one cluster a Redline serves.
const DefaultClusterName = "local"

// MaxWindow is the longest window the Network view reads (the store's
// default retention).
const MaxWindow = 30 * 24 * time.Hour

// defaultSince is the window when a request names none.
const defaultSince = "12h"

// NetworkHandler serves the Network view's endpoints: what a person scopes,
// reads and drafts in the web UI. Each endpoint authorises the caller on
// the namespaces whose data it answers with, and answers only with those.
type NetworkHandler struct {
	Auth      Access
	Inventory func() *inventory.Inventory
	// Classifier is the live redline-config classification (aliases).
	Classifier func() *inventory.Classifier
	Store      *store.Store
	// Client writes the redline-config ConfigMap in ConfigNamespace.
	Client          kubernetes.Interface
	ConfigNamespace string
	// ClusterName names the cluster in scopes (DefaultClusterName).
	ClusterName string
	// NetpolOptions are the engine's (netpol.DefaultOptions when zero).
	NetpolOptions *netpol.Options
	// NamespaceLabelKey is the key namespaces are selected by when a
	// draft names none: the server's --namespace-label-key.
	NamespaceLabelKey string
	Now               func() time.Time

	mu       sync.Mutex
	snapshot *inventory.Inventory
	index    *netpol.Index
	analyzer *impact.Analyzer
	buildErr error
}

func (n *NetworkHandler) routes(ready func() error) []route {
	g := func(h http.HandlerFunc) http.Handler { return readyGate(ready, h) }
	const wl = "/api/v1/namespaces/{ns}/workloads/{kind}/{name}"
	return []route{
		{http.MethodGet, "/api/v1/whoami", http.HandlerFunc(n.whoami)},
		{http.MethodGet, "/api/v1/openapi.json", http.HandlerFunc(n.openAPI)},
		{http.MethodGet, "/api/v1/scopes", g(n.scopes)},
		{http.MethodGet, wl + "/traffic", g(n.traffic)},
		{http.MethodGet, "/api/v1/unresolved", g(n.unresolved)},
		{http.MethodGet, wl + "/policies", g(n.policies)},
		{http.MethodGet, wl + "/choices", g(n.getChoices)},
		{http.MethodPut, wl + "/choices", g(n.putChoices)},
		{http.MethodGet, wl + "/topology", g(n.topology)},
		{http.MethodPost, wl + "/topology", g(n.topology)},
		{http.MethodPost, "/api/v1/whatif", g(n.whatIf)},
		{http.MethodPost, "/api/v1/aliases", http.HandlerFunc(n.postAlias)},
		{http.MethodPost, "/api/v1/allowed", http.HandlerFunc(n.postAllowed)},
		{http.MethodPost, "/api/v1/cidrs", http.HandlerFunc(n.postCIDRs)},
	}
}

func (n *NetworkHandler) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *NetworkHandler) netpolOptions() netpol.Options {
	if n.NetpolOptions != nil {
		return *n.NetpolOptions
	}
	return netpol.DefaultOptions()
}

// engines returns the policy index and the impact analyzer of the current
// inventory snapshot, built once per snapshot.
func (n *NetworkHandler) engines() (*inventory.Inventory, *netpol.Index, *impact.Analyzer, error) {
	inv := n.Inventory()
	if inv == nil {
		return nil, nil, nil, errors.New("no cluster inventory yet")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.snapshot == inv {
		return inv, n.index, n.analyzer, n.buildErr
	}
	opts := n.netpolOptions()
	ix, err := netpol.NewIndex(inv.Namespaces, inv.Workloads, inv.Policies, opts)
	var a *impact.Analyzer
	if err == nil {
		a, err = impact.NewAnalyzer(clusterOf(inv, opts), impact.Options{})
	}
	if err != nil {
		err = fmt.Errorf("compile the cluster's current policies: %w", err)
	}
	n.snapshot, n.index, n.analyzer, n.buildErr = inv, ix, a, err
	return inv, ix, a, err
}

// clusterOf is what impact needs of an inventory.
func clusterOf(inv *inventory.Inventory, opts netpol.Options) impact.Cluster {
	c := impact.Cluster{Namespaces: inv.Namespaces, Workloads: inv.Workloads, Policies: inv.Policies, Options: opts}
	for _, s := range inv.Services {
		c.Services = append(c.Services, impact.Service{Namespace: s.Namespace, Name: s.Name, Selector: s.Selector})
	}
	return c
}

// analyzerFor builds an analyzer whose results word window.
func (n *NetworkHandler) analyzerFor(inv *inventory.Inventory, window time.Duration) (*impact.Analyzer, error) {
	a, err := impact.NewAnalyzer(clusterOf(inv, n.netpolOptions()), impact.Options{Window: window})
	if err != nil {
		return nil, fmt.Errorf("compile the cluster's current policies: %w", err)
	}
	return a, nil
}

// readScope is what a caller may read.
type readScope struct {
	user user.Info
	// all: get traffic.redline.io in every namespace (a ClusterRoleBinding).
	all bool
	ns  map[string]bool
}

func (s readScope) may(ns string) bool { return s.all || s.ns[ns] }

// some is a forbidden error when the caller may read no namespace at all.
func (s readScope) some() error {
	for _, ok := range s.ns {
		if ok {
			return nil
		}
	}
	if s.all {
		return nil
	}
	return fmt.Errorf("%w: %s may not %s, nor in any namespace: ask for the redline-traffic-reader ClusterRole (a RoleBinding per namespace)",
		kubeauth.ErrForbidden, s.user.GetName(), kubeauth.ReadTraffic(""))
}

// maxParallelReviews bounds the SubjectAccessReviews one request runs at
// once; the Guard caches each decision for a minute (denials 10 s).
const maxParallelReviews = 8

// readScope authenticates the caller and finds which of candidates it may
// read: one cluster-wide review first (a reader bound cluster-wide needs
// no more), then one per namespace, in parallel.
// namespaceNames are the names of inv's namespaces (none for nil): the
// candidates of readScope.
func namespaceNames(inv *inventory.Inventory) []string {
	if inv == nil {
		return nil
	}
	names := make([]string, 0, len(inv.Namespaces))
	for _, ns := range inv.Namespaces {
		names = append(names, ns.Name)
	}
	return names
}

func (n *NetworkHandler) readScope(r *http.Request, candidates []string) (readScope, error) {
	u, err := n.Auth.Check(r, kubeauth.ReadTraffic(""))
	switch {
	case err == nil:
		return readScope{user: u, all: true}, nil
	case !errors.Is(err, kubeauth.ErrForbidden) || u == nil:
		return readScope{}, err
	}
	scope := readScope{user: u, ns: map[string]bool{}}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, maxParallelReviews)
	)
	for _, ns := range candidates {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := n.Auth.Allowed(r.Context(), u, kubeauth.ReadTraffic(ns))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("authorise %s for %s: %w", kubeauth.ReadTraffic(ns), u.GetName(), err)
			}
			if ok {
				scope.ns[ns] = true
			}
		}()
	}
	wg.Wait()
	return scope, firstErr
}

// require checks a further permission of the caller readScope
// authenticated (the authenticator consumes the token: a request is
// authenticated once).
func (n *NetworkHandler) require(r *http.Request, scope readScope, perm kubeauth.Permission) error {
	if perm.Verb == "get" && perm.Resource == "traffic" && scope.may(perm.Namespace) {
		return nil
	}
	ok, err := n.Auth.Allowed(r.Context(), scope.user, perm)
	switch {
	case err != nil:
		return fmt.Errorf("authorise %s for %s: %w", perm, scope.user.GetName(), err)
	case !ok:
		return fmt.Errorf("%w: %s may not %s", kubeauth.ErrForbidden, scope.user.GetName(), perm)
	}
	return nil
}

// subjectRef is the workload (or Service) a path names.
// readableSubject is the request's subject when the caller may read its
// namespace's traffic; else it has answered the request and returns
// false.
func (n *NetworkHandler) readableSubject(w http.ResponseWriter, r *http.Request) (flow.Endpoint, bool) {
	subject, err := subjectRef(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return flow.Endpoint{}, false
	}
	if _, err := n.Auth.Check(r, kubeauth.ReadTraffic(subject.Namespace)); err != nil {
		writeAuthError(w, err)
		return flow.Endpoint{}, false
	}
	return subject, true
}

func subjectRef(r *http.Request) (flow.Endpoint, error) {
	return parseSubject(r.PathValue("ns"), r.PathValue("kind"), r.PathValue("name"))
}

// parseSubject reads namespace, kind and name: a workload kind, or Service.
func parseSubject(ns, kind, name string) (flow.Endpoint, error) {
	if strings.EqualFold(kind, "service") || strings.EqualFold(kind, "svc") {
		if ns == "" || name == "" {
			return flow.Endpoint{}, fmt.Errorf("invalid Service %s/%s: want a namespace and a name", ns, name)
		}
		return inventory.ServiceEndpoint(ns, name), nil
	}
	return flow.ParseWorkloadRef(ns + "/" + kind + "/" + name)
}

// refString renders an endpoint as the API names it: namespace/Kind/name
// for workloads and Services, the node name, or the address.
func refString(e flow.Endpoint) string {
	switch e.Kind {
	case flow.EndpointWorkload:
		return e.Namespace + "/" + e.WorkloadKind + "/" + e.Name
	case flow.EndpointNode:
		return "node/" + e.Name
	}
	return e.Addr.String()
}

// window reads ?since= (default 12h, at most 30d) and returns [from, to).
func (n *NetworkHandler) window(r *http.Request) (since string, from, to time.Time, err error) {
	since = r.URL.Query().Get("since")
	if since == "" {
		since = defaultSince
	}
	d, err := parseWindow(since)
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	now := n.now()
	return since, now.Add(-d), now.Add(time.Hour), nil
}

func parseWindow(since string) (time.Duration, error) {
	d, err := traffic.ParseWindow(since)
	if err != nil {
		return 0, fmt.Errorf("since: %w", err)
	}
	if d > MaxWindow {
		return 0, fmt.Errorf("since: %q is longer than 30d, the longest window kept", since)
	}
	return d, nil
}

// gather reads the edges of subject over [from, to): a workload's own
// plus the ingress of the Services selecting it (l.Gather); a Service's
// own plus its backing workloads'. l is a Lookup of inv.
func (n *NetworkHandler) gather(ctx context.Context, inv *inventory.Inventory, l *suggest.Lookup, subject flow.Endpoint, from, to time.Time) (ingress, egress []flow.Edge, err error) {
	if subject.WorkloadKind != inventory.ServiceEndpointKind {
		return l.Gather(ctx, n.Store, subject, from, to)
	}
	if ingress, egress, err = n.Store.WorkloadEdges(ctx, subject, from, to); err != nil {
		return nil, nil, err
	}
	for _, w := range serviceBackends(inv, subject) {
		in, out, err := n.Store.WorkloadEdges(ctx, flow.WorkloadEndpoint(w.Namespace, w.Kind, w.Name), from, to)
		if err != nil {
			return nil, nil, err
		}
		ingress, egress = append(ingress, in...), append(egress, out...)
	}
	return ingress, egress, nil
}

// serviceBackends are the non-host-network workloads a Service selects.
func serviceBackends(inv *inventory.Inventory, svc flow.Endpoint) []*netpol.Workload {
	var out []*netpol.Workload
	for i := range inv.Services {
		s := &inv.Services[i]
		if s.Namespace != svc.Namespace || s.Name != svc.Name || len(s.Selector) == 0 {
			continue
		}
		for _, w := range inv.Workloads {
			if w.Namespace == s.Namespace && !w.HostNetwork && matchesLabels(s.Selector, w.Labels) {
				out = append(out, w)
			}
		}
	}
	return out
}

func matchesLabels(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// findWorkload returns the inventory's workload for ep, if any.
func findWorkload(inv *inventory.Inventory, ep flow.Endpoint) *netpol.Workload {
	for _, w := range inv.Workloads {
		if w.Namespace == ep.Namespace && w.Kind == ep.WorkloadKind && w.Name == ep.Name {
			return w
		}
	}
	return nil
}

func findService(inv *inventory.Inventory, ep flow.Endpoint) *inventory.Service {
	for i := range inv.Services {
		if s := &inv.Services[i]; s.Namespace == ep.Namespace && s.Name == ep.Name {
			return s
		}
	}
	return nil
}

// subjectWorkloads are the workloads behind a subject: itself, or a
// Service's backends. ok is false when the inventory lacks the subject.
func subjectWorkloads(inv *inventory.Inventory, subject flow.Endpoint) (ws []*netpol.Workload, ok bool) {
	if subject.WorkloadKind == inventory.ServiceEndpointKind {
		if findService(inv, subject) == nil {
			return nil, false
		}
		return serviceBackends(inv, subject), true
	}
	w := findWorkload(inv, subject)
	if w == nil {
		return nil, false
	}
	return []*netpol.Workload{w}, true
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
