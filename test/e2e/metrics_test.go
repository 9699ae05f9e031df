package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getJSON GETs url and decodes its JSON body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v), url)
}

// sendN sends n GETs with Host host through the proxy and returns the
// statuses seen.
func sendN(t *testing.T, c *http.Client, proxyURL, host string, n int, hdr map[string]string) []int {
	t.Helper()
	var out []int
	for i := 0; i < n; i++ {
		req, err := http.NewRequest(http.MethodGet, proxyURL+"/", nil)
		require.NoError(t, err)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	return out
}

type metricsDoc struct {
	Server struct {
		Requests uint64 `json:"requests"`
	} `json:"server"`
	Process struct {
		RSS        uint64 `json:"rss_bytes"`
		Goroutines int    `json:"goroutines"`
	} `json:"process"`
	Clients []struct {
		Client    string `json:"client"`
		Endpoints []struct {
			Address             string  `json:"address"`
			Requests            uint64  `json:"requests"`
			Weight              float64 `json:"weight"`
			Pending             *int    `json:"pending"`
			Load                float64 `json:"load"`
			EWMAMillis          float64 `json:"ewma_ms"`
			State               string  `json:"state"`
			ConsecutiveFailures *int    `json:"consecutive_failures"`
		} `json:"endpoints"`
	} `json:"clients"`
}

func TestMetricsPrometheusAndJSON(t *testing.T) {
	ok := startHTTPBackend(t, echoBackend("ok"))
	flaky := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	dir := writeFSDir(t, map[string][]*Backend{"ok": {ok}, "flaky": {flaky}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR":     dir,
		"SLINKERD_DTAB":       "/svc => /#/io.l5d.fs",
		"SLINKERD_ACCESS_LOG": "true",
	})
	c := newH1Client(t)
	assert.Equal(t, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, sendN(t, c, p.URL(), "ok", 10, nil))
	assert.Equal(t, []int{503, 503, 503, 503}, sendN(t, c, p.URL(), "flaky", 4, nil))
	assert.Equal(t, []int{502, 502, 502}, sendN(t, c, p.URL(), "nosuch", 3, nil))

	// A request is counted when the proxy has read its response's end,
	// which may be just after the client has.
	var doc metricsDoc
	waitFor(t, 10*time.Second, "/admin/metrics.json counts 17 requests", func() bool {
		getJSON(t, p.AdminURL()+"/admin/metrics.json", &doc)
		return doc.Server.Requests == 17
	})
	assert.Greater(t, doc.Process.RSS, uint64(1<<20))
	assert.Greater(t, doc.Process.Goroutines, 0)
	var found bool
	for _, cl := range doc.Clients {
		if cl.Client != "/#/io.l5d.fs/ok" {
			continue
		}
		found = true
		require.Len(t, cl.Endpoints, 1)
		e := cl.Endpoints[0]
		assert.Equal(t, ok.Addr, e.Address)
		assert.EqualValues(t, 10, e.Requests)
		assert.Equal(t, 1.0, e.Weight)
		require.NotNil(t, e.Pending)
		assert.Equal(t, 0, *e.Pending)
		assert.Greater(t, e.EWMAMillis, 0.0)
		assert.Greater(t, e.Load, 0.0)
		assert.Equal(t, "alive", e.State)
		require.NotNil(t, e.ConsecutiveFailures)
	}
	assert.True(t, found, "client /#/io.l5d.fs/ok in %+v", doc.Clients)

	// /metrics, read with the official text parser.
	req, err := http.NewRequest(http.MethodGet, p.AdminURL()+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)

	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := fams[name]
		require.True(t, ok, "family %s", name)
		for _, m := range f.GetMetric() {
			match := true
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				match = match && found
			}
			if !match {
				continue
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("%s has no series %v", name, labels)
		return 0
	}
	assert.EqualValues(t, 17, value("slinkerd_server_requests_total", nil))
	assert.EqualValues(t, 10, value("slinkerd_service_requests_total", map[string]string{"service": "/svc/ok"}))
	assert.EqualValues(t, 10, value("slinkerd_service_successes_total", map[string]string{"service": "/svc/ok"}))
	assert.EqualValues(t, 4, value("slinkerd_service_failures_total", map[string]string{"service": "/svc/flaky", "source": "backend", "status_class": "5xx"}))
	assert.EqualValues(t, 3, value("slinkerd_service_failures_total", map[string]string{"service": "/svc/nosuch", "source": "proxy", "status_class": "5xx"}))
	assert.EqualValues(t, 10, value("slinkerd_service_latency_seconds", map[string]string{"service": "/svc/ok"}))
	assert.Greater(t, value("slinkerd_service_retry_budget_balance", map[string]string{"service": "/svc/ok"}), 0.0)
	assert.EqualValues(t, 4, value("slinkerd_client_requests_total", map[string]string{"client": "/#/io.l5d.fs/flaky"}))
	assert.EqualValues(t, 10, value("slinkerd_endpoint_requests_total", map[string]string{"client": "/#/io.l5d.fs/ok", "endpoint": ok.Addr}))
	assert.EqualValues(t, 1, value("slinkerd_endpoint_state", map[string]string{"client": "/#/io.l5d.fs/ok", "endpoint": ok.Addr, "state": "alive"}))
	assert.EqualValues(t, 0, value("slinkerd_endpoint_pending", map[string]string{"client": "/#/io.l5d.fs/ok", "endpoint": ok.Addr}))
	assert.Greater(t, value("slinkerd_endpoint_ewma_seconds", map[string]string{"client": "/#/io.l5d.fs/ok", "endpoint": ok.Addr}), 0.0)
	assert.EqualValues(t, 1, value("slinkerd_client_endpoints", map[string]string{"client": "/#/io.l5d.fs/flaky", "state": "alive"}))
	assert.Greater(t, value("process_resident_memory_bytes", nil), 0.0)

	// The access log: one JSON line per request.
	var lines int
	for _, line := range strings.Split(p.Logs(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["message"] != "request" {
			continue
		}
		lines++
		if l["service"] == "/svc/flaky" {
			assert.EqualValues(t, 503, l["status"])
			assert.Equal(t, true, l["failed"])
			assert.Equal(t, flaky.Addr, l["endpoint"])
			assert.Equal(t, "INFO", l["severity"])
		}
	}
	assert.Equal(t, 17, lines, "access log lines")
}

// headerBackend records the trace headers of each request it gets.
func headerBackend(t *testing.T) (*Backend, <-chan http.Header) {
	got := make(chan http.Header, 16)
	b := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
		_, _ = io.WriteString(w, "ok")
	}))
	return b, got
}

var traceHeaders = map[string]string{
	"traceparent":       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"tracestate":        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
	"b3":                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
	"X-B3-TraceId":      "80f198ee56343ba864fe8b2a57d3eff7",
	"X-B3-SpanId":       "e457b5a2e4d86bd1",
	"X-B3-ParentSpanId": "05e3ac9a4f6e3b90",
	"X-B3-Sampled":      "1",
	"X-B3-Flags":        "1",
	"X-Amzn-Trace-Id":   "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}

func TestMetricsTraceHeadersPassThrough(t *testing.T) {
	b, got := headerBackend(t)
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("traced", b.Port)})
	c := newH1Client(t)
	require.Equal(t, []int{200}, sendN(t, c, p.URL(), "traced", 1, traceHeaders))
	h := recv(t, got, 10*time.Second, "the backend's request")
	for k, v := range traceHeaders {
		assert.Equal(t, []string{v}, h.Values(k), "%s arrives unchanged", k)
	}

	// Without export, no trace is started.
	require.Equal(t, []int{200}, sendN(t, newH2CClient(t), p.URL(), "traced", 1, nil))
	h = recv(t, got, 10*time.Second, "the backend's request")
	assert.Empty(t, h.Get("traceparent"))
}

// otlpSink is a local OTLP/HTTP traces receiver.
type otlpSink struct {
	mu    sync.Mutex
	spans []map[string]any
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Token") != "s3cret value" {
		http.Error(w, "unexpected export "+r.URL.Path, http.StatusBadRequest)
		return
	}
	var req struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []map[string]any `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
	s.mu.Unlock()
	_, _ = io.WriteString(w, "{}")
}

func (s *otlpSink) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.spans...)
}

func TestMetricsOTLPExportOnShutdown(t *testing.T) {
	sink := &otlpSink{}
	coll := httptest.NewServer(sink)
	t.Cleanup(coll.Close)
	b, got := headerBackend(t)
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB":          inetDtab("traced", b.Port),
		"SLINKERD_OTLP_ENDPOINT": coll.URL,
		"SLINKERD_OTLP_HEADERS":  "X-Token=s3cret%20value",
	})
	c := newH1Client(t)

	// No traceparent: slinkerd starts a trace.
	require.Equal(t, []int{200}, sendN(t, c, p.URL(), "traced", 1, nil))
	root := recv(t, got, 10*time.Second, "the backend's request").Get("traceparent")
	require.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`, root)

	// A sampled traceparent: same trace, slinkerd's span as the parent.
	parent := traceHeaders["traceparent"]
	require.Equal(t, []int{200}, sendN(t, c, p.URL(), "traced", 1, map[string]string{"traceparent": parent, "tracestate": "congo=1"}))
	h := recv(t, got, 10*time.Second, "the backend's request")
	child := h.Get("traceparent")
	assert.Equal(t, parent[:36], child[:36], "same trace id")
	assert.NotEqual(t, parent[36:52], child[36:52], "slinkerd's own span id")
	assert.Equal(t, "congo=1", h.Get("tracestate"))

	// A graceful stop flushes the spans.
	require.Equal(t, 0, p.Stop(15*time.Second))
	waitFor(t, 10*time.Second, "both spans reach the collector", func() bool { return len(sink.all()) >= 2 })
	spans := map[string]map[string]any{}
	for _, s := range sink.all() {
		spans[fmt.Sprint(s["spanId"])] = s
	}
	rs, ok := spans[root[36:52]]
	require.True(t, ok, "the root span %s in %v", root[36:52], spans)
	assert.Equal(t, root[3:35], rs["traceId"])
	assert.Empty(t, rs["parentSpanId"])
	assert.Equal(t, "GET /svc/traced", rs["name"])
	cs, ok := spans[child[36:52]]
	require.True(t, ok, "the child span")
	assert.Equal(t, parent[3:35], cs["traceId"])
	assert.Equal(t, parent[36:52], cs["parentSpanId"])
}
