package promexport

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
)

// promhttpGzips tells whether promhttp.HandlerFor with default options
// gzips its answer to a request with these Accept-Encoding lines.
func promhttpGzips(h http.Handler, lines []string) bool {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for _, l := range lines {
		req.Header.Add("Accept-Encoding", l)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Header().Get("Content-Encoding") == "gzip"
}

func TestAcceptsGzip(t *testing.T) {
	oracle := promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	tests := []struct {
		name  string
		lines []string
		want  bool
	}{
		{name: "none", want: false},
		{name: "gzip", lines: []string{"gzip"}, want: true},
		{name: "Go's client", lines: []string{"gzip"}, want: true},
		{name: "gzip and deflate", lines: []string{"gzip, deflate"}, want: true},
		{name: "identity first on a tie", lines: []string{"gzip, identity"}, want: false},
		{name: "identity less wanted", lines: []string{"identity;q=0.5, gzip"}, want: true},
		{name: "star", lines: []string{"*"}, want: false},
		{name: "star below gzip", lines: []string{"*;q=0.1, gzip;q=0.2"}, want: true},
		{name: "zstd is not offered", lines: []string{"zstd"}, want: false},
		{name: "zstd preferred", lines: []string{"zstd, gzip;q=0.9"}, want: true},
		{name: "gzip refused", lines: []string{"gzip;q=0"}, want: false},
		{name: "all refused", lines: []string{"*;q=0"}, want: false},
		{name: "case matters", lines: []string{"GZIP"}, want: false},
		{name: "spaces", lines: []string{"gzip ; q=0.8 ,identity;q=0.2"}, want: true},
		{name: "leading space ends the line", lines: []string{" gzip"}, want: false},
		{name: "bad q ends the line", lines: []string{"identity;q=x, gzip"}, want: false},
		{name: "bad coding ends the line", lines: []string{"(x), gzip"}, want: false},
		{name: "two lines", lines: []string{"br", "gzip"}, want: true},
		{name: "q above 1", lines: []string{"identity;q=1.5, gzip"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Accept-Encoding": tt.lines}
			if tt.lines == nil {
				h = http.Header{}
			}
			assert.Equal(t, tt.want, acceptsGzip(h))
			assert.Equal(t, promhttpGzips(oracle, tt.lines), acceptsGzip(h), "as promhttp")
		})
	}
}

// FuzzAcceptsGzip wants the same answer as promhttp for any header.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip, identity", "*;q=0", "identity;q=0.5, gzip", "gzip;q=0.", "gzip;q=1.000000000000000000001", "x/y, gzip"} {
		f.Add(s)
	}
	oracle := promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	f.Fuzz(func(t *testing.T, line string) {
		want := promhttpGzips(oracle, []string{line})
		if got := acceptsGzip(http.Header{"Accept-Encoding": {line}}); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, promhttp %v", line, got, want)
		}
	})
}
