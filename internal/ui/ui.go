// Package ui serves Redline's web UI, the Network view: one page
// (index.html, app.js, app.css) and the graph library it draws the
// topology with (Cytoscape.js, fetched by `make ui` into vendor/), all
// embedded in the binary. The page holds no data: it asks the API
// (/api/v1, internal/api) with the bearer token the user gives it, so the
// page and its assets are served without authentication.
package ui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// vendor holds the fetched third-party files; in a clean clone only its
// README.txt (and .gitignore), so that the package compiles before
// `make ui`.
//
//go:embed all:vendor
var vendor embed.FS

// GraphLibrary is the vendored file the page loads Cytoscape.js from.
const GraphLibrary = "cytoscape.min.js"

// AssetPrefix is where the page's scripts, styles and vendored files are.
const AssetPrefix = "/ui/"

// HasGraphLibrary reports whether this binary embeds Cytoscape.js (built
// after `make ui`).
func HasGraphLibrary() bool {
	_, err := fs.Stat(vendor, path.Join("vendor", GraphLibrary))
	return err == nil
}

// GraphLibraryVersion is the vendored Cytoscape.js version, "" when
// missing.
func GraphLibraryVersion() string {
	b, err := fs.ReadFile(vendor, "vendor/cytoscape.version")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Handler serves the page at "/" (and "/index.html") and its assets under
// AssetPrefix: app.js, app.css and vendor/…. Anything else is 404.
func Handler() http.Handler {
	// Embedded files carry no modification time: serve them with the
	// time the binary started, and let browsers revalidate.
	started := time.Now()
	mux := http.NewServeMux()
	serve := func(fsys fs.FS, name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				msg := "not found: " + r.URL.Path
				if strings.HasPrefix(name, "vendor/") {
					msg += " (this binary was built without the UI's third-party files: run `make ui`, then build again)"
				}
				http.Error(w, msg, http.StatusNotFound)
				return
			}
			header(w)
			http.ServeContent(w, r, name, started, bytes.NewReader(b))
		}
	}
	mux.HandleFunc("GET /{$}", serve(static, "static/index.html"))
	mux.HandleFunc("GET /index.html", serve(static, "static/index.html"))
	mux.HandleFunc("GET "+AssetPrefix+"{file}", func(w http.ResponseWriter, r *http.Request) {
		serve(static, "static/"+r.PathValue("file")).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET "+AssetPrefix+"vendor/{file}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if strings.HasPrefix(file, ".") || file == "README.txt" {
			http.NotFound(w, r)
			return
		}
		serve(vendor, "vendor/"+file).ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: "+r.URL.Path+" (the UI is at /, the API under /api/v1: see docs/api.md)", http.StatusNotFound)
	})
	return mux
}

// header sets the headers of every UI response: no framing by other
// sites, scripts from this origin only, styles too except inline ones
// (Cytoscape.js adds a <style> element for its container), no sniffing.
func header(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// WithAPI serves api under /api/ and the UI everywhere else: the one
// handler of Redline's HTTPS server.
func WithAPI(api http.Handler) http.Handler {
	ui := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
}
