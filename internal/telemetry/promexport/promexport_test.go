package promexport_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
	"github.com/slinkerd/slinkerd/internal/telemetry/promexport"
)

const (
	acceptProto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	typeText    = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
	typeProto   = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores"
)

// fakeSource is a proxy's state, set by the test.
type fakeSource struct {
	clients  []proxy.ClientState
	services []proxy.ServiceState
}

func (f *fakeSource) Clients() []proxy.ClientState   { return f.clients }
func (f *fakeSource) Services() []proxy.ServiceState { return f.services }

// get serves GET /metrics with the given request headers.
func get(h http.Handler, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decodeProto decodes a delimited protobuf body, in its order.
func decodeProto(t *testing.T, body []byte) []*dto.MetricFamily {
	t.Helper()
	var out []*dto.MetricFamily
	r := bufio.NewReader(bytes.NewReader(body))
	for {
		f := new(dto.MetricFamily)
		err := protodelim.UnmarshalFrom(r, f)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, f)
	}
}

// scrapeProto scrapes h asking for delimited protobuf, with header added,
// and decodes what it answers: protobuf, or text in the lean build.
func scrapeProto(t *testing.T, h http.Handler, header map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	hdr := map[string]string{"Accept": acceptProto}
	for k, v := range header {
		hdr[k] = v
	}
	rec := get(h, hdr)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return decode(t, rec.Header().Get("Content-Type"), gunzip(t, rec))
}

// decode decodes a body of the given Content-Type, text or delimited
// protobuf, by family name.
func decode(t *testing.T, contentType string, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	if contentType == typeText {
		return parseText(t, body)
	}
	require.Equal(t, typeProto, contentType)
	out := map[string]*dto.MetricFamily{}
	for _, f := range decodeProto(t, body) {
		out[f.GetName()] = f
	}
	return out
}

// parseText parses a text-format body with the official parser.
func parseText(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return fams
}

func someTelemetry(t *testing.T) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	for _, d := range []time.Duration{0, 300 * time.Microsecond, 2 * time.Millisecond, 3 * time.Second} {
		tel.Request(&proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8001", Status: 200, Latency: d})
	}
	return tel
}

func TestTextByDefault(t *testing.T) {
	for _, accept := range []string{"", "text/plain", "*/*", "application/json"} {
		rec := get(promexport.Handler(someTelemetry(t)), map[string]string{"Accept": accept})
		require.Equal(t, http.StatusOK, rec.Code, accept)
		assert.Equal(t, typeText, rec.Header().Get("Content-Type"), accept)
		assert.Equal(t, []string{"Accept", "Accept-Encoding"}, rec.Header().Values("Vary"), accept)
		assert.Empty(t, rec.Header().Get("Content-Encoding"), accept)
		fams := parseText(t, rec.Body.Bytes())
		assert.EqualValues(t, 4, fams["slinkerd_service_requests_total"].GetMetric()[0].GetCounter().GetValue(), accept)
		assert.Contains(t, fams, "go_goroutines", accept)
		h := fams["slinkerd_service_latency_seconds"].GetMetric()[0].GetHistogram()
		assert.EqualValues(t, 4, h.GetSampleCount(), accept)
		assert.Nil(t, h.Schema, "%s: no native histogram in text", accept)
	}
}

func TestProtobufWhenNegotiated(t *testing.T) {
	for _, accept := range []string{
		acceptProto,
		acceptProto + ";q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1", // Prometheus with native histograms on
	} {
		rec := get(promexport.Handler(someTelemetry(t)), map[string]string{"Accept": accept})
		require.Equal(t, http.StatusOK, rec.Code)
		if leanBuild {
			// The lean build answers text to every scraper.
			assert.Equal(t, typeText, rec.Header().Get("Content-Type"))
			fams := parseText(t, rec.Body.Bytes())
			h := fams["slinkerd_endpoint_latency_seconds"].GetMetric()[0].GetHistogram()
			assert.EqualValues(t, 4, h.GetSampleCount())
			continue
		}
		assert.Equal(t, typeProto, rec.Header().Get("Content-Type"))
		fams := decodeProto(t, rec.Body.Bytes())

		names := make([]string, len(fams))
		byName := map[string]*dto.MetricFamily{}
		for i, f := range fams {
			names[i], byName[f.GetName()] = f.GetName(), f
			for _, m := range f.GetMetric() {
				assert.True(t, slices.IsSortedFunc(m.GetLabel(), func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }), "%s: labels sorted by name", f.GetName())
			}
		}
		assert.True(t, slices.IsSorted(names), "families sorted by name: %v", names)

		f := byName["slinkerd_endpoint_latency_seconds"]
		require.NotNil(t, f)
		assert.Equal(t, dto.MetricType_HISTOGRAM, f.GetType())
		h := f.GetMetric()[0].GetHistogram()
		assert.EqualValues(t, 4, h.GetSchema())
		assert.EqualValues(t, 1, h.GetZeroCount(), "the 0 latency")
		require.NotEmpty(t, h.GetPositiveSpan())
		assert.Len(t, h.GetPositiveDelta(), 3)
		assert.NotEmpty(t, h.GetBucket(), "classic buckets ride along")
		assert.NotNil(t, h.GetCreatedTimestamp())
	}
}

func TestGzipWhenAccepted(t *testing.T) {
	h := promexport.Handler(someTelemetry(t))
	for _, accept := range []string{"", acceptProto} {
		rec := get(h, map[string]string{"Accept": accept, "Accept-Encoding": "gzip"})
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
		zr, err := gzip.NewReader(rec.Body)
		require.NoError(t, err)
		body, err := io.ReadAll(zr)
		require.NoError(t, err)
		fams := decode(t, rec.Header().Get("Content-Type"), body)
		assert.EqualValues(t, 4, fams["slinkerd_server_requests_total"].GetMetric()[0].GetCounter().GetValue())
	}
	// Twice more: the pooled writer is reset between scrapes.
	for range 2 {
		rec := get(h, map[string]string{"Accept-Encoding": "gzip"})
		parseText(t, gunzip(t, rec))
	}
}

func TestNameFilter(t *testing.T) {
	h := promexport.Handler(someTelemetry(t))
	req := httptest.NewRequest(http.MethodGet, "/metrics?name[]=go_goroutines&name[]=slinkerd_server_requests_total&name[]=nosuch", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fams := parseText(t, rec.Body.Bytes())
	assert.Len(t, fams, 2)
	assert.Contains(t, fams, "go_goroutines")
	assert.Contains(t, fams, "slinkerd_server_requests_total")
}

// TestReadsAtEachScrapeOnly: Handler reads nothing, and each scrape reads
// the families afresh.
func TestReadsAtEachScrapeOnly(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	reads := 0
	tel.AddFamilies(func() []telemetry.Family {
		reads++
		return []telemetry.Family{{Name: "test_reads", Help: "Reads.", Kind: telemetry.KindCounter, Metrics: []telemetry.Metric{{Value: float64(reads)}}}}
	})
	h := promexport.Handler(tel)
	assert.Equal(t, 0, reads)
	for want := 1; want <= 2; want++ {
		fams := parseText(t, get(h, nil).Body.Bytes())
		assert.EqualValues(t, want, fams["test_reads"].GetMetric()[0].GetCounter().GetValue())
	}
}

func TestRuntimeAndProcessValuesAreSane(t *testing.T) {
	runtime.GC()
	fams := scrapeProto(t, promexport.Handler(someTelemetry(t)), nil)
	value := func(name string) float64 {
		t.Helper()
		require.Contains(t, fams, name)
		m := fams[name].GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	assert.Greater(t, value("go_goroutines"), 0.0)
	assert.Greater(t, value("go_threads"), 0.0)
	assert.Greater(t, value("go_memstats_alloc_bytes"), 0.0)
	assert.Equal(t, value("go_memstats_alloc_bytes"), value("go_memstats_heap_alloc_bytes"))
	assert.Greater(t, value("go_memstats_last_gc_time_seconds"), float64(time.Now().Add(-time.Minute).Unix()))
	assert.EqualValues(t, runtime.GOMAXPROCS(0), value("go_sched_gomaxprocs_threads"))
	assert.Equal(t, runtime.Version(), fams["go_info"].GetMetric()[0].GetLabel()[0].GetValue())

	gc := fams["go_gc_duration_seconds"]
	require.Equal(t, dto.MetricType_SUMMARY, gc.GetType())
	s := gc.GetMetric()[0].GetSummary()
	assert.GreaterOrEqual(t, s.GetSampleCount(), uint64(1), "after runtime.GC")
	var qs []float64
	for i, q := range s.GetQuantile() {
		qs = append(qs, q.GetQuantile())
		if i > 0 {
			assert.GreaterOrEqual(t, q.GetValue(), s.GetQuantile()[i-1].GetValue())
		}
	}
	assert.Equal(t, []float64{0, 0.25, 0.5, 0.75, 1}, qs)

	if runtime.GOOS != "linux" {
		return
	}
	assert.Greater(t, value("process_resident_memory_bytes"), 0.0)
	assert.Greater(t, value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"))
	assert.Greater(t, value("process_open_fds"), 2.0)
	assert.Greater(t, value("process_max_fds"), value("process_open_fds"))
	assert.InDelta(t, float64(time.Now().Unix()), value("process_start_time_seconds"), 60)
	assert.GreaterOrEqual(t, value("process_cpu_seconds_total"), 0.0)
}

// TestInvalidLabelValueIs500: the Prometheus client panicked on a label
// value that is not UTF-8; the scrape now fails instead, as for any other
// inconsistency.
func TestInvalidLabelValueIs500(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	tel.AddFamilies(func() []telemetry.Family {
		return []telemetry.Family{{Name: "test_bad", Help: "Bad.", Kind: telemetry.KindGauge, LabelNames: []string{"a"},
			Metrics: []telemetry.Metric{{LabelValues: []string{"\xff"}, Value: 1}}}}
	})
	rec := get(promexport.Handler(tel), nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `collected metric "test_bad" has a label named "a" whose value is not utf8`)
}

// failingWriter is a ResponseWriter whose writes all fail.
type failingWriter struct {
	*httptest.ResponseRecorder
}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection gone") }

// TestEncodingErrorBeforeAnyByteIs500: an error before anything reached
// the client is still answered with a status.
func TestEncodingErrorBeforeAnyByteIs500(t *testing.T) {
	for _, enc := range []string{"", "gzip"} {
		w := failingWriter{httptest.NewRecorder()}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		promexport.Handler(someTelemetry(t)).ServeHTTP(w, req)
		assert.Equal(t, http.StatusInternalServerError, w.Code, enc)
		assert.Empty(t, w.Header().Get("Content-Encoding"), enc)
	}
}

// TestConcurrentScrapes scrapes from several goroutines at once, sharing
// the gzip writers (run with -race).
func TestConcurrentScrapes(t *testing.T) {
	h := promexport.Handler(someTelemetry(t))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				hdr := map[string]string{}
				if (i+j)%2 == 0 {
					hdr["Accept-Encoding"] = "gzip"
				}
				rec := get(h, hdr)
				if rec.Code != http.StatusOK {
					t.Errorf("status %d", rec.Code)
					return
				}
				body, err := bodyOf(rec)
				if err == nil {
					p := expfmt.NewTextParser(model.UTF8Validation)
					_, err = p.TextToMetricFamilies(bytes.NewReader(body))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// gunzip returns rec's body, decompressed if it is gzipped.
func gunzip(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	b, err := bodyOf(rec)
	require.NoError(t, err)
	return b
}

// bodyOf is gunzip for goroutines other than the test's.
func bodyOf(rec *httptest.ResponseRecorder) ([]byte, error) {
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.Bytes(), nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
