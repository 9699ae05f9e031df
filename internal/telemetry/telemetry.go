// Package telemetry measures slinkerd: per-request counters and latency
// histograms per server, service (logical name), client (bound name) and
// endpoint, read as metric families (which internal/telemetry/promexport
// serves in the Prometheus formats), served as JSON and written as
// CloudWatch embedded-metric-format lines; trace-context propagation with optional
// OTLP/HTTP span export; and the access log.
//
// A [Telemetry] is the proxy's [proxy.Observer]. Its hot path is two plain
// map reads (copy-on-write maps, no locks, no allocation) and six atomic
// adds per request; everything else (sums per client and server, windowed
// quantiles, the balancer's endpoint state) is computed when someone reads
// the metrics.
package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/buildinfo"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// Defaults of Config.
const (
	// DefaultMaxEndpoints is how many endpoints, in total across all
	// clients, get their own series unless Config.MaxEndpoints says
	// otherwise.
	DefaultMaxEndpoints = 100
	// DefaultMaxServices caps services and clients with their own series.
	DefaultMaxServices = 1000
	// DefaultWindow is the quantile window's rotation period.
	DefaultWindow = 10 * time.Second
)

// Overflow label values. They cannot collide with real names: services
// and clients are paths (they start with '/'), endpoints are host:port.
const (
	// OtherEndpoint aggregates endpoints past the endpoint cap.
	OtherEndpoint = "other"
	// OtherName aggregates services or clients past their cap.
	OtherName = "other"
)

// Source supplies the proxy's live state at read time; *proxy.Proxy is
// one.
type Source interface {
	// Clients returns every client's endpoint state.
	Clients() []proxy.ClientState
	// Services returns every service's retry budget.
	Services() []proxy.ServiceState
}

// Config configures a Telemetry. Its zero value works: metrics on, access
// log and trace export off.
type Config struct {
	// MaxEndpoints caps how many endpoints get their own series, in total
	// across all clients (first come, first served; an endpoint keeps its
	// series once it has one); a client's request series in /metrics come
	// with its endpoint series. The others are counted in their service's
	// series, and where the client has some endpoints of its own, in an
	// endpoint="other" series. Negative turns per-endpoint series off.
	// Defaults to 100 (SLINKERD_METRICS_MAX_ENDPOINTS).
	MaxEndpoints int
	// MaxServices caps how many services, and how many clients, get their
	// own series; the others are aggregated under "other". Defaults to
	// 1000.
	MaxServices int
	// Window is how often the quantile window rotates: quantiles cover the
	// last one to two Windows. Defaults to 10s.
	Window time.Duration
	// AccessLog logs one line per request to Logger at Info.
	AccessLog bool
	// Logger receives the access log and exporter warnings. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Version is reported on the dashboard, in /admin/metrics.json and
	// in slinkerd_build_info. Defaults to buildinfo.Version().
	Version string
	// Trace configures trace-context generation and span export.
	Trace TraceConfig
	// EMF configures the CloudWatch EMF lines of FlushEMF: namespace and
	// dimensions. Its zero value means namespace slinkerd, dimension
	// Service.
	EMF EMFConfig
	// Clock tells the time. Defaults to the real clock.
	Clock clock.Clock
}

// Telemetry collects the proxy's metrics and traces. It implements
// proxy.Observer; give it the proxy with SetSource. Safe for concurrent
// use.
type Telemetry struct {
	cfg   Config
	clk   clock.Clock
	start time.Time
	log   *slog.Logger

	services    scopeMap[scope]
	svcOther    scope // services past the cap
	unnamed     scope // requests that could not be identified
	clients     scopeMap[clientScopes]
	clientOther clientScopes // clients past the cap
	endpoints   atomic.Int64 // endpoint scopes, all clients: at most MaxEndpoints

	connsOpen  atomic.Int64
	connsTotal atomic.Uint64
	connsSeen  atomic.Bool // the ConnState hook is wired

	source atomic.Pointer[Source]

	readMu  sync.Mutex // serialises readers: window rotation, EMF
	winTime time.Time

	emf emfState

	tracer *Tracer

	extra []func() []Family // AddFamilies's, served on /metrics

	collectorOnce sync.Once
	collector     *collector
}

// New returns a Telemetry. With Config.Trace.OTLPEndpoint set it starts
// the span exporter; Close stops it.
func New(cfg Config) (*Telemetry, error) {
	if cfg.MaxEndpoints == 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.MaxServices < 0 {
		return nil, fmt.Errorf("telemetry: MaxServices %d is negative", cfg.MaxServices)
	}
	if cfg.MaxServices == 0 {
		cfg.MaxServices = DefaultMaxServices
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("telemetry: Window %v is negative", cfg.Window)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if err := cfg.EMF.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	t := &Telemetry{cfg: cfg, clk: clock.Or(cfg.Clock), log: cfg.Logger}
	t.start = t.clk.Now()
	t.winTime = t.start
	tr, err := newTracer(cfg.Trace, t.clk, cfg.Logger)
	if err != nil {
		return nil, err
	}
	t.tracer = tr
	return t, nil
}

func buildVersion() string { return buildinfo.Version() }

// SetSource gives the Telemetry the proxy whose client and budget state
// it reports. Until then only the request counters are reported.
func (t *Telemetry) SetSource(s Source) {
	if s == nil {
		t.source.Store(nil)
		return
	}
	t.source.Store(&s)
}

// Tracer returns the trace-context propagator and span exporter.
func (t *Telemetry) Tracer() *Tracer { return t.tracer }

// Close flushes and stops the span exporter, waiting until ctx is done at
// most.
func (t *Telemetry) Close(ctx context.Context) error { return t.tracer.Close(ctx) }

// Request records one finished request. It is the proxy.Observer method
// and the hot path: two map reads and about six atomic adds.
func (t *Telemetry) Request(ev *proxy.RequestEvent) {
	v := eventView{status: ev.Status, failed: ev.Failed, proxyError: ev.ProxyError,
		latency: ev.Latency, retries: ev.Retries, requeues: ev.Requeues}
	if !ev.Start.IsZero() {
		v.start = ev.Start.UnixNano()
	}
	t.serviceScope(ev.Service).record(v)
	if ev.Client != "" {
		t.endpointScope(ev.Client, ev.Endpoint).record(v)
	}
	var sc spanContext
	traced := false
	if t.tracer.exp != nil {
		sc, traced = t.tracer.requestEnded(ev)
	}
	if t.cfg.AccessLog {
		t.accessLog(ev, sc, traced)
	}
}

func (t *Telemetry) serviceScope(svc string) *scope {
	if svc == "" {
		return &t.unnamed
	}
	if s := t.services.load(svc); s != nil {
		return s
	}
	if s := t.services.loadOrAdd(svc, t.cfg.MaxServices, newScope); s != nil {
		return s
	}
	return &t.svcOther
}

func (t *Telemetry) endpointScope(client, endpoint string) *scope {
	cs := t.clients.load(client)
	if cs == nil {
		if cs = t.clients.loadOrAdd(client, t.cfg.MaxServices, newClientScopes); cs == nil {
			cs = &t.clientOther
		}
	}
	if endpoint == "" || t.cfg.MaxEndpoints < 0 {
		return &cs.other
	}
	if s := cs.endpoints.load(endpoint); s != nil {
		return s
	}
	if t.endpoints.Load() >= int64(t.cfg.MaxEndpoints) {
		// The cap is full and never frees: skip the lock.
		return &cs.other
	}
	if s := cs.endpoints.loadOrAddIf(endpoint, t.admitEndpoint, newScope); s != nil {
		return s
	}
	return &cs.other
}

// admitEndpoint reserves one of the MaxEndpoints endpoint series shared by
// all clients; it is called under the client's map lock, only for an
// endpoint new to that client.
func (t *Telemetry) admitEndpoint(int) bool {
	limit := int64(t.cfg.MaxEndpoints)
	for {
		n := t.endpoints.Load()
		if n >= limit {
			return false
		}
		if t.endpoints.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func newScope() *scope               { return new(scope) }
func newClientScopes() *clientScopes { return new(clientScopes) }

// ConnState counts the proxy listener's connections; set it as the proxy
// http.Server's ConnState hook. Until it is called the open-connection
// gauges are not reported.
func (t *Telemetry) ConnState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		t.connsSeen.Store(true)
		t.connsOpen.Add(1)
		t.connsTotal.Add(1)
	case http.StateHijacked, http.StateClosed:
		t.connsOpen.Add(-1)
	}
}

// accessLog writes one line per request: what was asked (method, path,
// request id), where it went (service, client, endpoint, attempts), how
// it ended (status, failed, proxy_error, error, latency_ms) and its trace
// (trace_id, span_id: our span's when the request had one, else the
// caller's). With a Cloud Trace project set, logging.googleapis.com/trace
// (and spanId) join the line to its trace in Cloud Logging.
func (t *Telemetry) accessLog(ev *proxy.RequestEvent, sc spanContext, traced bool) {
	var method, path, reqID string
	var hdr http.Header
	if r := ev.Request; r != nil {
		method, hdr = r.Method, r.Header
		if r.URL != nil {
			path = r.URL.Path
		}
		reqID = hdr.Get("L5d-Reqid")
	}
	if !traced {
		sc, traced = traceContextOf(hdr)
	}
	attempts := 0
	if ev.Client != "" {
		attempts = 1 + ev.Retries + ev.Requeues
	}
	attrs := make([]slog.Attr, 0, 20)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", ev.Status),
		slog.Float64("latency_ms", float64(ev.Latency)/1e6),
		slog.String("service", ev.Service),
		slog.String("client", ev.Client),
		slog.String("endpoint", ev.Endpoint),
		slog.Int("attempts", attempts),
		slog.Int("retries", ev.Retries),
		slog.Int("requeues", ev.Requeues),
		slog.Bool("failed", ev.Failed),
		slog.Bool("proxy_error", ev.ProxyError),
		slog.String("request_id", reqID),
	)
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	if traced {
		tid, sid := hex.EncodeToString(sc.traceID[:]), hex.EncodeToString(sc.spanID[:])
		attrs = append(attrs, slog.String("trace_id", tid), slog.String("span_id", sid))
		if p := t.tracer.project.Load(); p != nil {
			attrs = append(attrs,
				slog.String("logging.googleapis.com/trace", "projects/"+*p+"/traces/"+tid),
				slog.String("logging.googleapis.com/spanId", sid),
				slog.Bool("logging.googleapis.com/trace_sampled", sc.sampled()))
		}
	}
	t.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

var _ proxy.Observer = (*Telemetry)(nil)

// TraceRequest is called by the proxy for every request it forwards; see
// Tracer.TraceRequest.
func (t *Telemetry) TraceRequest(in, out *http.Request) { t.tracer.TraceRequest(in, out) }
