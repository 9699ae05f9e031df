package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
)

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

func TestMetricsParseTraceparent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ok      bool
		sampled bool
	}{
		{"valid sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true},
		{"valid unsampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, false},
		{"future version with more fields", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true, true},
		{"version 00 with more fields", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false, false},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, false},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, false},
		{"upper case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false, false},
		{"short", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := parseTraceparent(tt.in)
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.sampled, c.sampled())
				assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", hexs(c.traceID[:]))
				assert.Equal(t, "00f067aa0ba902b7", hexs(c.spanID[:]))
			}
		})
	}
	c, _ := parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	assert.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", c.traceparent())
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// proxied returns an incoming request with hdr and the outgoing request
// the ReverseProxy would make from it (headers copied).
func proxied(hdr map[string]string) (in, out *http.Request, cancel context.CancelFunc) {
	in = httptest.NewRequest(http.MethodGet, "http://users/v1/list?x=1", nil)
	for k, v := range hdr {
		in.Header.Set(k, v)
	}
	ctx, cancel := context.WithCancel(in.Context())
	in = in.WithContext(ctx)
	out = in.Clone(ctx)
	out.Header.Set("L5d-Dst-Service", "/svc/users")
	return in, out, cancel
}

func TestMetricsTraceRequestPropagatesUnchangedByDefault(t *testing.T) {
	tr, err := newTracer(TraceConfig{}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	hdr := map[string]string{
		"traceparent":       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":        "congo=t61rcWkgMzE",
		"b3":                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
		"X-B3-TraceId":      "80f198ee56343ba864fe8b2a57d3eff7",
		"X-Amzn-Trace-Id":   "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
		"X-Unrelated-Value": "x",
	}
	in, out, cancel := proxied(hdr)
	defer cancel()
	tr.TraceRequest(in, out)
	for k, v := range hdr {
		assert.Equal(t, v, out.Header.Get(k), k)
	}
	// Without a traceparent nothing is added either.
	in, out, cancel2 := proxied(nil)
	defer cancel2()
	tr.TraceRequest(in, out)
	assert.Empty(t, out.Header.Get("traceparent"))
	assert.Empty(t, out.Header.Get("X-Amzn-Trace-Id"))
}

func TestMetricsTraceRequestGeneratesWhenAsked(t *testing.T) {
	tr, err := newTracer(TraceConfig{Generate: true}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	in, out, cancel := proxied(map[string]string{"tracestate": "orphan=1"})
	defer cancel()
	tr.TraceRequest(in, out)
	tp := out.Header.Get("traceparent")
	assert.Regexp(t, traceparentRE, tp)
	assert.True(t, tp[53:] == "01", "sampled")
	assert.Empty(t, out.Header.Get("tracestate"), "tracestate of no trace is dropped")

	// Two requests, two traces.
	in2, out2, cancel2 := proxied(nil)
	defer cancel2()
	tr.TraceRequest(in2, out2)
	assert.NotEqual(t, tp[3:35], out2.Header.Get("traceparent")[3:35])

	// An existing valid traceparent is kept as is (no export: no span).
	const given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in3, out3, cancel3 := proxied(map[string]string{"traceparent": given})
	defer cancel3()
	tr.TraceRequest(in3, out3)
	assert.Equal(t, given, out3.Header.Get("traceparent"))
}

func TestMetricsLambdaTraceIDFillsMissingHeaderOnly(t *testing.T) {
	tr, err := newTracer(TraceConfig{}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	tr.SetLambdaTraceID("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	in, out, cancel := proxied(nil)
	defer cancel()
	tr.TraceRequest(in, out)
	assert.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", out.Header.Get("X-Amzn-Trace-Id"))

	in, out, cancel2 := proxied(map[string]string{"X-Amzn-Trace-Id": "Root=mine"})
	defer cancel2()
	tr.TraceRequest(in, out)
	assert.Equal(t, "Root=mine", out.Header.Get("X-Amzn-Trace-Id"))

	tr.SetLambdaTraceID("")
	in, out, cancel3 := proxied(nil)
	defer cancel3()
	tr.TraceRequest(in, out)
	assert.Empty(t, out.Header.Get("X-Amzn-Trace-Id"))
}

// otlpCollector is a local OTLP/HTTP receiver.
type otlpCollector struct {
	mu      sync.Mutex
	reqs    []otlpRequest
	headers []http.Header
	got     chan struct{}
}

func newOTLPCollector(t *testing.T) (*otlpCollector, *httptest.Server) {
	c := &otlpCollector{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req otlpRequest
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, req)
		c.headers = append(c.headers, r.Header.Clone())
		c.mu.Unlock()
		c.got <- struct{}{}
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func TestMetricsOTLPExportSpans(t *testing.T) {
	coll, srv := newOTLPCollector(t)
	tr, err := newTracer(TraceConfig{OTLPEndpoint: srv.URL, OTLPHeaders: map[string]string{"Authorization": "Bearer abc"},
		BatchSize: 2, FlushInterval: time.Hour}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	defer func() { require.NoError(t, tr.Close(context.Background())) }()

	// A sampled parent: our span is its child and the backend's parent.
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in1, out1, end1 := proxied(map[string]string{"traceparent": parent, "tracestate": "congo=1"})
	tr.TraceRequest(in1, out1)
	tp := out1.Header.Get("traceparent")
	assert.Regexp(t, traceparentRE, tp)
	assert.Equal(t, parent[:36], tp[:36], "same trace")
	assert.NotEqual(t, parent[36:52], tp[36:52], "our span id")
	assert.Equal(t, "congo=1", out1.Header.Get("tracestate"), "tracestate kept")

	// An unsampled parent passes through and is not exported.
	const unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	in2, out2, end2 := proxied(map[string]string{"traceparent": unsampled})
	tr.TraceRequest(in2, out2)
	assert.Equal(t, unsampled, out2.Header.Get("traceparent"))

	// No traceparent and no Generate: nothing to export.
	in3, out3, end3 := proxied(nil)
	tr.TraceRequest(in3, out3)
	assert.Empty(t, out3.Header.Get("traceparent"))

	end1()
	end2()
	end3()
	waitQueued(t, tr, 1) // spans end in a context.AfterFunc goroutine
	require.NoError(t, tr.Flush(context.Background()))
	select {
	case <-coll.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no export within 10s")
	}
	coll.mu.Lock()
	defer coll.mu.Unlock()
	require.Len(t, coll.reqs, 1)
	assert.Equal(t, "Bearer abc", coll.headers[0].Get("Authorization"))
	rs := coll.reqs[0].ResourceSpans
	require.Len(t, rs, 1)
	assert.Equal(t, "service.name", rs[0].Resource.Attributes[0].Key)
	assert.Equal(t, "slinkerd", rs[0].Resource.Attributes[0].Value.StringValue)
	spans := rs[0].ScopeSpans[0].Spans
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.TraceID)
	assert.Equal(t, "00f067aa0ba902b7", s.ParentSpanID)
	assert.Equal(t, tp[36:52], s.SpanID)
	assert.Equal(t, "GET /svc/users", s.Name)
	assert.Equal(t, spanKindServer, s.Kind)
	assert.Regexp(t, `^\d+$`, s.StartTimeUnixNano)
	assert.GreaterOrEqual(t, s.EndTimeUnixNano, s.StartTimeUnixNano)
	attrs := map[string]string{}
	for _, a := range s.Attributes {
		attrs[a.Key] = a.Value.StringValue
	}
	assert.Equal(t, "GET", attrs["http.request.method"])
	assert.Equal(t, "/v1/list", attrs["url.path"], "no query string")
	assert.Equal(t, "/svc/users", attrs["l5d.dst.service"])
	assert.EqualValues(t, 1, tr.Exported())
	assert.EqualValues(t, 0, tr.Dropped())
}

// waitQueued polls until n spans wait for export.
func waitQueued(t *testing.T, tr *Tracer, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		tr.exp.mu.Lock()
		got := len(tr.exp.queue)
		tr.exp.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%d spans queued after 10s, want %d", got, n)
		case <-tick.C:
		}
	}
}

func TestMetricsOTLPExportBatchesAndGeneratesRoots(t *testing.T) {
	coll, srv := newOTLPCollector(t)
	tr, err := newTracer(TraceConfig{Generate: true, OTLPEndpoint: srv.URL + "/", BatchSize: 3, FlushInterval: time.Hour}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	defer func() { require.NoError(t, tr.Close(context.Background())) }()
	for i := 0; i < 3; i++ {
		in, out, end := proxied(nil)
		tr.TraceRequest(in, out)
		end()
	}
	// A full batch is sent without waiting for the interval.
	select {
	case <-coll.got:
	case <-time.After(10 * time.Second):
		t.Fatal("a full batch was not exported within 10s")
	}
	coll.mu.Lock()
	spans := coll.reqs[0].ResourceSpans[0].ScopeSpans[0].Spans
	coll.mu.Unlock()
	require.Len(t, spans, 3)
	for _, s := range spans {
		assert.Empty(t, s.ParentSpanID, "a root span")
	}
}

func TestMetricsOTLPBadEndpointAndHeaders(t *testing.T) {
	_, err := newTracer(TraceConfig{OTLPEndpoint: "localhost:4318"}, clock.Real{}, slog.Default())
	assert.Error(t, err)
	h, err := ParseOTLPHeaders("authorization=Bearer%20abc, x-team = core ,")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"authorization": "Bearer abc", "x-team": "core"}, h)
	_, err = ParseOTLPHeaders("novalue")
	assert.Error(t, err)
	_, err = ParseOTLPHeaders("k=%zz")
	assert.Error(t, err)
}

func BenchmarkTraceRequestOff(b *testing.B) {
	tr, _ := newTracer(TraceConfig{}, clock.Real{}, slog.Default())
	in, out, cancel := proxied(map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		tr.TraceRequest(in, out)
	}
}
