package telemetry

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
)

// Trace headers slinkerd knows. All of them pass through the proxy
// unchanged, as any end-to-end header does; the Tracer only writes
// traceparent (and X-Amzn-Trace-Id when it has a Lambda trace id and the
// request carries none).
const (
	HeaderTraceparent = "Traceparent"
	HeaderTracestate  = "Tracestate"
	HeaderAmznTraceID = "X-Amzn-Trace-Id"
	HeaderB3          = "B3"
	HeaderB3TraceID   = "X-B3-Traceid"
	HeaderB3SpanID    = "X-B3-Spanid"
	HeaderB3Parent    = "X-B3-Parentspanid"
	HeaderB3Sampled   = "X-B3-Sampled"
	HeaderB3Flags     = "X-B3-Flags"
)

// TraceConfig configures trace-context generation and span export. Its
// zero value only propagates: every trace header passes through as it
// came.
type TraceConfig struct {
	// Generate starts a trace (a new W3C traceparent, sampled) for
	// requests that arrive without a valid traceparent. Off by default.
	Generate bool
	// OTLPEndpoint turns span export on: spans are POSTed, batched, as
	// OTLP/HTTP JSON. A URL whose path ends in /v1/traces is used as is;
	// otherwise /v1/traces is appended (OTEL_EXPORTER_OTLP_ENDPOINT
	// style). Empty (the default) exports nothing and costs one branch
	// per request.
	OTLPEndpoint string
	// OTLPHeaders are extra HTTP headers for export (e.g. authorization).
	OTLPHeaders map[string]string
	// ServiceName is the exported resource's service.name. Defaults to
	// "slinkerd".
	ServiceName string
	// BatchSize is how many spans one export carries at most; a full
	// batch is sent at once. Defaults to 512.
	BatchSize int
	// QueueSize bounds the spans waiting for export; spans past it are
	// dropped and counted. Defaults to 4096.
	QueueSize int
	// FlushInterval is the longest a span waits for export while the
	// process runs (a frozen Lambda waits longer; call Flush on
	// SHUTDOWN). Defaults to 5s.
	FlushInterval time.Duration
	// Client sends the exports. Defaults to a client with a 10s timeout.
	Client *http.Client
}

// ParseOTLPHeaders parses SLINKERD_OTLP_HEADERS: comma-separated
// key=value pairs with URL-encoded values, the format of
// OTEL_EXPORTER_OTLP_HEADERS.
func ParseOTLPHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("telemetry: OTLP header %q is not key=value", part)
		}
		dv, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP header %s: %w", k, err)
		}
		out[k] = dv
	}
	return out, nil
}

// Tracer propagates and starts trace contexts and, when export is on,
// records one span per proxied request. The proxy calls TraceRequest
// for every request it forwards.
type Tracer struct {
	generate bool
	exp      *exporter // nil when export is off
	clk      clock.Clock
	amzn     atomic.Pointer[string]
}

func newTracer(cfg TraceConfig, clk clock.Clock, log *slog.Logger) (*Tracer, error) {
	t := &Tracer{generate: cfg.Generate, clk: clk}
	if cfg.OTLPEndpoint != "" {
		exp, err := newExporter(cfg, log)
		if err != nil {
			return nil, err
		}
		t.exp = exp
	}
	return t, nil
}

// SetLambdaTraceID sets the X-Amzn-Trace-Id that requests without one
// get: the Lambda adapter calls it with each INVOKE event's trace id
// (tracing.value), and with "" after the invocation.
func (t *Tracer) SetLambdaTraceID(id string) {
	if id == "" {
		t.amzn.Store(nil)
		return
	}
	t.amzn.Store(&id)
}

// TraceRequest adjusts the outgoing request's trace headers: out is the
// request about to be forwarded (its headers copied from in), in the
// request as received, whose context ends when the proxy has answered.
//
// With neither generation, export nor a Lambda trace id it changes
// nothing. Otherwise: a request without a valid traceparent gets a new
// trace when Generate is set; with export on, a sampled request gets its
// own span, sent to the backend as the parent, and the span is exported
// when in's context ends.
func (t *Tracer) TraceRequest(in, out *http.Request) {
	if id := t.amzn.Load(); id != nil && out.Header.Get(HeaderAmznTraceID) == "" {
		out.Header.Set(HeaderAmznTraceID, *id)
	}
	if !t.generate && t.exp == nil {
		return
	}
	var sc spanContext
	parent, ok := parseTraceparent(out.Header.Get(HeaderTraceparent))
	switch {
	case ok:
		if !parent.sampled() || t.exp == nil {
			return // pass through as it came
		}
		sc = spanContext{traceID: parent.traceID, parentID: parent.spanID, flags: parent.flags}
	case t.generate:
		// W3C: an invalid traceparent restarts the trace; tracestate
		// belongs to the old one.
		out.Header.Del(HeaderTracestate)
		sc = spanContext{traceID: newTraceID(), flags: flagSampled}
	default:
		return
	}
	sc.spanID = newSpanID()
	out.Header.Set(HeaderTraceparent, sc.traceparent())
	if t.exp == nil {
		return
	}
	sp := &span{ctx: sc, start: t.clk.Now(), method: in.Method, path: in.URL.Path, host: in.Host,
		service: out.Header.Get("L5d-Dst-Service"), reqID: out.Header.Get("L5d-Reqid")}
	context.AfterFunc(in.Context(), func() {
		sp.end = t.clk.Now()
		t.exp.enqueue(sp)
	})
}

// Flush exports the spans waiting now, until ctx is done. It is a no-op
// when export is off.
func (t *Tracer) Flush(ctx context.Context) error {
	if t.exp == nil {
		return nil
	}
	return t.exp.flush(ctx)
}

// Close flushes and stops the exporter.
func (t *Tracer) Close(ctx context.Context) error {
	if t.exp == nil {
		return nil
	}
	return t.exp.close(ctx)
}

// Dropped returns how many spans were dropped: queue full or export
// failed.
func (t *Tracer) Dropped() uint64 {
	if t.exp == nil {
		return 0
	}
	return t.exp.dropped.Load()
}

// Exported returns how many spans were exported successfully.
func (t *Tracer) Exported() uint64 {
	if t.exp == nil {
		return 0
	}
	return t.exp.exported.Load()
}

const flagSampled = 0x01

// spanContext is a W3C trace context.
type spanContext struct {
	traceID  [16]byte
	spanID   [8]byte
	parentID [8]byte // zero for a root span
	flags    byte
}

func (c spanContext) sampled() bool { return c.flags&flagSampled != 0 }

// traceparent renders version 00.
func (c spanContext) traceparent() string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], c.traceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], c.spanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{c.flags})
	return string(b[:])
}

// parseTraceparent parses a W3C traceparent. Versions after 00 are
// accepted by their 00 prefix, as the spec asks; ff is invalid.
func parseTraceparent(s string) (spanContext, bool) {
	var c spanContext
	if len(s) < 55 || (len(s) > 55 && s[55] != '-') || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return c, false
	}
	if len(s) > 55 && s[:2] == "00" {
		return c, false // version 00 has exactly four fields
	}
	if !isLowerHex(s[:2]) || s[:2] == "ff" || !isLowerHex(s[3:35]) || !isLowerHex(s[36:52]) || !isLowerHex(s[53:55]) {
		return c, false
	}
	_, _ = hex.Decode(c.traceID[:], []byte(s[3:35]))
	_, _ = hex.Decode(c.parentID[:], []byte(s[36:52]))
	var f [1]byte
	_, _ = hex.Decode(f[:], []byte(s[53:55]))
	c.flags = f[0]
	if c.traceID == ([16]byte{}) || c.parentID == ([8]byte{}) {
		return c, false
	}
	// The parsed span's own id is what a child calls its parent.
	c.spanID, c.parentID = c.parentID, [8]byte{}
	return c, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func newTraceID() (id [16]byte) {
	for id == ([16]byte{}) {
		_, _ = crand.Read(id[:])
	}
	return id
}

func newSpanID() (id [8]byte) {
	for id == ([8]byte{}) {
		_, _ = crand.Read(id[:])
	}
	return id
}
