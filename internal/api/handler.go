package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/redline-dev/redline/internal/kubeauth"
)

// Deps are what the API serves from.
type Deps struct {
	Guard    *kubeauth.Guard
	Ingester Ingester
	// Ready reports whether the data behind the API can be trusted yet
	// (caches synced, store open); nil means always.
	Ready            func() error
	MaxFlowBodyBytes int64
	// Suggestions, if set, serves POST /api/v1/suggestions (it authorises
	// per namespace itself).
	Suggestions *SuggestionsHandler
	// Network, if set, serves the Network view's endpoints (scopes,
	// traffic, unresolved addresses, policies, drafts, what-if, topology,
	// settings, whoami). Its Auth defaults to Guard.
	Network *NetworkHandler
}

// route is one method of one path under /api/v1. The OpenAPI document
// (openapi.json) lists exactly these.
type route struct {
	method, pattern string
	handler         http.Handler
}

// routes lists what NewHandler serves, in registration order.
func routes(d Deps) []route {
	flows := &FlowsHandler{Ingester: d.Ingester, MaxBodyBytes: d.MaxFlowBodyBytes}
	rs := []route{
		{http.MethodPost, "/api/v1/flows", authorized(d.Guard, kubeauth.IngestFlows, readyGate(d.Ready, flows))},
	}
	if d.Suggestions != nil {
		rs = append(rs, route{http.MethodPost, "/api/v1/suggestions", readyGate(d.Ready, d.Suggestions)})
	}
	if n := d.Network; n != nil {
		if n.Auth == nil && d.Guard != nil {
			n.Auth = d.Guard
		}
		rs = append(rs, n.routes(d.Ready)...)
	}
	return rs
}

// NewHandler routes /api/v1. Every route authenticates the caller with a
// TokenReview and authorises it with a SubjectAccessReview on a redline.io
// virtual resource (docs/api.md).
func NewHandler(d Deps) http.Handler {
	mux := http.NewServeMux()
	byPattern := map[string]map[string]http.Handler{}
	var order []string
	for _, r := range routes(d) {
		if byPattern[r.pattern] == nil {
			byPattern[r.pattern] = map[string]http.Handler{}
			order = append(order, r.pattern)
		}
		byPattern[r.pattern][r.method] = r.handler
	}
	for _, p := range order {
		mux.Handle(p, methods(byPattern[p]))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API path: "+r.URL.Path+" (see /api/v1/openapi.json and docs/api.md)")
	})
	return mux
}

// methods dispatches on the request method; others get 405 with Allow.
func methods(hs map[string]http.Handler) http.Handler {
	allowed := make([]string, 0, len(hs))
	for m := range hs {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := hs[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = hs[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use "+allow)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorized runs next only for callers holding perm; others get 401 or
// 403 (JSON, with a message saying what to do), and API server trouble a
// 503.
func authorized(auth Authorizer, perm kubeauth.Permission, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.Check(r, perm); err != nil {
			writeAuthError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readyGate answers 503 until ready: flows resolved against an inventory
// that has not synced would be stored as unknown addresses for good.
func readyGate(ready func() error, next http.Handler) http.Handler {
	if ready == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ready(); err != nil {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}
