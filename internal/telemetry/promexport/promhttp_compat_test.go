//go:build !slinkerd_nopromproto

package promexport_test

// The exposition as it was, through the Prometheus Go client, kept here
// as the oracle: tests link the client, the binary does not.

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
	"github.com/slinkerd/slinkerd/internal/telemetry/promexport"
)

// clientHandler is /metrics as promexport served it before it stopped
// linking the Prometheus client: two registries (classic histograms for
// the text formats, native ones too for delimited protobuf) holding the
// Telemetry's collector and the client's Go and process collectors, each
// served by promhttp.HandlerFor with default options.
func clientHandler(t *telemetry.Telemetry) http.Handler {
	handler := func(native bool) http.Handler {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			&clientCollector{t: t, native: native},
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	text, proto := handler(false), handler(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...).FormatType() == expfmt.TypeProtoDelim {
			proto.ServeHTTP(w, r)
			return
		}
		text.ServeHTTP(w, r)
	})
}

// clientCollector is the unchecked collector that read a Telemetry.
type clientCollector struct {
	t      *telemetry.Telemetry
	native bool
}

func (c *clientCollector) Describe(chan<- *prometheus.Desc) {}

func (c *clientCollector) Collect(ch chan<- prometheus.Metric) {
	start := c.t.Start()
	for _, f := range c.t.Families() {
		d := prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil)
		for _, m := range f.Metrics {
			switch f.Kind {
			case telemetry.KindCounter:
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, m.Value, m.LabelValues...)
			case telemetry.KindGauge:
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, m.Value, m.LabelValues...)
			case telemetry.KindHistogram:
				ch <- newClientLatency(d, m.Hist, c.native, start, m.LabelValues)
			}
		}
	}
}

// clientLatency is the latency histogram as it was made: classic buckets,
// and native ones (the same code: promexport.AddNative) when native.
type clientLatency struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      dto.Histogram
}

func newClientLatency(desc *prometheus.Desc, s *telemetry.HistogramSnapshot, native bool, created time.Time, labels []string) prometheus.Metric {
	m := &clientLatency{desc: desc, labels: prometheus.MakeLabelPairs(desc, labels)}
	count, sum := s.Count, s.Sum.Seconds()
	m.h.SampleCount, m.h.SampleSum = &count, &sum
	m.h.CreatedTimestamp = timestamppb.New(created)
	buckets := make([]dto.Bucket, len(telemetry.ClassicBuckets.Index))
	m.h.Bucket = make([]*dto.Bucket, len(telemetry.ClassicBuckets.Index))
	var cum uint64
	next := 0
	for k, idx := range telemetry.ClassicBuckets.Index {
		for ; next < idx; next++ {
			cum += s.Counts[next]
		}
		c := cum
		buckets[k] = dto.Bucket{CumulativeCount: &c, UpperBound: &telemetry.ClassicBuckets.Le[k]}
		m.h.Bucket[k] = &buckets[k]
	}
	if native {
		promexport.AddNative(&m.h, s)
	}
	return m
}

func (m *clientLatency) Desc() *prometheus.Desc { return m.desc }

func (m *clientLatency) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Histogram = &m.h
	return nil
}

// busyTelemetry is a Telemetry with series at every level, failures,
// retries, endpoint state, connections, and added families that exercise
// the corners: labels not in name order, one name in two families, a
// family without series, label values to escape, odd values.
func busyTelemetry(t *testing.T) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(telemetry.Config{MaxEndpoints: 3, Version: "v1.2.3"})
	require.NoError(t, err)
	tel.SetSource(&fakeSource{
		services: []proxy.ServiceState{{Service: "/svc/users", BudgetBalance: 42, BudgetExhausted: 7}, {Service: "/svc/b", BudgetBalance: 1}},
		clients: []proxy.ClientState{
			{ID: "/#/io.l5d.fs/users", Addr: "bound", Endpoints: []balance.EndpointStats{
				{Address: "127.0.0.1:8001", Weight: 1, Pending: 1, Load: 2e6, EWMA: 2 * time.Millisecond, State: "alive"},
				{Address: "127.0.0.1:8002", Weight: 0.5, Pending: 3, State: "dead", Failures: 5},
			}},
			{ID: "/#/io.l5d.fs/b", Addr: "bound", Endpoints: []balance.EndpointStats{
				{Address: "10.0.0.9:80", Weight: 1, State: "probing"},
				{Address: "10.0.0.1:80", Weight: 1, State: "alive"},
			}},
		},
	})
	lats := []time.Duration{0, 300 * time.Microsecond, 2 * time.Millisecond, 40 * time.Millisecond, 3 * time.Second, time.Hour}
	for i, d := range lats {
		tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8001", Status: 200, Latency: d})
		tel.Request(&proxy.RequestEvent{Service: "/svc/b", Client: "/#/io.l5d.fs/b", Endpoint: []string{"10.0.0.9:80", "10.0.0.1:80"}[i%2], Status: 200, Latency: d})
	}
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8002",
		Status: 502, Failed: true, ProxyError: true, Requeues: 1, Latency: time.Millisecond})
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8001",
		Status: 503, Failed: true, Retries: 2, Latency: 5 * time.Millisecond})
	tel.ConnState(nil, http.StateNew)
	tel.AddFamilies(func() []telemetry.Family {
		return []telemetry.Family{
			{Name: "test_merged", Help: "One name, two families.", Kind: telemetry.KindGauge, LabelNames: []string{"z", "a"},
				Metrics: []telemetry.Metric{{LabelValues: []string{"2", "x"}, Value: math.Inf(1)}, {LabelValues: []string{"1", "y"}, Value: math.NaN()}}},
			{Name: "test_empty", Help: "No series.", Kind: telemetry.KindCounter, LabelNames: []string{"a"}},
			{Name: "test_escaped", Help: "Help with \\ and\nnewline.", Kind: telemetry.KindCounter, LabelNames: []string{"v"},
				Metrics: []telemetry.Metric{{LabelValues: []string{"quote \" backslash \\ newline \n"}, Value: 1e-300}, {LabelValues: []string{"é"}, Value: math.Copysign(0, -1)}, {LabelValues: []string{""}, Value: 3}}},
			{Name: "test_merged", Help: "One name, two families.", Kind: telemetry.KindGauge, LabelNames: []string{"z", "a"},
				Metrics: []telemetry.Metric{{LabelValues: []string{"1", "x"}, Value: math.Inf(-1)}}},
			{Name: "a_first", Help: "Sorts first.", Kind: telemetry.KindGauge, Metrics: []telemetry.Metric{{Value: 1}}},
		}
	})
	return tel
}

// slinkerdFamilies returns the names of the families h serves that are
// not the Go runtime's or the process's.
func slinkerdFamilies(t *testing.T, h http.Handler) []string {
	t.Helper()
	var names []string
	for name := range scrapeProto(t, h, nil) {
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// TestSameBytesAsThePrometheusClient scrapes the Telemetry's families
// (the name[] filter leaves out the runtime's and the process's, which
// change between two scrapes) from promexport and from the client-based
// handler, in every format and content coding, and wants the same status,
// headers and bytes.
func TestSameBytesAsThePrometheusClient(t *testing.T) {
	tel := busyTelemetry(t)
	ours, theirs := promexport.Handler(tel), clientHandler(tel)
	names := slinkerdFamilies(t, ours)
	require.Equal(t, names, slinkerdFamilies(t, theirs))
	require.Contains(t, names, "slinkerd_endpoint_latency_seconds")
	require.Contains(t, names, "test_merged")
	require.NotContains(t, names, "test_empty")
	query := "/metrics?name[]=" + strings.Join(names, "&name[]=")

	accepts := []string{
		"",
		"text/plain",
		"text/plain;version=0.0.4",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
		"application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
		"text/plain;version=0.0.4;escaping=allow-utf-8",
		"*/*",
		"image/png",
	}
	encodings := []string{"", "gzip", "gzip, identity", "identity;q=0.5, gzip", "*", "zstd", "gzip;q=0", "br, gzip;q=0.8, *;q=0.1"}
	for _, accept := range accepts {
		for _, enc := range encodings {
			get := func(h http.Handler) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, query, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				if enc != "" {
					req.Header.Set("Accept-Encoding", enc)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			want, got := get(theirs), get(ours)
			what := "Accept: " + accept + "; Accept-Encoding: " + enc
			require.Equal(t, want.Code, got.Code, what)
			require.Greater(t, len(gunzip(t, got)), 10000, what)
			for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
				assert.Equal(t, want.Header().Values(h), got.Header().Values(h), "%s: %s", what, h)
			}
			if !bytes.Equal(want.Body.Bytes(), got.Body.Bytes()) {
				assert.Equal(t, string(gunzip(t, want)), string(gunzip(t, got)), what)
				assert.Fail(t, "bodies differ", what)
			}
		}
	}
}

// TestRuntimeAndProcessFamiliesAsThePrometheusClient wants the go_* and
// process_* families of a client registry holding
// collectors.NewGoCollector() and NewProcessCollector(), gathered in this
// process, with the same types, help and units. Off Linux, process
// families may be missing (not the other way round).
func TestRuntimeAndProcessFamiliesAsThePrometheusClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	want, err := reg.Gather()
	require.NoError(t, err)
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	got := scrapeProto(t, promexport.Handler(tel), nil)

	type shape struct {
		Type             dto.MetricType
		Help, Unit       string
		Labels           []string
		Quantiles, Count int
	}
	shapeOf := func(f *dto.MetricFamily) shape {
		s := shape{Type: f.GetType(), Help: f.GetHelp(), Unit: f.GetUnit(), Count: len(f.GetMetric())}
		for _, l := range f.GetMetric()[0].GetLabel() {
			s.Labels = append(s.Labels, l.GetName())
		}
		s.Quantiles = len(f.GetMetric()[0].GetSummary().GetQuantile())
		return s
	}
	seen := map[string]bool{}
	for _, w := range want {
		name := w.GetName()
		seen[name] = true
		g, ok := got[name]
		if !ok {
			if runtime.GOOS != "linux" && strings.HasPrefix(name, "process_") {
				t.Logf("%s: not served on %s", name, runtime.GOOS)
				continue
			}
			t.Errorf("%s: missing", name)
			continue
		}
		assert.Equal(t, shapeOf(w), shapeOf(g), name)
	}
	for name := range got {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			assert.True(t, seen[name], "%s: the Prometheus client has no such family", name)
		}
	}
	if runtime.GOOS == "linux" {
		assert.Len(t, got, len(want)+len(slinkerdFamilies(t, promexport.Handler(tel))))
	}
}

// TestDuplicateSeriesIs500AsThePrometheusClient adds a series twice:
// Registry.Gather reported it, and promhttp answered 500 with the error.
func TestDuplicateSeriesIs500AsThePrometheusClient(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	tel.AddFamilies(func() []telemetry.Family {
		return []telemetry.Family{{Name: "test_dup", Help: "Twice.", Kind: telemetry.KindGauge, LabelNames: []string{"a"},
			Metrics: []telemetry.Metric{{LabelValues: []string{"x"}, Value: 1}, {LabelValues: []string{"x"}, Value: 2}}}}
	})
	for _, h := range []http.Handler{clientHandler(tel), promexport.Handler(tel)} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Empty(t, rec.Header().Get("Content-Encoding"))
		assert.True(t, strings.HasPrefix(rec.Body.String(), "An error has occurred while serving metrics:\n\ncollected metric \"test_dup\" "), rec.Body.String())
		assert.Contains(t, rec.Body.String(), "was collected before with the same name and label values")
	}
}
