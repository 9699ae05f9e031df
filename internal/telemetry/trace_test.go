package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/slinkerd/slinkerd/internal/proxy"
	otlpfake "github.com/slinkerd/slinkerd/test/fakes/otlp"
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

// seqRand is injected randomness: it returns its bytes in order, then
// zeros.
type seqRand struct {
	mu sync.Mutex
	b  []byte
}

func (r *seqRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := copy(p, r.b)
	r.b = r.b[n:]
	clear(p[n:])
	return len(p), nil
}

// idWithLow returns trace-id randomness whose low 8 bytes (the part the
// ratio sampler reads) are lo, followed by a span id.
func idWithLow(lo uint64) []byte {
	b := make([]byte, 16+8)
	b[0] = 0xab
	for i := 0; i < 8; i++ {
		b[15-i] = byte(lo >> (8 * i))
	}
	b[16] = 0x11
	return b
}

func TestMetricsSamplerDecisions(t *testing.T) {
	const sampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const unsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	low := uint64(0x1000000000000000)  // (low>>1)/2^63 = 1/16: under a ratio of 0.25
	high := uint64(0xf000000000000000) // 15/16: over it
	tests := []struct {
		name, sampler, arg string
		parent             string
		rand               []byte
		wantSpan           bool
	}{
		{"default root is sampled", "", "", "", idWithLow(high), true},
		{"always_off root", "always_off", "", "", idWithLow(low), false},
		{"always_on root", "always_on", "", "", idWithLow(high), true},
		{"ratio root under", "traceidratio", "0.25", "", idWithLow(low), true},
		{"ratio root over", "traceidratio", "0.25", "", idWithLow(high), false},
		{"ratio ignores sampled parent", "traceidratio", "0", sampledParent, idWithLow(low), false},
		{"parentbased ratio root under", "parentbased_traceidratio", "0.25", "", idWithLow(low), true},
		{"parentbased ratio root over", "parentbased_traceidratio", "0.25", "", idWithLow(high), false},
		{"parentbased ratio follows sampled parent", "parentbased_traceidratio", "0", sampledParent, idWithLow(high), true},
		{"parentbased ratio follows unsampled parent", "parentbased_traceidratio", "1", unsampledParent, idWithLow(low), false},
		{"parentbased_always_off root", "parentbased_always_off", "", "", idWithLow(low), false},
		{"parentbased_always_off sampled parent", "parentbased_always_off", "", sampledParent, idWithLow(low), true},
		{"parentbased_always_on unsampled parent", "parentbased_always_on", "", unsampledParent, idWithLow(low), false},
		{"ratio arg missing means 1", "traceidratio", "", "", idWithLow(high), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSampler(tt.sampler, tt.arg)
			require.NoError(t, err)
			rcv := otlpfake.New()
			defer rcv.Close()
			tr, err := newTracer(TraceConfig{Generate: true, OTLPEndpoint: rcv.URL(), Sampler: s, Rand: &seqRand{b: tt.rand},
				FlushInterval: time.Hour}, clock.Real{}, slog.Default())
			require.NoError(t, err)
			defer func() { require.NoError(t, tr.Close(context.Background())) }()
			hdr := map[string]string{}
			if tt.parent != "" {
				hdr["traceparent"] = tt.parent
			}
			in, out, end := proxied(hdr)
			tr.TraceRequest(in, out)
			end()
			tp, ok := parseTraceparent(out.Header.Get("traceparent"))
			if tt.wantSpan {
				waitQueued(t, tr, 1)
				require.True(t, ok)
				assert.True(t, tp.sampled(), "sent sampled")
			} else if ok && tt.parent == "" {
				assert.False(t, tp.sampled(), "a new trace we do not sample is sent unsampled")
			}
			require.NoError(t, tr.Flush(context.Background()))
			if tt.wantSpan {
				assert.Len(t, rcv.Spans(), 1)
			} else {
				assert.Empty(t, rcv.Spans())
			}
		})
	}
	for _, bad := range [][2]string{{"sometimes", ""}, {"traceidratio", "1.5"}, {"parentbased_traceidratio", "x"}} {
		_, err := ParseSampler(bad[0], bad[1])
		assert.Error(t, err, "%v", bad)
	}
}

func TestMetricsCloudTraceContextRoundTrip(t *testing.T) {
	rcv := otlpfake.New()
	defer rcv.Close()
	tr, err := newTracer(TraceConfig{Generate: true, OTLPEndpoint: rcv.URL(), FlushInterval: time.Hour}, clock.Real{}, slog.Default())
	require.NoError(t, err)
	defer func() { require.NoError(t, tr.Close(context.Background())) }()

	// Cloud Run's front end: TRACE_ID/SPAN_ID;o=1, the span id decimal.
	in, out, end := proxied(map[string]string{"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/12345;o=1"})
	tr.TraceRequest(in, out)
	end()
	tp, ok := parseTraceparent(out.Header.Get("traceparent"))
	require.True(t, ok, "traceparent written from X-Cloud-Trace-Context")
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", hexs(tp.traceID[:]), "same trace")
	assert.True(t, tp.sampled())
	// The Cloud Trace header is rewritten to name our span as the parent.
	xc := out.Header.Get("X-Cloud-Trace-Context")
	require.Regexp(t, `^4bf92f3577b34da6a3ce929d0e0e4736/\d+;o=1$`, xc)
	ours := hexs(tp.spanID[:])
	var dec uint64
	_, err = fmt.Sscanf(xc[33:], "%d;o=1", &dec)
	require.NoError(t, err)
	assert.Equal(t, ours, fmt.Sprintf("%016x", dec), "X-Cloud-Trace-Context carries our span id")
	// Read back: a child of ours parses the same context from either header.
	c1, ok1 := parseCloudTrace(xc)
	require.True(t, ok1)
	assert.Equal(t, tp, c1)

	waitQueued(t, tr, 1) // the span ends in a context.AfterFunc goroutine
	require.NoError(t, tr.Flush(context.Background()))
	spans := rcv.Spans()
	require.Len(t, spans, 1)
	assert.Equal(t, fmt.Sprintf("%016x", 12345), spans[0].ParentSpanID, "the Cloud Trace span is our parent")

	// o=0: not sampled, passed through as it came.
	in2, out2, end2 := proxied(map[string]string{"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/12345;o=0"})
	tr.TraceRequest(in2, out2)
	end2()
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736/12345;o=0", out2.Header.Get("X-Cloud-Trace-Context"))
}

func TestMetricsParseCloudTrace(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		sampled  bool
	}{
		{"sampled", "105445aa7843bc8bf206b12000100000/1;o=1", true, true},
		{"unsampled", "105445aa7843bc8bf206b12000100000/1;o=0", true, false},
		{"no options", "105445aa7843bc8bf206b12000100000/1", true, false},
		{"upper-case hex", "105445AA7843BC8BF206B12000100000/1;o=1", true, true},
		{"no span", "105445aa7843bc8bf206b12000100000", false, false},
		{"zero span", "105445aa7843bc8bf206b12000100000/0;o=1", false, false},
		{"span too big", "105445aa7843bc8bf206b12000100000/18446744073709551616;o=1", false, false},
		{"short trace", "105445aa/1;o=1", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := parseCloudTrace(tt.in)
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.sampled, c.sampled())
				assert.Equal(t, "105445aa7843bc8bf206b12000100000", hexs(c.traceID[:]))
				assert.Equal(t, "0000000000000001", hexs(c.spanID[:]))
			}
		})
	}
}

// endEvent is what the proxy reports when a request it traced ends.
func endEvent(out *http.Request, status int, failed bool) *proxy.RequestEvent {
	return &proxy.RequestEvent{Service: "/svc/users", Client: "/#/io.l5d.fs/users", Endpoint: "127.0.0.1:8080",
		Status: status, Failed: failed, Latency: 3 * time.Millisecond,
		Request: out, Response: &http.Response{StatusCode: status, Header: http.Header{}, Request: out}}
}

func TestMetricsOTLPSpanStatusAndSemanticAttributes(t *testing.T) {
	rcv := otlpfake.New()
	defer rcv.Close()
	tel, err := New(Config{Trace: TraceConfig{Generate: true, OTLPEndpoint: rcv.URL(), FlushInterval: time.Hour,
		ServiceName: "edge", ResourceAttributes: map[string]string{"deployment.environment.name": "prod"}}})
	require.NoError(t, err)
	defer func() { require.NoError(t, tel.Close(context.Background())) }()

	// 1. A classified failure: the endpoint answered 503.
	in1, out1, end1 := proxied(nil)
	tel.TraceRequest(in1, out1)
	tel.Request(endEvent(out1, 503, true))
	end1()
	// 2. The proxy answered itself: no route.
	in2, out2, end2 := proxied(nil)
	tel.TraceRequest(in2, out2)
	tel.Request(&proxy.RequestEvent{Service: "/svc/users", Status: 502, Failed: true, ProxyError: true, Request: in2,
		Err: errors.New("no route to /svc/users: dial tcp 10.0.0.1:80: connect: connection refused")})
	end2()
	// 3. gRPC, failed by its trailers.
	in3 := httptest.NewRequest(http.MethodPost, "http://users:8080/users.v1.Users/Get", nil)
	in3.Header.Set("Content-Type", "application/grpc")
	ctx3, end3 := context.WithCancel(in3.Context())
	in3 = in3.WithContext(ctx3)
	out3 := in3.Clone(ctx3)
	tel.TraceRequest(in3, out3)
	ev3 := endEvent(out3, 200, true)
	ev3.Response.Trailer = http.Header{"Grpc-Status": {"14"}, "Grpc-Message": {"unavailable"}}
	tel.Request(ev3)
	end3()
	// 4. A success.
	in4, out4, end4 := proxied(nil)
	tel.TraceRequest(in4, out4)
	tel.Request(endEvent(out4, 200, false))
	end4()

	require.NoError(t, tel.Tracer().Flush(context.Background()))
	require.Empty(t, rcv.Errors())
	spans := rcv.Spans()
	require.Len(t, spans, 4)
	byID := map[string]otlpfake.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	spanOf := func(out *http.Request) otlpfake.Span {
		tp, ok := parseTraceparent(out.Header.Get("traceparent"))
		require.True(t, ok)
		s, ok := byID[hexs(tp.spanID[:])]
		require.True(t, ok, "span %x exported", tp.spanID)
		return s
	}

	s1 := spanOf(out1)
	assert.Equal(t, 2, s1.StatusCode, "ERROR")
	assert.Contains(t, s1.StatusMessage, "503")
	assert.Equal(t, "GET", s1.Attributes["http.request.method"])
	assert.Equal(t, "/v1/list", s1.Attributes["url.path"])
	assert.Equal(t, "users", s1.Attributes["server.address"])
	assert.Equal(t, int64(503), s1.Attributes["http.response.status_code"])
	assert.Equal(t, "503", s1.Attributes["error.type"])
	assert.Equal(t, "edge", s1.Resource["service.name"])
	assert.Equal(t, "prod", s1.Resource["deployment.environment.name"])

	s2 := spanOf(out2)
	assert.Equal(t, 2, s2.StatusCode)
	assert.Contains(t, s2.StatusMessage, "connection refused", "the real cause")
	assert.Equal(t, int64(502), s2.Attributes["http.response.status_code"])

	s3 := spanOf(out3)
	assert.Equal(t, 2, s3.StatusCode)
	assert.Equal(t, "grpc", s3.Attributes["rpc.system"])
	assert.Equal(t, "users.v1.Users", s3.Attributes["rpc.service"])
	assert.Equal(t, "Get", s3.Attributes["rpc.method"])
	assert.Equal(t, int64(14), s3.Attributes["rpc.grpc.status_code"])
	assert.Equal(t, "users.v1.Users/Get", s3.Name)
	assert.Equal(t, "users", s3.Attributes["server.address"])
	assert.Equal(t, int64(8080), s3.Attributes["server.port"])

	s4 := spanOf(out4)
	assert.Equal(t, 0, s4.StatusCode, "UNSET on success")
	assert.Equal(t, int64(200), s4.Attributes["http.response.status_code"])
	assert.NotContains(t, s4.Attributes, "error.type")
}

// logLine runs one access-log line through a JSON handler and parses it.
func accessLine(t *testing.T, tcfg TraceConfig, ev func(out *http.Request) *proxy.RequestEvent, hdr map[string]string) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	tel, err := New(Config{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Trace: tcfg})
	require.NoError(t, err)
	defer func() { require.NoError(t, tel.Close(context.Background())) }()
	in, out, end := proxied(hdr)
	out.Header.Set("L5d-Reqid", "req-1")
	tel.TraceRequest(in, out)
	tel.Request(ev(out))
	end()
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m), buf.String())
	return m
}

func TestMetricsAccessLogCloudRunTrace(t *testing.T) {
	tests := []struct {
		name    string
		hdr     map[string]string
		project string
		want    string
	}{
		{"from X-Cloud-Trace-Context", map[string]string{"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}, "my-proj",
			"projects/my-proj/traces/105445aa7843bc8bf206b12000100000"},
		{"from traceparent", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "my-proj",
			"projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"},
		{"no project, no Cloud Logging key", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := accessLine(t, TraceConfig{CloudTraceProject: tt.project}, func(out *http.Request) *proxy.RequestEvent {
				ev := endEvent(out, 200, false)
				ev.Retries = 1
				return ev
			}, tt.hdr)
			if tt.want == "" {
				assert.NotContains(t, m, "logging.googleapis.com/trace")
			} else {
				assert.Equal(t, tt.want, m["logging.googleapis.com/trace"])
			}
			assert.Equal(t, "GET", m["method"])
			assert.Equal(t, "/v1/list", m["path"])
			assert.EqualValues(t, 200, m["status"])
			assert.Equal(t, "/svc/users", m["service"])
			assert.Equal(t, "127.0.0.1:8080", m["endpoint"])
			assert.EqualValues(t, 2, m["attempts"])
			assert.Equal(t, "req-1", m["request_id"])
			assert.NotEmpty(t, m["trace_id"])
			assert.EqualValues(t, 3, m["latency_ms"], "the duration")
		})
	}
}

func TestMetricsPropagationFormatsReadAndWrite(t *testing.T) {
	const tid = "5759e988bd862e3fe1be46a994272793"
	tests := []struct {
		name       string
		hdr        map[string]string
		parent     string // the caller's span, hex
		check      func(t *testing.T, h http.Header, ours string)
		wantTraced bool
	}{
		{"b3 single", map[string]string{"b3": tid + "-53995c3f42cd8ad8-1"}, "53995c3f42cd8ad8",
			func(t *testing.T, h http.Header, ours string) {
				assert.Equal(t, tid+"-"+ours+"-1-53995c3f42cd8ad8", h.Get("b3"))
			}, true},
		{"b3 multi", map[string]string{"X-B3-TraceId": tid, "X-B3-SpanId": "53995c3f42cd8ad8", "X-B3-Sampled": "1"}, "53995c3f42cd8ad8",
			func(t *testing.T, h http.Header, ours string) {
				assert.Equal(t, ours, h.Get("X-B3-SpanId"))
				assert.Equal(t, "53995c3f42cd8ad8", h.Get("X-B3-ParentSpanId"))
				assert.Equal(t, "1", h.Get("X-B3-Sampled"))
			}, true},
		{"x-ray", map[string]string{"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1"}, "53995c3f42cd8ad8",
			func(t *testing.T, h http.Header, ours string) {
				assert.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent="+ours+";Sampled=1;Lineage=a:1", h.Get("X-Amzn-Trace-Id"))
			}, true},
		{"traceparent wins, another trace's header left alone",
			map[string]string{"traceparent": "00-" + tid + "-00f067aa0ba902b7-01", "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}, "00f067aa0ba902b7",
			func(t *testing.T, h http.Header, _ string) {
				assert.Equal(t, "105445aa7843bc8bf206b12000100000/1;o=1", h.Get("X-Cloud-Trace-Context"))
			}, true},
		{"b3 deny", map[string]string{"b3": tid + "-53995c3f42cd8ad8-0"}, "",
			func(t *testing.T, h http.Header, _ string) {
				assert.Equal(t, tid+"-53995c3f42cd8ad8-0", h.Get("b3"), "unchanged")
				assert.Empty(t, h.Get("traceparent"))
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := otlpfake.New()
			defer rcv.Close()
			tr, err := newTracer(TraceConfig{Generate: true, OTLPEndpoint: rcv.URL(), FlushInterval: time.Hour}, clock.Real{}, slog.Default())
			require.NoError(t, err)
			defer func() { require.NoError(t, tr.Close(context.Background())) }()
			in, out, end := proxied(tt.hdr)
			tr.TraceRequest(in, out)
			end()
			ours := ""
			if tp, ok := parseTraceparent(out.Header.Get("traceparent")); ok {
				ours = hexs(tp.spanID[:])
				assert.Equal(t, tid, hexs(tp.traceID[:]))
			}
			tt.check(t, out.Header, ours)
			if !tt.wantTraced {
				return
			}
			waitQueued(t, tr, 1)
			require.NoError(t, tr.Flush(context.Background()))
			spans := rcv.Spans()
			require.Len(t, spans, 1)
			assert.Equal(t, tt.parent, spans[0].ParentSpanID)
			assert.Equal(t, tid, spans[0].TraceID)
		})
	}
}
