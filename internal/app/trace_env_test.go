package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/proxy"
	otlpfake "github.com/slinkerd/slinkerd/test/fakes/otlp"
)

// exportOne traces one request through a Telemetry built from env and
// returns what the receiver got.
func exportOne(t *testing.T, env map[string]string, rcv *otlpfake.Receiver) []otlpfake.Span {
	t.Helper()
	cfg, err := config.Load(env)
	require.NoError(t, err)
	tel, err := newTelemetry(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { require.NoError(t, tel.Close(context.Background())) }()
	in := httptest.NewRequest(http.MethodGet, "http://users/x", nil)
	out := in.Clone(in.Context())
	tel.TraceRequest(in, out)
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Status: 200, Request: out,
		Response: &http.Response{StatusCode: 200, Header: http.Header{}}})
	require.NoError(t, tel.Tracer().Flush(context.Background()))
	return rcv.Spans()
}

func TestTraceConfigFromOTELVariables(t *testing.T) {
	rcv := otlpfake.New()
	defer rcv.Close()
	spans := exportOne(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL(),
		"OTEL_EXPORTER_OTLP_HEADERS":  "x-team=core",
		"OTEL_SERVICE_NAME":           "edge",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=prod,service.name=ignored",
	}, rcv)
	require.Empty(t, rcv.Errors())
	require.Len(t, spans, 1, "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces")
	assert.Equal(t, "edge", spans[0].Resource["service.name"], "OTEL_SERVICE_NAME wins over the resource attribute")
	assert.Equal(t, "prod", spans[0].Resource["deployment.environment.name"])
	assert.Equal(t, "core", spans[0].Header.Get("X-Team"))
}

func TestTraceConfigPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		env     func(url string) map[string]string
		wantURL func(url string) string
		sampler string
	}{
		{"traces endpoint as is", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": u + "/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
		}, func(u string) string { return u + "/custom" }, "parentbased_always_on"},
		{"SLINKERD_OTLP_ENDPOINT wins", func(u string) map[string]string {
			return map[string]string{"SLINKERD_OTLP_ENDPOINT": u, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/x"}
		}, func(u string) string { return u + "/v1/traces" }, "parentbased_always_on"},
		{"OTEL_SDK_DISABLED", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u, "OTEL_SDK_DISABLED": "true"}
		}, func(string) string { return "" }, "parentbased_always_on"},
		{"sampler", func(u string) map[string]string {
			return map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
		}, func(string) string { return "" }, "parentbased_traceidratio:0.25"},
		{"bad sampler: default, warned", func(u string) map[string]string {
			return map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}
		}, func(string) string { return "" }, "parentbased_always_on"},
	}
	const u = "http://127.0.0.1:4318"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.env(u))
			require.NoError(t, err)
			var logs bytes.Buffer
			tc, err := traceConfig(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			want := tt.wantURL(u)
			if want == "" {
				assert.Empty(t, tc.OTLPEndpoint)
			} else {
				got := tc.OTLPEndpoint
				if !tc.OTLPURLAsIs && got == u {
					got += "/v1/traces"
				}
				assert.Equal(t, want, got)
			}
			assert.Equal(t, tt.sampler, tc.Sampler.String())
			if tt.name == "bad sampler: default, warned" {
				assert.Contains(t, logs.String(), "OTEL_TRACES_SAMPLER")
			}
		})
	}
}

func TestTraceConfigCloudTraceProject(t *testing.T) {
	cfg, err := config.Load(map[string]string{"GOOGLE_CLOUD_PROJECT": "p1"})
	require.NoError(t, err)
	tc, err := traceConfig(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, "p1", tc.CloudTraceProject)
}

// Spans of real proxied calls, on both data paths: a 503 the classifier
// fails, and a connect failure the proxy answers (l5d-err).
func TestTraceProxiedCallsCarryStatus(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer backend.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()
	bAddr := backend.Listener.Addr().String()
	for _, fast := range []string{"on", "off"} {
		t.Run("fast path "+fast, func(t *testing.T) {
			rcv := otlpfake.New()
			defer rcv.Close()
			h1, p1, _ := strings.Cut(bAddr, ":")
			h2, p2, _ := strings.Cut(closedAddr, ":")
			cfg, err := config.Load(map[string]string{
				"SLINKERD_FAST_PATH":          fast,
				"SLINKERD_LISTEN":             "127.0.0.1:0",
				"SLINKERD_ADMIN_LISTEN":       "127.0.0.1:0",
				"SLINKERD_DTAB":               "/svc/users=>/$/inet/" + h1 + "/" + p1 + ";/svc/gone=>/$/inet/" + h2 + "/" + p2,
				"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL(),
			})
			require.NoError(t, err)
			a, err := Build(cfg, config.ModeContainer, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			defer a.Close()
			for _, host := range []string{"users", "gone", "nowhere"} {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/x", nil)
				r.Host = host
				a.Proxy.ServeHTTP(w, r)
				_, _ = io.Copy(io.Discard, w.Result().Body)
			}
			require.NoError(t, a.Telemetry.Tracer().Flush(context.Background()))
			require.Empty(t, rcv.Errors())
			spans := rcv.Spans()
			require.Len(t, spans, 3, "a span for each call, the one refused before forwarding too")
			byService := map[string]otlpfake.Span{}
			for _, s := range spans {
				byService[s.Attributes["l5d.dst.service"].(string)] = s
			}
			u := byService["/svc/users"]
			assert.Equal(t, 2, u.StatusCode)
			assert.Equal(t, int64(503), u.Attributes["http.response.status_code"])
			assert.Equal(t, bAddr, u.Attributes["l5d.endpoint"])
			g := byService["/svc/gone"]
			assert.Equal(t, 2, g.StatusCode)
			assert.NotEmpty(t, g.StatusMessage)
			assert.Equal(t, int64(502), g.Attributes["http.response.status_code"])
			t.Logf("proxy error span: %q", g.StatusMessage)
			n := byService["/svc/nowhere"]
			assert.Equal(t, 2, n.StatusCode)
			assert.Contains(t, n.StatusMessage, "/svc/nowhere: no dtab entry matches it", "the refused call's span says why")
			assert.Equal(t, int64(502), n.Attributes["http.response.status_code"])
		})
	}
}
