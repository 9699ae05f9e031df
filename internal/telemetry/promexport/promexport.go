// Package promexport serves a Telemetry's families on /metrics in the
// Prometheus exposition formats: the text format, or delimited protobuf
// with native histograms when the scraper negotiates it, with the Go
// runtime's go_* and the process's process_* families beside slinkerd's.
//
// It builds the metric families itself and writes them with the encoders
// of github.com/prometheus/common/expfmt; it does not link the Prometheus
// Go client (client_golang) nor procfs. The client's package init
// registers a Go and a process collector on a default registry slinkerd
// never uses: about 1.3 ms at every start, and procfs's about 0.2 ms more,
// against a Lambda layer cold-start budget of 8 ms. Package init cannot be
// made lazy, so the only way out was to stop linking them.
//
// What it serves is what promhttp.HandlerFor(registry,
// promhttp.HandlerOpts{}) served (client_golang v1.25), the registry
// holding slinkerd's families, collectors.NewGoCollector() and
// collectors.NewProcessCollector(ProcessCollectorOpts{}): the same content
// negotiation, headers and gzip, the same families with the same names,
// types and help, sorted as Registry.Gather sorts them, so that slinkerd's
// own families are byte for byte what they were. The process families
// come from /proc on Linux, as procfs read them; macOS serves those the
// standard library reaches, and other platforms none.
//
// The Lambda layer is built with -tags slinkerd_nopromproto (lean.go): it
// serves the text format only, written by this package (writeText, which
// a test holds to expfmt's bytes), and so links neither expfmt nor the
// protobuf runtime the Prometheus data model's types need: 1.7 MB less
// binary, and as much less resident memory in every function that runs
// the extension. The full build (proto.go) keeps expfmt and every format.
//
// Importing it registers it with internal/telemetry (RegisterExposition), so
// that the admin server's /metrics uses it; the slinkerd binary imports
// it. It is a package of its own so that a Go program using the library,
// which serves no admin endpoints, does not link the exposition.
package promexport

import (
	"compress/gzip"
	"io"
	"net/http"
	"sync"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

func init() { telemetry.RegisterExposition(Handler) }

// Handler returns t's /metrics handler. It builds nothing: each scrape
// reads every family afresh, so nothing is paid before the first one (a
// Lambda extension may never be scraped, and every millisecond before it
// is ready adds to the function's cold start).
func Handler(t *telemetry.Telemetry) http.Handler { return &handler{t: t} }

// handler serves one Telemetry's /metrics.
type handler struct {
	t *telemetry.Telemetry
	// gzips holds *gzip.Writer for reuse across scrapes, as promhttp
	// pools them: a writer's compressor is several hundred KB.
	gzips sync.Pool
}

// ServeHTTP answers as promhttp.HandlerFor with its default options does:
// negotiate the format (text 0.0.4 unless the Accept header asks for a
// protobuf one), gather, answer 500 if gathering found an inconsistency,
// else write the families, gzipped if Accept-Encoding allows it, only
// those named by name[] query parameters if there are any.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := negotiate(r.Header)
	fams, err := gather(h.t)
	if err != nil {
		httpError(w, err)
		return
	}

	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", x.contentType())
	sent := &countingWriter{w: w}
	if !acceptsGzip(r.Header) {
		if err := x.encode(sent, fams, nameFilter(r)); err != nil && sent.n == 0 {
			httpError(w, err)
		}
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	gz := h.gzipWriter(sent)
	defer h.gzips.Put(gz)
	if err := x.encode(gz, fams, nameFilter(r)); err != nil && sent.n == 0 {
		gz.Reset(io.Discard) // its header must not follow the error
		httpError(w, err)
	}
	_ = gz.Close()
}

// nameFilter returns the family names the request's name[] query
// parameters ask for, nil for all.
func nameFilter(r *http.Request) map[string]bool {
	if r.URL == nil {
		return nil
	}
	names := r.URL.Query()["name[]"]
	if len(names) == 0 {
		return nil
	}
	only := make(map[string]bool, len(names))
	for _, n := range names {
		only[n] = true
	}
	return only
}

// gzipWriter returns a pooled gzip writer (default compression, as
// promhttp's) writing to w.
func (h *handler) gzipWriter(w io.Writer) *gzip.Writer {
	if gz, ok := h.gzips.Get().(*gzip.Writer); ok {
		gz.Reset(w)
		return gz
	}
	return gzip.NewWriter(w)
}

// httpError answers 500 with err, in promhttp's words.
func httpError(w http.ResponseWriter, err error) {
	w.Header().Del("Content-Encoding")
	http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
}

// countingWriter counts the bytes written to the response, to tell
// whether an error can still be answered with a status.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var _ http.Handler = (*handler)(nil)
