package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// span is one proxied request, exported as an OTLP server span.
type span struct {
	ctx                                spanContext
	start, end                         time.Time
	method, path, host, service, reqID string
	grpc                               bool

	// How it ended, from the proxy's RequestEvent (status 0: unknown).
	status, grpcStatus int // grpcStatus -1: none
	failed             bool
	errMsg, grpcMsg    string
	endpoint           string

	// In flight: in is the caller's request (a key of Tracer.byReq), stop
	// cancels the context.AfterFunc that ends the span if no event does.
	// All three are guarded by Tracer.pendMu.
	in    *http.Request
	stop  func() bool
	ended bool
}

// exporter batches spans and POSTs them as OTLP/HTTP JSON
// (ExportTraceServiceRequest). One goroutine sends; enqueue never blocks.
type exporter struct {
	url      string
	headers  map[string]string
	resource []otlpKV
	batch    int
	queueCap int
	client   *http.Client
	log      *slog.Logger

	mu    sync.Mutex
	queue []*span
	sendM sync.Mutex // one export at a time

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	exported atomic.Uint64
	dropped  atomic.Uint64
}

func newExporter(cfg TraceConfig, log *slog.Logger) (*exporter, error) {
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q is not an http(s) URL", cfg.OTLPEndpoint)
	}
	if !cfg.OTLPURLAsIs && !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	e := &exporter{url: u.String(), headers: cfg.OTLPHeaders, resource: resourceAttrs(cfg), batch: cfg.BatchSize,
		queueCap: cfg.QueueSize, client: cfg.Client, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if e.batch <= 0 {
		e.batch = 512
	}
	if e.queueCap <= 0 {
		e.queueCap = 4096
	}
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second}
	}
	interval := cfg.FlushInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	go e.loop(interval)
	return e, nil
}

func (e *exporter) enqueue(s *span) {
	e.mu.Lock()
	if len(e.queue) >= e.queueCap {
		e.mu.Unlock()
		e.dropped.Add(1)
		return
	}
	e.queue = append(e.queue, s)
	full := len(e.queue) >= e.batch
	e.mu.Unlock()
	if full {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

func (e *exporter) loop(interval time.Duration) {
	defer close(e.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		case <-e.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.flush(ctx); err != nil {
			e.log.Warn("OTLP span export failed", "url", e.url, "err", err)
		}
		cancel()
	}
}

// flush sends everything queued, a batch at a time.
func (e *exporter) flush(ctx context.Context) error {
	e.sendM.Lock()
	defer e.sendM.Unlock()
	for {
		e.mu.Lock()
		n := min(len(e.queue), e.batch)
		batch := e.queue[:n:n]
		e.queue = e.queue[n:]
		if len(e.queue) == 0 {
			e.queue = nil
		}
		e.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := e.send(ctx, batch); err != nil {
			e.dropped.Add(uint64(n))
			return err
		}
		e.exported.Add(uint64(n))
	}
}

func (e *exporter) send(ctx context.Context, spans []*span) error {
	body, err := json.Marshal(e.encode(spans))
	if err != nil {
		return fmt.Errorf("otlp: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: post %d spans: %w", len(spans), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: post %d spans: %s", len(spans), resp.Status)
	}
	return nil
}

func (e *exporter) close(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stop) })
	select {
	case <-e.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.flush(ctx)
}

// The OTLP/JSON shapes (opentelemetry-proto, JSON mapping: ids in hex,
// 64-bit integers as strings, enums as numbers).
type (
	otlpRequest struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKV `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name string `json:"name"`
	}
	otlpSpan struct {
		TraceID           string     `json:"traceId"`
		SpanID            string     `json:"spanId"`
		ParentSpanID      string     `json:"parentSpanId,omitempty"`
		Flags             uint32     `json:"flags"`
		Name              string     `json:"name"`
		Kind              int        `json:"kind"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		EndTimeUnixNano   string     `json:"endTimeUnixNano"`
		Attributes        []otlpKV   `json:"attributes"`
		Status            otlpStatus `json:"status"`
	}
	otlpStatus struct {
		Message string `json:"message,omitempty"`
		Code    int    `json:"code,omitempty"`
	}
	otlpKV struct {
		Key   string    `json:"key"`
		Value otlpValue `json:"value"`
	}
	// otlpValue is an AnyValue holding exactly one of its fields: kv and
	// kvInt never build one with an empty string or no value.
	otlpValue struct {
		StringValue string `json:"stringValue,omitempty"`
		IntValue    string `json:"intValue,omitempty"`
	}
)

// OTLP status codes.
const (
	statusUnset = 0
	statusError = 2
)

// resourceAttrs is the exported resource: service.name (ServiceName, else
// the resource attribute, else "slinkerd"), then the other resource
// attributes sorted by key.
func resourceAttrs(cfg TraceConfig) []otlpKV {
	name := cfg.ServiceName
	if name == "" {
		name = cfg.ResourceAttributes["service.name"]
	}
	if name == "" {
		name = "slinkerd"
	}
	out := []otlpKV{kv("service.name", name)}
	keys := make([]string, 0, len(cfg.ResourceAttributes))
	for k := range cfg.ResourceAttributes {
		if k != "service.name" && k != "" && cfg.ResourceAttributes[k] != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, kv(k, cfg.ResourceAttributes[k]))
	}
	return out
}

// spanKindServer is SPAN_KIND_SERVER.
const spanKindServer = 2

func (e *exporter) encode(spans []*span) otlpRequest {
	out := make([]otlpSpan, 0, len(spans))
	for _, s := range spans {
		o := otlpSpan{
			TraceID:           hex.EncodeToString(s.ctx.traceID[:]),
			SpanID:            hex.EncodeToString(s.ctx.spanID[:]),
			Flags:             uint32(s.ctx.flags),
			Name:              s.method + " " + s.service,
			Kind:              spanKindServer,
			StartTimeUnixNano: strconv.FormatInt(s.start.UnixNano(), 10),
			EndTimeUnixNano:   strconv.FormatInt(s.end.UnixNano(), 10),
			Attributes:        s.attributes(),
		}
		if s.grpc {
			if svc, method, ok := grpcMethod(s.path); ok {
				o.Name = svc + "/" + method
			}
		}
		if s.ctx.parentID != ([8]byte{}) {
			o.ParentSpanID = hex.EncodeToString(s.ctx.parentID[:])
		}
		o.Status = s.otlpStatus()
		out = append(out, o)
	}
	return otlpRequest{ResourceSpans: []otlpResourceSpans{{
		Resource:   otlpResource{Attributes: e.resource},
		ScopeSpans: []otlpScopeSpans{{Scope: otlpScope{Name: "slinkerd"}, Spans: out}},
	}}}
}

// attributes are the span's OpenTelemetry semantic-convention attributes
// (HTTP server, and RPC for gRPC), then slinkerd's own.
func (s *span) attributes() []otlpKV {
	a := make([]otlpKV, 0, 16)
	add := func(k, v string) {
		if v != "" {
			a = append(a, kv(k, v))
		}
	}
	add("http.request.method", s.method)
	add("url.path", s.path)
	host, port := splitHostPort(s.host)
	add("server.address", host)
	if port > 0 {
		a = append(a, kvInt("server.port", int64(port)))
	}
	if s.status > 0 {
		a = append(a, kvInt("http.response.status_code", int64(s.status)))
	}
	if s.failed {
		add("error.type", strconv.Itoa(s.status))
	}
	if s.grpc {
		add("rpc.system", "grpc")
		if svc, method, ok := grpcMethod(s.path); ok {
			add("rpc.service", svc)
			add("rpc.method", method)
		}
		if s.grpcStatus >= 0 && s.status > 0 {
			a = append(a, kvInt("rpc.grpc.status_code", int64(s.grpcStatus)))
		}
	}
	add("l5d.dst.service", s.service)
	add("l5d.endpoint", s.endpoint)
	add("l5d.reqid", s.reqID)
	return a
}

// otlpStatus is ERROR, with the cause, when the call failed: the proxy's
// own error (its l5d-err), or the classifier's verdict on the response.
func (s *span) otlpStatus() otlpStatus {
	if !s.failed {
		return otlpStatus{Code: statusUnset}
	}
	msg := s.errMsg
	if msg == "" {
		switch {
		case s.grpc && s.grpcStatus > 0:
			msg = "classified as a failure: grpc-status " + strconv.Itoa(s.grpcStatus)
			if s.grpcMsg != "" {
				msg += ": " + s.grpcMsg
			}
		default:
			msg = "classified as a failure: HTTP " + strconv.Itoa(s.status)
		}
	}
	return otlpStatus{Code: statusError, Message: msg}
}

// grpcMethod splits a gRPC path, /package.Service/Method.
func grpcMethod(path string) (svc, method string, ok bool) {
	svc, method, ok = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return svc, method, ok && svc != "" && method != "" && !strings.Contains(method, "/")
}

// splitHostPort splits Host into host and port (0 when absent).
func splitHostPort(h string) (string, int) {
	host, p, err := net.SplitHostPort(h)
	if err != nil {
		return h, 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return host, 0
	}
	return host, n
}

func kv(k, v string) otlpKV { return otlpKV{Key: k, Value: otlpValue{StringValue: v}} }

func kvInt(k string, v int64) otlpKV {
	return otlpKV{Key: k, Value: otlpValue{IntValue: strconv.FormatInt(v, 10)}}
}
