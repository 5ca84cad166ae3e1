package api

import (
	"cmp"
	"errors"
	"net/http"
	"slices"

	"github.com/redline-dev/redline/internal/kubeauth"
	"github.com/redline-dev/redline/internal/netpol"
)

// ScopesResponse lists what the caller may scope the Network view to.
type ScopesResponse struct {
	Clusters []ClusterScope `json:"clusters"`
}

// ClusterScope is one cluster: Redline serves one.
type ClusterScope struct {
	Name       string           `json:"name"`
	Namespaces []NamespaceScope `json:"namespaces"`
}

// NamespaceScope is a namespace the caller may read, with its workloads by
// kind and its Services, sorted by name.
type NamespaceScope struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Workloads has a (possibly empty) list for every kind the view offers:
	// Deployment, DaemonSet, StatefulSet, CronJob, Job, Pod (and
	// ReplicaSet when an orphaned one exists).
	Workloads map[string][]string `json:"workloads"`
	Services  []string            `json:"services"`
}

// ScopeKinds are the workload kinds every namespace lists.
var ScopeKinds = []string{"Deployment", "DaemonSet", "StatefulSet", "CronJob", "Job", "Pod"}

// scopes serves GET /api/v1/scopes: only the namespaces the caller may
// read (get traffic.redline.io there) are listed.
func (n *NetworkHandler) scopes(w http.ResponseWriter, r *http.Request) {
	inv := n.Inventory()
	scope, err := n.readScope(r, namespaceNames(inv))
	if err == nil {
		err = scope.some()
	}
	if err != nil {
		writeAuthError(w, err)
		return
	}
	byName := map[string]*NamespaceScope{}
	cluster := ClusterScope{Name: n.ClusterName, Namespaces: []NamespaceScope{}}
	if cluster.Name == "" {
		cluster.Name = DefaultClusterName
	}
	for _, ns := range inv.Namespaces {
		if !scope.may(ns.Name) {
			continue
		}
		s := NamespaceScope{Name: ns.Name, Labels: ns.Labels, Workloads: map[string][]string{}, Services: []string{}}
		for _, k := range ScopeKinds {
			s.Workloads[k] = []string{}
		}
		cluster.Namespaces = append(cluster.Namespaces, s)
	}
	for i := range cluster.Namespaces {
		byName[cluster.Namespaces[i].Name] = &cluster.Namespaces[i]
	}
	for _, wl := range inv.Workloads {
		if s := byName[wl.Namespace]; s != nil {
			s.Workloads[wl.Kind] = append(s.Workloads[wl.Kind], wl.Name)
		}
	}
	for _, svc := range inv.Services {
		if s := byName[svc.Namespace]; s != nil {
			s.Services = append(s.Services, svc.Name)
		}
	}
	for _, s := range byName {
		for _, names := range s.Workloads {
			slices.Sort(names)
		}
		slices.Sort(s.Services)
	}
	slices.SortFunc(cluster.Namespaces, func(a, b NamespaceScope) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, ScopesResponse{Clusters: []ClusterScope{cluster}})
}

// WhoAmI is the caller and what it may do.
type WhoAmI struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// Read is true when the caller may read traffic in every namespace;
	// Namespaces lists the ones it may read otherwise.
	Read       bool     `json:"read"`
	Namespaces []string `json:"namespaces"`
	// Admin is true when the caller may change settings (aliases, allowed
	// addresses, cluster CIDRs).
	Admin bool `json:"admin"`
	// NamespaceLabelKey is the server's default namespace label key, used
	// when a draft names none.
	NamespaceLabelKey string `json:"namespaceLabelKey"`
}

// whoami serves GET /api/v1/whoami: any authenticated caller may ask;
// without a token it is 401 with how to get one (the login page).
func (n *NetworkHandler) whoami(w http.ResponseWriter, r *http.Request) {
	names := namespaceNames(n.Inventory())
	scope, err := n.readScope(r, names)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	admin, err := n.Auth.Allowed(r.Context(), scope.user, ManageSettings)
	if err != nil {
		writeAuthError(w, errors.Join(errors.New("authorise "+ManageSettings.String()), err))
		return
	}
	resp := WhoAmI{User: scope.user.GetName(), Groups: scope.user.GetGroups(), Read: scope.all, Namespaces: sortedSet(scope.ns), Admin: admin,
		NamespaceLabelKey: cmp.Or(n.NamespaceLabelKey, netpol.NamespaceNameLabel)}
	if scope.all {
		resp.Namespaces = append([]string{}, names...)
		slices.Sort(resp.Namespaces)
	}
	writeJSON(w, http.StatusOK, resp)
}

// authenticated checks the caller has a valid token (any rights).
func (n *NetworkHandler) authenticated(r *http.Request) error {
	u, err := n.Auth.Check(r, kubeauth.ReadTraffic(""))
	if err != nil && (!errors.Is(err, kubeauth.ErrForbidden) || u == nil) {
		return err
	}
	return nil
}
