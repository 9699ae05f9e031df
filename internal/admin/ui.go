package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard and the dtab playground: hand-written HTML, CSS and JS,
// embedded in the binary. They read /admin/metrics.json and
// /delegator.json and load nothing from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

// uiHandlers returns the dashboard's routes: / (the dashboard),
// /delegator (the playground) and /ui/ (their assets).
func uiHandlers() map[string]http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	page := func(name string) http.Handler {
		return secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, name)
		}))
	}
	assets := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return map[string]http.Handler{
		"GET /{$}":       page("index.html"),
		"GET /delegator": page("delegator.html"),
		"GET /ui/":       secured(assets),
	}
}

// secured adds the headers that keep the pages to their own assets: no
// inline script, nothing from another origin, no framing.
func secured(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
