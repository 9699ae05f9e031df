package telemetry_test

import (
	"io"
	"math"
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
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
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
		"slinkerd_server_latency_seconds":               dto.MetricType_HISTOGRAM,
		"slinkerd_server_latency_max_seconds":           dto.MetricType_GAUGE,
		"slinkerd_server_open_connections":              dto.MetricType_GAUGE,
		"slinkerd_server_connections_total":             dto.MetricType_COUNTER,
		"slinkerd_server_pending":                       dto.MetricType_GAUGE,
		"slinkerd_service_requests_total":               dto.MetricType_COUNTER,
		"slinkerd_service_successes_total":              dto.MetricType_COUNTER,
		"slinkerd_service_failures_total":               dto.MetricType_COUNTER,
		"slinkerd_service_retries_total":                dto.MetricType_COUNTER,
		"slinkerd_service_requeues_total":               dto.MetricType_COUNTER,
		"slinkerd_service_latency_seconds":              dto.MetricType_HISTOGRAM,
		"slinkerd_service_latency_max_seconds":          dto.MetricType_GAUGE,
		"slinkerd_service_retry_budget_balance":         dto.MetricType_GAUGE,
		"slinkerd_service_retry_budget_exhausted_total": dto.MetricType_COUNTER,
		"slinkerd_client_requests_total":                dto.MetricType_COUNTER,
		"slinkerd_client_failures_total":                dto.MetricType_COUNTER,
		"slinkerd_client_latency_seconds":               dto.MetricType_HISTOGRAM,
		"slinkerd_client_pending":                       dto.MetricType_GAUGE,
		"slinkerd_client_endpoints":                     dto.MetricType_GAUGE,
		"slinkerd_endpoint_requests_total":              dto.MetricType_COUNTER,
		"slinkerd_endpoint_latency_seconds":             dto.MetricType_HISTOGRAM,
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

	hist := series(t, fams, "slinkerd_service_latency_seconds", svc).GetHistogram()
	assert.EqualValues(t, 11, hist.GetSampleCount())
	assert.InDelta(t, 0.033, hist.GetSampleSum(), 1e-9)
	cum := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	assert.EqualValues(t, 1, cum[0.001024], "1ms")
	assert.EqualValues(t, 11, cum[0.016384], "all below 16ms")
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

// scrapeProto fetches /metrics as Prometheus does with native histograms
// on, and decodes the delimited protobuf with client_model.
func scrapeProto(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, expfmt.TypeProtoDelim, expfmt.ResponseFormat(rec.Result().Header).FormatType(), rec.Header().Get("Content-Type"))
	dec := expfmt.NewDecoder(rec.Body, expfmt.NewFormat(expfmt.TypeProtoDelim))
	fams := map[string]*dto.MetricFamily{}
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err != nil {
			require.ErrorIs(t, err, io.EOF)
			return fams
		}
		fams[f.GetName()] = &f
	}
}

func latencyEvents(tel *telemetry.Telemetry) []time.Duration {
	lats := []time.Duration{0, 300 * time.Microsecond, 2 * time.Millisecond, 2 * time.Millisecond, 40 * time.Millisecond, 3 * time.Second, time.Hour}
	for _, d := range lats {
		tel.Request(ok("/svc/users", "/#/io.l5d.fs/users", "127.0.0.1:8001", d))
	}
	return lats
}

func TestMetricsPrometheusLatencyIsClassicHistogram(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	lats := latencyEvents(tel)
	fams := scrape(t, tel.MetricsHandler())
	for _, level := range []string{"server", "service", "client", "endpoint"} {
		name := "slinkerd_" + level + "_latency_seconds"
		require.Contains(t, fams, name)
		require.Equal(t, dto.MetricType_HISTOGRAM, fams[name].GetType(), name)
		h := fams[name].GetMetric()[0].GetHistogram()
		assert.EqualValues(t, len(lats), h.GetSampleCount(), name)
		bs := h.GetBucket()
		require.NotEmpty(t, bs)
		prevLe, prevCum := -1.0, uint64(0)
		for _, b := range bs {
			assert.Greater(t, b.GetUpperBound(), prevLe, "%s: le ascending", name)
			assert.GreaterOrEqual(t, b.GetCumulativeCount(), prevCum, "%s: cumulative", name)
			prevLe, prevCum = b.GetUpperBound(), b.GetCumulativeCount()
		}
		// Every le below or at 16.8s, then +Inf equal to the count.
		last := bs[len(bs)-1]
		require.True(t, math.IsInf(last.GetUpperBound(), 1), "%s: last bucket is +Inf", name)
		assert.Equal(t, h.GetSampleCount(), last.GetCumulativeCount(), name)
		// Each finite bucket counts exactly the observations below it.
		for _, b := range bs[:len(bs)-1] {
			var below uint64
			for _, d := range lats {
				if d.Seconds() < b.GetUpperBound() {
					below++
				}
			}
			assert.Equal(t, below, b.GetCumulativeCount(), "%s le=%v", name, b.GetUpperBound())
		}
	}
	_, ok := fams["slinkerd_build_info"]
	assert.True(t, ok, "slinkerd_build_info kept")
}

func TestMetricsPrometheusProtobufHasNativeHistogram(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	lats := latencyEvents(tel)
	fams := scrapeProto(t, tel.MetricsHandler())
	f := fams["slinkerd_service_latency_seconds"]
	require.NotNil(t, f)
	require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType())
	h := f.GetMetric()[0].GetHistogram()
	assert.EqualValues(t, 4, h.GetSchema())
	assert.InDelta(t, 1e-6, h.GetZeroThreshold(), 1e-12)
	assert.EqualValues(t, 1, h.GetZeroCount(), "the 0 latency")
	require.NotEmpty(t, h.GetPositiveSpan())
	assert.NotEmpty(t, h.GetBucket(), "classic buckets ride along")

	// Rebuild the buckets from spans and deltas, as Prometheus does, and
	// check each observation landed in the bucket that holds it, give or
	// take one bucket (the internal bucket's midpoint is counted).
	idx, cnt := int32(0), int64(0)
	got := map[int32]int64{}
	var total int64
	di := 0
	for i, sp := range h.GetPositiveSpan() {
		if i == 0 {
			idx = sp.GetOffset()
		} else {
			idx += sp.GetOffset()
		}
		for j := uint32(0); j < sp.GetLength(); j++ {
			cnt += h.GetPositiveDelta()[di]
			di++
			got[idx] = cnt
			total += cnt
			idx++
		}
	}
	assert.Equal(t, len(h.GetPositiveDelta()), di)
	assert.EqualValues(t, h.GetSampleCount(), uint64(total)+h.GetZeroCount())
	for _, d := range lats[1 : len(lats)-1] {
		want := int32(math.Ceil(math.Log2(d.Seconds()) * 16))
		assert.True(t, got[want] > 0 || got[want-1] > 0 || got[want+1] > 0, "%v in native bucket %d: %v", d, want, got)
	}

	// A text scrape of the same carries no native fields (it cannot).
	text := scrape(t, tel.MetricsHandler())
	assert.Nil(t, text["slinkerd_service_latency_seconds"].GetMetric()[0].GetHistogram().Schema)
}

func TestMetricsPrometheusProtobufEmptyHistogramIsNative(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	fams := scrapeProto(t, tel.MetricsHandler())
	h := fams["slinkerd_server_latency_seconds"].GetMetric()[0].GetHistogram()
	assert.EqualValues(t, 4, h.GetSchema())
	require.Len(t, h.GetPositiveSpan(), 1)
	assert.EqualValues(t, 0, h.GetPositiveSpan()[0].GetLength())
}
