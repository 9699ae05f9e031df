package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/core/telemetry"
)

// scrape fetches /metrics and parses it with the official text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"), rec.Header().Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// series returns the metric of family name whose labels include want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "family %s missing", name)
	for _, m := range f.GetMetric() {
		ls := labelsOf(m)
		match := true
		for k, v := range want {
			if ls[k] != v {
				match = false
			}
		}
		if match {
			return m
		}
	}
	var got []string
	for _, m := range f.GetMetric() {
		got = append(got, m.String())
	}
	t.Fatalf("%s has no series with %v; it has %v", name, want, got)
	return nil
}

func TestMetricsPrometheusTextParsesWithFamiliesAndLabels(t *testing.T) {
	tel := newTel(t, telemetry.Config{MaxEndpoints: 1, Version: "v9.9.9"})
	tel.SetSource(&fakeSource{
		services: []proxy.ServiceState{{Service: "/svc/users", BudgetBalance: 42, BudgetExhausted: 7}},
		clients: []proxy.ClientState{{ID: "/#/io.l5d.fs/users", Addr: "bound", Endpoints: []balance.EndpointStats{
			{Address: "127.0.0.1:8001", Weight: 1, Pending: 1, Load: 2e6, EWMA: 2 * time.Millisecond, State: "alive"},
			{Address: "127.0.0.1:8002", Weight: 1, Pending: 3, State: "dead", Failures: 5},
		}}},
	})
	for i := 0; i < 9; i++ {
		tel.Request(ok("/svc/users", "/#/io.l5d.fs/users", "127.0.0.1:8001", 3*time.Millisecond))
	}
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8002",
		Status: 502, Failed: true, ProxyError: true, Requeues: 1, Latency: time.Millisecond})
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8001",
		Status: 503, Failed: true, Retries: 2, Latency: 5 * time.Millisecond})
	tel.ConnState(nil, http.StateNew)

	fams := scrape(t, tel.MetricsHandler())

	// Every slinkerd family, with its type.
	want := map[string]dto.MetricType{
		"slinkerd_build_info":                           dto.MetricType_GAUGE,
		"slinkerd_server_requests_total":                dto.MetricType_COUNTER,
		"slinkerd_server_successes_total":               dto.MetricType_COUNTER,
		"slinkerd_server_failures_total":                dto.MetricType_COUNTER,
		"slinkerd_server_retries_total":                 dto.MetricType_COUNTER,
		"slinkerd_server_requeues_total":                dto.MetricType_COUNTER,
		"slinkerd_server_latency_seconds":               dto.MetricType_SUMMARY,
		"slinkerd_server_latency_max_seconds":           dto.MetricType_GAUGE,
		"slinkerd_server_open_connections":              dto.MetricType_GAUGE,
		"slinkerd_server_connections_total":             dto.MetricType_COUNTER,
		"slinkerd_server_pending":                       dto.MetricType_GAUGE,
		"slinkerd_service_requests_total":               dto.MetricType_COUNTER,
		"slinkerd_service_successes_total":              dto.MetricType_COUNTER,
		"slinkerd_service_failures_total":               dto.MetricType_COUNTER,
		"slinkerd_service_retries_total":                dto.MetricType_COUNTER,
		"slinkerd_service_requeues_total":               dto.MetricType_COUNTER,
		"slinkerd_service_latency_seconds":              dto.MetricType_SUMMARY,
		"slinkerd_service_latency_max_seconds":          dto.MetricType_GAUGE,
		"slinkerd_service_retry_budget_balance":         dto.MetricType_GAUGE,
		"slinkerd_service_retry_budget_exhausted_total": dto.MetricType_COUNTER,
		"slinkerd_client_requests_total":                dto.MetricType_COUNTER,
		"slinkerd_client_failures_total":                dto.MetricType_COUNTER,
		"slinkerd_client_latency_seconds":               dto.MetricType_SUMMARY,
		"slinkerd_client_pending":                       dto.MetricType_GAUGE,
		"slinkerd_client_endpoints":                     dto.MetricType_GAUGE,
		"slinkerd_endpoint_requests_total":              dto.MetricType_COUNTER,
		"slinkerd_endpoint_latency_seconds":             dto.MetricType_SUMMARY,
		"slinkerd_endpoint_pending":                     dto.MetricType_GAUGE,
		"slinkerd_endpoint_load":                        dto.MetricType_GAUGE,
		"slinkerd_endpoint_ewma_seconds":                dto.MetricType_GAUGE,
		"slinkerd_endpoint_weight":                      dto.MetricType_GAUGE,
		"slinkerd_endpoint_consecutive_failures":        dto.MetricType_GAUGE,
		"slinkerd_endpoint_state":                       dto.MetricType_GAUGE,
		"go_goroutines":                                 dto.MetricType_GAUGE,
		"process_resident_memory_bytes":                 dto.MetricType_GAUGE,
	}
	var missing []string
	for name, typ := range want {
		f, ok := fams[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		assert.Equal(t, typ, f.GetType(), name)
	}
	sort.Strings(missing)
	require.Empty(t, missing, "families missing from /metrics")

	svc := map[string]string{"service": "/svc/users"}
	assert.EqualValues(t, 11, series(t, fams, "slinkerd_service_requests_total", svc).GetCounter().GetValue())
	assert.EqualValues(t, 9, series(t, fams, "slinkerd_service_successes_total", svc).GetCounter().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_service_failures_total",
		map[string]string{"service": "/svc/users", "source": "proxy", "status_class": "5xx"}).GetCounter().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_service_failures_total",
		map[string]string{"service": "/svc/users", "source": "backend", "status_class": "5xx"}).GetCounter().GetValue())
	assert.EqualValues(t, 2, series(t, fams, "slinkerd_service_retries_total", svc).GetCounter().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_service_requeues_total", svc).GetCounter().GetValue())
	assert.EqualValues(t, 42, series(t, fams, "slinkerd_service_retry_budget_balance", svc).GetGauge().GetValue())
	assert.EqualValues(t, 7, series(t, fams, "slinkerd_service_retry_budget_exhausted_total", svc).GetCounter().GetValue())

	sum := series(t, fams, "slinkerd_service_latency_seconds", svc).GetSummary()
	assert.EqualValues(t, 11, sum.GetSampleCount())
	assert.InDelta(t, 0.033, sum.GetSampleSum(), 1e-9)
	qs := map[float64]float64{}
	for _, q := range sum.GetQuantile() {
		qs[q.GetQuantile()] = q.GetValue()
	}
	assert.Len(t, qs, 4)
	assert.InDelta(t, 0.003, qs[0.5], 0.003/16)
	assert.InDelta(t, 0.005, qs[0.999], 0.005/16)
	assert.InDelta(t, 0.005, series(t, fams, "slinkerd_service_latency_max_seconds", svc).GetGauge().GetValue(), 0.005/16+1e-6)

	// The endpoint cap is 1: 8001 keeps its series, 8002 is "other".
	cl := "/#/io.l5d.fs/users"
	assert.EqualValues(t, 10, series(t, fams, "slinkerd_endpoint_requests_total", map[string]string{"client": cl, "endpoint": "127.0.0.1:8001"}).GetCounter().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_endpoint_requests_total", map[string]string{"client": cl, "endpoint": "other"}).GetCounter().GetValue())
	for _, m := range fams["slinkerd_endpoint_requests_total"].GetMetric() {
		assert.NotEqual(t, "127.0.0.1:8002", labelsOf(m)["endpoint"], "past the cap")
	}
	assert.EqualValues(t, 3, series(t, fams, "slinkerd_endpoint_pending", map[string]string{"client": cl, "endpoint": "other"}).GetGauge().GetValue())
	assert.EqualValues(t, 0.002, series(t, fams, "slinkerd_endpoint_ewma_seconds", map[string]string{"client": cl, "endpoint": "127.0.0.1:8001"}).GetGauge().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_endpoint_state", map[string]string{"client": cl, "endpoint": "127.0.0.1:8001", "state": "alive"}).GetGauge().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_client_endpoints", map[string]string{"client": cl, "state": "dead"}).GetGauge().GetValue())
	assert.EqualValues(t, 4, series(t, fams, "slinkerd_client_pending", map[string]string{"client": cl}).GetGauge().GetValue())
	assert.EqualValues(t, 11, series(t, fams, "slinkerd_client_requests_total", map[string]string{"client": cl}).GetCounter().GetValue())

	assert.EqualValues(t, 11, series(t, fams, "slinkerd_server_requests_total", nil).GetCounter().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_server_open_connections", nil).GetGauge().GetValue())
	assert.EqualValues(t, 1, series(t, fams, "slinkerd_build_info", map[string]string{"version": "v9.9.9"}).GetGauge().GetValue())
	_, exported := fams["slinkerd_trace_spans_exported_total"]
	assert.False(t, exported, "span counters only with export on")
}

func TestMetricsPrometheusWithNothingYet(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	fams := scrape(t, tel.MetricsHandler())
	assert.EqualValues(t, 0, series(t, fams, "slinkerd_server_requests_total", nil).GetCounter().GetValue())
	_, ok := fams["slinkerd_server_open_connections"]
	assert.False(t, ok, "no connection gauge until the ConnState hook is wired")
	_, ok = fams["slinkerd_service_requests_total"]
	assert.False(t, ok)
}
