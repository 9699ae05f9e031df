package telemetry

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// Trace headers slinkerd knows. All of them pass through the proxy as
// any end-to-end header does; when the Tracer starts a span it writes
// traceparent and rewrites the others the request carries for the same
// trace to name that span as the parent (and it adds X-Amzn-Trace-Id
// when it has a Lambda trace id and the request carries none).
const (
	HeaderTraceparent = "Traceparent"
	// HeaderCloudTrace is Google Cloud Trace's TRACE_ID/SPAN_ID;o=FLAG,
	// the span id in decimal.
	HeaderCloudTrace  = "X-Cloud-Trace-Context"
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
	// Generate starts a trace (a new W3C traceparent) for requests that
	// arrive without a valid trace context in any format slinkerd reads;
	// Sampler decides whether it is sampled. Off by default.
	Generate bool
	// OTLPEndpoint turns span export on: spans are POSTed, batched, as
	// OTLP/HTTP JSON. A URL whose path ends in /v1/traces is used as is;
	// otherwise /v1/traces is appended (OTEL_EXPORTER_OTLP_ENDPOINT
	// style) unless OTLPURLAsIs is set. Empty (the default) exports
	// nothing and costs one branch per request.
	OTLPEndpoint string
	// OTLPURLAsIs uses OTLPEndpoint exactly as given, as
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is. Defaults to false.
	OTLPURLAsIs bool
	// OTLPHeaders are extra HTTP headers for export (e.g. authorization).
	OTLPHeaders map[string]string
	// ServiceName is the exported resource's service.name. Defaults to
	// ResourceAttributes["service.name"], then "slinkerd".
	ServiceName string
	// ResourceAttributes are more attributes of the exported resource
	// (OTEL_RESOURCE_ATTRIBUTES), e.g. deployment.environment.name.
	// Defaults to none.
	ResourceAttributes map[string]string
	// Sampler decides which traces get spans. Its zero value is
	// parentbased_always_on: follow the caller's sampled flag, sample
	// every new trace.
	Sampler Sampler
	// Rand supplies the random bits of new trace and span ids; it must be
	// safe for concurrent use. Defaults to crypto/rand.
	Rand io.Reader
	// CloudTraceProject is the Google Cloud project id that access-log
	// lines name their trace in: with it set each line carries
	// logging.googleapis.com/trace = projects/ID/traces/TRACE_ID, which
	// Cloud Logging joins to the trace. Empty (the default) leaves the
	// field out. SetCloudTraceProject changes it later.
	CloudTraceProject string
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
// for every request it forwards, and the Telemetry ends the request's
// span with the proxy's RequestEvent (status, error, gRPC status).
type Tracer struct {
	generate bool
	exp      *exporter // nil when export is off
	clk      clock.Clock
	sampler  Sampler
	rand     io.Reader
	amzn     atomic.Pointer[string]
	project  atomic.Pointer[string]

	// Spans in flight, by our span id (the proxy's event carries the
	// outgoing traceparent) and by the caller's request (an error the
	// proxy answered carries that). Only used when export is on.
	pendMu sync.Mutex
	bySpan map[[8]byte]*span
	byReq  map[*http.Request]*span
}

func newTracer(cfg TraceConfig, clk clock.Clock, log *slog.Logger) (*Tracer, error) {
	t := &Tracer{generate: cfg.Generate, clk: clk, sampler: cfg.Sampler, rand: cfg.Rand}
	if t.rand == nil {
		t.rand = crand.Reader
	}
	t.SetCloudTraceProject(cfg.CloudTraceProject)
	if cfg.OTLPEndpoint != "" {
		exp, err := newExporter(cfg, log)
		if err != nil {
			return nil, err
		}
		t.exp = exp
		t.bySpan = map[[8]byte]*span{}
		t.byReq = map[*http.Request]*span{}
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

// SetCloudTraceProject sets the Google Cloud project id that access-log
// lines name their trace in (see TraceConfig.CloudTraceProject); "" turns
// the field off. An adapter that learns the project later (from the
// metadata server, off the request path) calls it then.
func (t *Tracer) SetCloudTraceProject(id string) {
	if id == "" {
		t.project.Store(nil)
		return
	}
	t.project.Store(&id)
}

// TraceRequest adjusts the outgoing request's trace headers: out is the
// request about to be forwarded (its headers copied from in), in the
// request as received, whose context ends when the proxy has answered.
//
// With neither generation, export nor a Lambda trace id it changes
// nothing. Otherwise the parent is read from traceparent, then
// X-Cloud-Trace-Context, b3, X-B3-*, and X-Amzn-Trace-Id; a request
// without one gets a new trace when Generate is set. When the Sampler
// samples it and export is on, the request gets its own span, which is
// named as the parent in traceparent and in every other trace header the
// request carries for the same trace; the span ends with the proxy's
// RequestEvent, or when in's context ends.
func (t *Tracer) TraceRequest(in, out *http.Request) {
	if !t.generate && t.exp == nil {
		t.fillAmzn(out.Header)
		return
	}
	h := out.Header
	parent, src, ok := readTraceContext(h) // before the Lambda id is added
	t.fillAmzn(h)
	var sc spanContext
	switch {
	case ok:
		if t.exp == nil || !t.sampler.sample(&parent, parent.traceID) {
			return // pass through as it came
		}
		if src != srcW3C {
			h.Del(HeaderTracestate) // it belonged to no valid traceparent
		}
		sc = spanContext{traceID: parent.traceID, parentID: parent.spanID, flags: parent.flags | flagSampled}
	case t.generate:
		// W3C: an invalid traceparent restarts the trace; tracestate
		// belongs to the old one.
		h.Del(HeaderTracestate)
		sc = spanContext{traceID: t.newTraceID()}
		if t.sampler.sample(nil, sc.traceID) {
			sc.flags = flagSampled
		}
	default:
		return
	}
	sc.spanID = t.newSpanID()
	writeTraceContext(h, sc)
	if t.exp == nil || !sc.sampled() {
		return
	}
	sp := &span{ctx: sc, start: t.clk.Now(), method: in.Method, path: in.URL.Path, host: in.Host,
		service: h.Get("L5d-Dst-Service"), reqID: h.Get("L5d-Reqid"), in: in,
		grpc: strings.HasPrefix(in.Header.Get("Content-Type"), "application/grpc")}
	t.pendMu.Lock()
	t.bySpan[sc.spanID] = sp
	t.byReq[in] = sp
	t.pendMu.Unlock()
	stop := context.AfterFunc(in.Context(), func() {
		if _, ok := t.take(sp); ok {
			t.finish(sp, nil)
		}
	})
	t.pendMu.Lock()
	sp.stop = stop
	t.pendMu.Unlock()
}

func (t *Tracer) fillAmzn(h http.Header) {
	if id := t.amzn.Load(); id != nil && h.Get(HeaderAmznTraceID) == "" {
		h.Set(HeaderAmznTraceID, *id)
	}
}

// take removes sp from the spans in flight and returns the func that
// cancels its context.AfterFunc (nil if not set yet); it reports false
// when sp had already ended. A request value the server reuses may key a
// newer span by now: only sp's own entries are removed.
func (t *Tracer) take(sp *span) (func() bool, bool) {
	t.pendMu.Lock()
	defer t.pendMu.Unlock()
	if sp.ended {
		return nil, false
	}
	sp.ended = true
	if t.bySpan[sp.ctx.spanID] == sp {
		delete(t.bySpan, sp.ctx.spanID)
	}
	if t.byReq[sp.in] == sp {
		delete(t.byReq, sp.in)
	}
	sp.in = nil
	return sp.stop, true
}

// finish records how the request ended (ev nil: unknown, its context
// ended first) and queues the span for export.
func (t *Tracer) finish(sp *span, ev *proxy.RequestEvent) {
	sp.end = t.clk.Now()
	if ev != nil {
		sp.status, sp.failed, sp.endpoint, sp.grpcStatus = ev.Status, ev.Failed, ev.Endpoint, -1
		if ev.Err != nil {
			sp.errMsg = ev.Err.Error()
		}
		if ev.Response != nil && sp.grpc {
			sp.grpcStatus, sp.grpcMsg = grpcStatus(ev.Response)
		}
	}
	t.exp.enqueue(sp)
}

// requestEnded ends the span of the request ev reports, if it has one,
// and returns the span's context.
func (t *Tracer) requestEnded(ev *proxy.RequestEvent) (spanContext, bool) {
	if t.exp == nil || ev.Request == nil {
		return spanContext{}, false
	}
	var sp *span
	t.pendMu.Lock()
	if ev.ProxyError {
		sp = t.byReq[ev.Request]
	}
	if sp == nil {
		if tp, ok := parseTraceparent(ev.Request.Header.Get(HeaderTraceparent)); ok {
			if s := t.bySpan[tp.spanID]; s != nil && s.ctx.traceID == tp.traceID {
				sp = s
			}
		}
	}
	t.pendMu.Unlock()
	if sp == nil {
		if ev.ProxyError {
			return t.refusedSpan(ev)
		}
		return spanContext{}, false
	}
	stop, ok := t.take(sp)
	if !ok {
		return spanContext{}, false
	}
	if stop != nil {
		stop()
	}
	t.finish(sp, ev)
	return sp.ctx, true
}

// refusedSpan records a span for a call the proxy answered itself
// before forwarding anything (no route, a malformed request, a deadline
// passed on arrival), so that the failure and its cause show in the
// trace too: a child of the caller's trace context when it sent one and
// the sampler keeps it, or a new trace when generation is on.
func (t *Tracer) refusedSpan(ev *proxy.RequestEvent) (spanContext, bool) {
	in := ev.Request
	parent, _, ok := readTraceContext(in.Header)
	var sc spanContext
	switch {
	case ok:
		if !t.sampler.sample(&parent, parent.traceID) {
			return spanContext{}, false
		}
		sc = spanContext{traceID: parent.traceID, parentID: parent.spanID, flags: parent.flags | flagSampled}
	case t.generate:
		sc = spanContext{traceID: t.newTraceID()}
		if !t.sampler.sample(nil, sc.traceID) {
			return spanContext{}, false
		}
		sc.flags = flagSampled
	default:
		return spanContext{}, false
	}
	sc.spanID = t.newSpanID()
	path := ""
	if in.URL != nil {
		path = in.URL.Path
	}
	end := t.clk.Now()
	sp := &span{ctx: sc, start: end.Add(-ev.Latency), method: in.Method, path: path, host: in.Host,
		service: ev.Service, ended: true,
		grpc: strings.HasPrefix(in.Header.Get("Content-Type"), "application/grpc")}
	t.finish(sp, ev)
	return sc, true
}

// grpcStatus reads grpc-status (and grpc-message) from the trailers, or
// from the head of a trailers-only response; -1 when absent.
func grpcStatus(resp *http.Response) (int, string) {
	for _, h := range [2]http.Header{resp.Trailer, resp.Header} {
		if v := h.Get("Grpc-Status"); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return n, h.Get("Grpc-Message")
			}
		}
	}
	return -1, ""
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

// newTraceID returns a non-zero id from t.rand, falling back to
// crypto/rand if the source keeps returning zeros.
func (t *Tracer) newTraceID() (id [16]byte) {
	for i := 0; id == ([16]byte{}); i++ {
		r := t.rand
		if i >= 3 {
			r = crand.Reader
		}
		_, _ = io.ReadFull(r, id[:])
	}
	return id
}

func (t *Tracer) newSpanID() (id [8]byte) {
	for i := 0; id == ([8]byte{}); i++ {
		r := t.rand
		if i >= 3 {
			r = crand.Reader
		}
		_, _ = io.ReadFull(r, id[:])
	}
	return id
}

// Sampler decides which traces get spans, as the OpenTelemetry SDK's
// OTEL_TRACES_SAMPLER does. Its zero value is parentbased_always_on.
// A ratio sampler decides by the trace id (its low 63 bits against
// ratio × 2^63, as the OpenTelemetry Go SDK's TraceIDRatioBased), so
// every hop that uses the same rule decides alike.
type Sampler struct {
	root        samplerRoot
	bound       uint64 // traceidratio: sample when id>>1 < bound
	ratio       float64
	ignoreAbove bool // not parent-based: decide even under a parent
}

type samplerRoot uint8

const (
	rootAlwaysOn samplerRoot = iota
	rootAlwaysOff
	rootRatio
)

// ParseSampler builds a Sampler from an OTEL_TRACES_SAMPLER name and its
// OTEL_TRACES_SAMPLER_ARG: always_on, always_off, traceidratio,
// parentbased_always_on, parentbased_always_off or
// parentbased_traceidratio; "" means parentbased_always_on. The ratio
// sampler's arg is a probability 0 to 1; "" means 1.
func ParseSampler(name, arg string) (Sampler, error) {
	var s Sampler
	name = strings.ToLower(strings.TrimSpace(name))
	base, parentBased := strings.CutPrefix(name, "parentbased_")
	s.ignoreAbove = !parentBased
	switch base {
	case "":
		if parentBased {
			return Sampler{}, fmt.Errorf("telemetry: sampler %q is not known", name)
		}
		s.ignoreAbove = false
	case "always_on":
	case "always_off":
		s.root = rootAlwaysOff
	case "traceidratio":
		s.root, s.ratio = rootRatio, 1
		if arg = strings.TrimSpace(arg); arg != "" {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return Sampler{}, fmt.Errorf("telemetry: sampler %s: ratio %q is not a number from 0 to 1", name, arg)
			}
			s.ratio = r
		}
		s.bound = uint64(s.ratio * (1 << 63))
	default:
		return Sampler{}, fmt.Errorf("telemetry: sampler %q is not known: want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
	}
	return s, nil
}

// String returns the sampler's OTEL_TRACES_SAMPLER name and ratio.
func (s Sampler) String() string {
	name := [...]string{"always_on", "always_off", "traceidratio"}[s.root]
	if !s.ignoreAbove {
		name = "parentbased_" + name
	}
	if s.root == rootRatio {
		name += ":" + strconv.FormatFloat(s.ratio, 'g', -1, 64)
	}
	return name
}

// sample decides for a trace whose parent is parent (nil for a new
// trace).
func (s Sampler) sample(parent *spanContext, traceID [16]byte) bool {
	if parent != nil && !s.ignoreAbove {
		return parent.sampled()
	}
	switch s.root {
	case rootAlwaysOff:
		return false
	case rootRatio:
		if s.ratio >= 1 {
			return true
		}
		return binary.BigEndian.Uint64(traceID[8:16])>>1 < s.bound
	}
	return true
}

// traceSource is the header a trace context was read from.
type traceSource uint8

const (
	srcW3C traceSource = iota
	srcCloudTrace
	srcB3
	srcB3Multi
	srcXRay
)

// readTraceContext reads the caller's trace context: the first valid one
// of traceparent, X-Cloud-Trace-Context, b3, X-B3-* and X-Amzn-Trace-Id.
// The context's spanID is the caller's span.
func readTraceContext(h http.Header) (spanContext, traceSource, bool) {
	if c, ok := parseTraceparent(h.Get(HeaderTraceparent)); ok {
		return c, srcW3C, true
	}
	if v := h.Get(HeaderCloudTrace); v != "" {
		if c, ok := parseCloudTrace(v); ok {
			return c, srcCloudTrace, true
		}
	}
	if v := h.Get(HeaderB3); v != "" {
		if c, ok := parseB3(v); ok {
			return c, srcB3, true
		}
	}
	if v := h.Get(HeaderB3TraceID); v != "" {
		if c, ok := parseB3Multi(h); ok {
			return c, srcB3Multi, true
		}
	}
	if v := h.Get(HeaderAmznTraceID); v != "" {
		if c, ok := parseXRay(v); ok {
			return c, srcXRay, true
		}
	}
	return spanContext{}, 0, false
}

// writeTraceContext sets traceparent to sc and rewrites each other trace
// header the request carries for the same trace so that it names sc's
// span as the parent too. A header of another trace is left alone.
func writeTraceContext(h http.Header, sc spanContext) {
	h.Set(HeaderTraceparent, sc.traceparent())
	flag := "0"
	if sc.sampled() {
		flag = "1"
	}
	if c, ok := parseCloudTrace(h.Get(HeaderCloudTrace)); ok && c.traceID == sc.traceID {
		h.Set(HeaderCloudTrace, hex.EncodeToString(sc.traceID[:])+"/"+
			strconv.FormatUint(binary.BigEndian.Uint64(sc.spanID[:]), 10)+";o="+flag)
	}
	if c, ok := parseB3(h.Get(HeaderB3)); ok && c.traceID == sc.traceID {
		v := hex.EncodeToString(sc.traceID[:]) + "-" + hex.EncodeToString(sc.spanID[:]) + "-" + flag
		if sc.parentID != ([8]byte{}) {
			v += "-" + hex.EncodeToString(sc.parentID[:])
		}
		h.Set(HeaderB3, v)
	}
	if c, ok := parseB3Multi(h); ok && c.traceID == sc.traceID {
		h.Set(HeaderB3SpanID, hex.EncodeToString(sc.spanID[:]))
		h.Set(HeaderB3Parent, hex.EncodeToString(sc.parentID[:]))
		h.Set(HeaderB3Sampled, flag)
	}
	if v := h.Get(HeaderAmznTraceID); v != "" {
		if c, ok := parseXRay(v); ok && c.traceID == sc.traceID {
			h.Set(HeaderAmznTraceID, setXRayParent(v, hex.EncodeToString(sc.spanID[:])))
		}
	}
}

// parseCloudTrace parses X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=FLAG,
// TRACE_ID 32 hex digits, SPAN_ID a non-zero decimal uint64, FLAG 1 for
// sampled (absent: not sampled).
func parseCloudTrace(s string) (spanContext, bool) {
	var c spanContext
	tid, rest, ok := strings.Cut(s, "/")
	if !ok || len(tid) != 32 {
		return c, false
	}
	if _, err := hex.Decode(c.traceID[:], []byte(tid)); err != nil || c.traceID == ([16]byte{}) {
		return c, false
	}
	sid, opts, _ := strings.Cut(rest, ";")
	n, err := strconv.ParseUint(sid, 10, 64)
	if err != nil || n == 0 {
		return c, false
	}
	binary.BigEndian.PutUint64(c.spanID[:], n)
	if strings.TrimSpace(opts) == "o=1" {
		c.flags = flagSampled
	}
	return c, true
}

// parseB3 parses the single b3 header: TRACEID-SPANID[-SAMPLED[-PARENT]],
// the trace id 16 or 32 hex digits. "d" (debug) counts as sampled; a
// missing sampling state (deferred) as not sampled.
func parseB3(s string) (spanContext, bool) {
	var c spanContext
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(parts) > 4 {
		return c, false
	}
	if !b3TraceID(&c, parts[0]) || !hexID(c.spanID[:], parts[1]) {
		return c, false
	}
	if len(parts) > 2 && (parts[2] == "1" || parts[2] == "d") {
		c.flags = flagSampled
	}
	return c, true
}

// parseB3Multi parses X-B3-TraceId, X-B3-SpanId, X-B3-Sampled and
// X-B3-Flags.
func parseB3Multi(h http.Header) (spanContext, bool) {
	var c spanContext
	if !b3TraceID(&c, h.Get(HeaderB3TraceID)) || !hexID(c.spanID[:], h.Get(HeaderB3SpanID)) {
		return c, false
	}
	if s := h.Get(HeaderB3Sampled); s == "1" || s == "true" || h.Get(HeaderB3Flags) == "1" {
		c.flags = flagSampled
	}
	return c, true
}

func b3TraceID(c *spanContext, s string) bool {
	switch len(s) {
	case 16:
		return hexID(c.traceID[8:], s)
	case 32:
		return hexID(c.traceID[:], s)
	}
	return false
}

// hexID decodes a non-zero id of exactly len(dst) bytes.
func hexID(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return false
	}
	for _, b := range dst {
		if b != 0 {
			return true
		}
	}
	return false
}

// parseXRay parses X-Amzn-Trace-Id:
// Root=1-EPOCH8-RANDOM24;Parent=SPAN16;Sampled=1. The trace id is the
// root's 32 hex digits, as AWS maps X-Ray ids to W3C ones; without a
// Parent there is no parent span to join.
func parseXRay(s string) (spanContext, bool) {
	var c spanContext
	var root, parent bool
	for _, f := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Root":
			if len(v) != 35 || v[:2] != "1-" || v[10] != '-' {
				return c, false
			}
			root = hexID(c.traceID[:], v[2:10]+v[11:])
		case "Parent":
			parent = hexID(c.spanID[:], v)
		case "Sampled":
			if v == "1" {
				c.flags = flagSampled
			}
		}
	}
	return c, root && parent
}

// setXRayParent replaces the Parent field of an X-Amzn-Trace-Id value.
func setXRayParent(v, parent string) string {
	fields := strings.Split(v, ";")
	for i, f := range fields {
		if k, _, _ := strings.Cut(strings.TrimSpace(f), "="); k == "Parent" {
			fields[i] = "Parent=" + parent
		}
	}
	return strings.Join(fields, ";")
}

// traceContextOf is the trace a request belongs to, for the access log:
// our span's when the request had one, else what its headers carry.
func traceContextOf(h http.Header) (spanContext, bool) {
	if h == nil {
		return spanContext{}, false
	}
	c, _, ok := readTraceContext(h)
	return c, ok
}
