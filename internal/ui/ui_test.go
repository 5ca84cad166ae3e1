package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"api":true}`)
	})
	h := WithAPI(api)
	tests := []struct {
		name, path       string
		status           int
		contentType      string
		body, notInBody  string
		securityHeaders  bool
		wantLibraryError bool
	}{
		{name: "page", path: "/", status: 200, contentType: "text/html", body: "kubectl -n redline create token redline-dev", securityHeaders: true},
		{name: "page by name", path: "/index.html", status: 200, contentType: "text/html", body: `src="/ui/app.js"`, securityHeaders: true},
		{name: "script", path: "/ui/app.js", status: 200, contentType: "javascript", body: "Authorization: 'Bearer '", securityHeaders: true},
		{name: "styles", path: "/ui/app.css", status: 200, contentType: "text/css", body: "--red"},
		{name: "api", path: "/api/v1/whoami", status: 200, contentType: "application/json", body: `{"api":true}`},
		{name: "api root", path: "/api", status: 200, body: `{"api":true}`},
		{name: "unknown page", path: "/nope", status: 404, body: "the UI is at /", notInBody: "<html"},
		{name: "unknown asset", path: "/ui/nope.js", status: 404},
		{name: "no traversal", path: "/ui/../ui.go", status: http.StatusTemporaryRedirect, notInBody: "package ui"}, // to /ui.go: 404
		{name: "vendor readme hidden", path: "/ui/vendor/README.txt", status: 404},
		{name: "vendor gitignore hidden", path: "/ui/vendor/.gitignore", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			body := rec.Body.String()
			if rec.Code != tt.status {
				t.Fatalf("GET %s: status %d, want %d: %s", tt.path, rec.Code, tt.status, body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tt.contentType) {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, ct, tt.contentType)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("GET %s: body lacks %q:\n%.300s", tt.path, tt.body, body)
			}
			if tt.notInBody != "" && strings.Contains(body, tt.notInBody) {
				t.Errorf("GET %s: body has %q", tt.path, tt.notInBody)
			}
			if tt.securityHeaders {
				csp := rec.Header().Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("GET %s: no X-Content-Type-Options: nosniff", tt.path)
				}
			}
		})
	}
}

// TestGraphLibrary checks the build embeds Cytoscape.js (`make ui`), at
// the version the Makefile pins, and serves it.
func TestGraphLibrary(t *testing.T) {
	if !HasGraphLibrary() {
		t.Fatal("internal/ui/vendor has no cytoscape.min.js: run `make ui` (make test does) before these tests")
	}
	if v := GraphLibraryVersion(); v == "" {
		t.Error("no cytoscape.version beside the library")
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, AssetPrefix+"vendor/"+GraphLibrary, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") || rec.Body.Len() < 100_000 {
		t.Fatalf("GET the library: %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, AssetPrefix+"vendor/cytoscape.LICENSE", nil))
	if !strings.Contains(rec.Body.String(), "MIT") && !strings.Contains(rec.Body.String(), "Permission is hereby granted") {
		t.Errorf("the licence is not served beside the library: %d %.200s", rec.Code, rec.Body.String())
	}
}
