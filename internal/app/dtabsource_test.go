package app

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/slinkerd/slinkerd/internal/dtabrefresh"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// /metrics carries the dtab source's families with the telemetry's, in
// the format the scraper negotiated: text or delimited protobuf, gzipped
// when the scraper asks.
func TestDtabSourceMetrics(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dtab")
	require.NoError(t, os.WriteFile(p, []byte("/svc/x=>/$/inet/127.0.0.1/1"), 0o600))
	src, err := dtabsource.Parse("file:"+p, dtabsource.Options{})
	require.NoError(t, err)
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/$/inet")})
	require.NoError(t, err)
	r, err := dtabrefresh.New(dtabrefresh.Config{Source: src, Interpreter: in})
	require.NoError(t, err)
	require.NoError(t, r.Refresh(context.Background()))

	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	tel.AddFamilies(func() []telemetry.Family { return dtabrefresh.Families(r) })
	handlers := tel.Handlers()

	tests := []struct {
		name, accept string
	}{
		{name: "text", accept: ""},
		{name: "protobuf", accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", tt.accept)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			handlers["GET /metrics"].ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"), "compressed as the scraper asked")
			zr, err := gzip.NewReader(rec.Body)
			require.NoError(t, err)
			dec := expfmt.NewDecoder(zr, expfmt.ResponseFormat(rec.Header()))
			got := map[string]bool{}
			for {
				var mf dto.MetricFamily
				if err := dec.Decode(&mf); err == io.EOF {
					break
				} else {
					require.NoError(t, err)
				}
				got[mf.GetName()] = true
			}
			for _, n := range []string{"slinkerd_build_info", "slinkerd_dtab_source_info", "slinkerd_dtab_source_fetches_total", "slinkerd_dtab_source_rejections_total"} {
				require.True(t, got[n], "%s missing; got %v", n, got)
			}
		})
	}
}
