package api

import (
	"net/http"

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
}

// NewHandler routes /api/v1. Every route authenticates the caller with a
// TokenReview and authorises it with a SubjectAccessReview on a redline.io
// virtual resource (docs/api.md).
func NewHandler(d Deps) http.Handler {
	mux := http.NewServeMux()
	flows := &FlowsHandler{Ingester: d.Ingester, MaxBodyBytes: d.MaxFlowBodyBytes}
	mux.Handle("/api/v1/flows", d.Guard.Middleware(kubeauth.IngestFlows, readyGate(d.Ready, flows)))
	if d.Suggestions != nil {
		mux.Handle("/api/v1/suggestions", readyGate(d.Ready, d.Suggestions))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API path: "+r.URL.Path+" (see docs/api.md)")
	})
	return mux
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
