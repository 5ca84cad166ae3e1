package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route NewHandler serves (a test keeps
// the two equal).
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves GET /api/v1/openapi.json to any authenticated caller.
func (n *NetworkHandler) openAPI(w http.ResponseWriter, r *http.Request) {
	if err := n.authenticated(r); err != nil {
		writeAuthError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
