package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
)

// span is one proxied request, exported as an OTLP server span.
type span struct {
	ctx                                spanContext
	start, end                         time.Time
	method, path, host, service, reqID string
}

// exporter batches spans and POSTs them as OTLP/HTTP JSON
// (ExportTraceServiceRequest). One goroutine sends; enqueue never blocks.
type exporter struct {
	url      string
	headers  map[string]string
	service  string
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
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	e := &exporter{url: u.String(), headers: cfg.OTLPHeaders, service: cfg.ServiceName, batch: cfg.BatchSize,
		queueCap: cfg.QueueSize, client: cfg.Client, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if e.service == "" {
		e.service = "slinkerd"
	}
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
		Code int `json:"code,omitempty"`
	}
	otlpKV struct {
		Key   string    `json:"key"`
		Value otlpValue `json:"value"`
	}
	otlpValue struct {
		StringValue string `json:"stringValue"`
	}
)

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
			Attributes: []otlpKV{
				kv("http.request.method", s.method),
				kv("url.path", s.path),
				kv("server.address", s.host),
				kv("l5d.dst.service", s.service),
				kv("l5d.reqid", s.reqID),
			},
		}
		if s.ctx.parentID != ([8]byte{}) {
			o.ParentSpanID = hex.EncodeToString(s.ctx.parentID[:])
		}
		out = append(out, o)
	}
	return otlpRequest{ResourceSpans: []otlpResourceSpans{{
		Resource:   otlpResource{Attributes: []otlpKV{kv("service.name", e.service)}},
		ScopeSpans: []otlpScopeSpans{{Scope: otlpScope{Name: "slinkerd"}, Spans: out}},
	}}}
}

func kv(k, v string) otlpKV { return otlpKV{Key: k, Value: otlpValue{StringValue: v}} }
