package telemetry

import (
	"net/http"
	"runtime"
	"sync"
	"time"
)

// MetricKind is a Family's Prometheus metric type.
type MetricKind uint8

// The metric kinds.
const (
	// KindCounter is a monotonic total.
	KindCounter MetricKind = iota
	// KindGauge is a value that goes up and down.
	KindGauge
	// KindHistogram is a latency distribution: each Metric has Hist, in
	// microseconds (see HistogramSnapshot).
	KindHistogram
)

// Family is one metric family as /metrics serves it: its name, help,
// kind, label names, and the metrics read now. Families is what an
// exposition (internal/telemetry/promexport) renders, so that this package
// links no Prometheus client.
type Family struct {
	// Name is the family's name, e.g. slinkerd_service_requests_total.
	Name string
	// Help describes it.
	Help string
	// Kind is its metric type.
	Kind MetricKind
	// LabelNames are its labels, in order.
	LabelNames []string
	// Metrics are its series.
	Metrics []Metric
}

// Metric is one series of a Family.
type Metric struct {
	// LabelValues match the Family's LabelNames.
	LabelValues []string
	// Value is a Counter's or Gauge's value.
	Value float64
	// Hist is a KindHistogram's distribution, cumulative since Start.
	Hist *HistogramSnapshot
}

// desc is a family's description; families are made from descs at each
// read, in the order the descs were made.
type desc struct {
	idx    int
	name   string
	help   string
	labels []string
}

// descSet makes descs and, at each read, the families they describe.
type descSet struct{ descs []*desc }

func (ds *descSet) newDesc(name, help string, labels []string) *desc {
	d := &desc{idx: len(ds.descs), name: name, help: help, labels: labels}
	ds.descs = append(ds.descs, d)
	return d
}

// famBuf collects one read's metrics, by desc.
type famBuf struct {
	kinds   []MetricKind
	metrics [][]Metric
}

func (b *famBuf) add(d *desc, k MetricKind, m Metric) {
	b.kinds[d.idx] = k
	b.metrics[d.idx] = append(b.metrics[d.idx], m)
}

// levelDescs are the families one level (server, service, client,
// endpoint) shares.
type levelDescs struct {
	requests, successes, failures, retries, requeues, latency, latencyMax *desc
}

func newLevelDescs(ds *descSet, level, what string, labels ...string) levelDescs {
	n := func(s string) string { return "slinkerd_" + level + "_" + s }
	return levelDescs{
		requests:   ds.newDesc(n("requests_total"), "Requests finished, per "+what+".", labels),
		successes:  ds.newDesc(n("successes_total"), "Requests classified as successful, per "+what+".", labels),
		failures:   ds.newDesc(n("failures_total"), "Requests classified as failed, per "+what+", by source (backend: the classifier failed a backend's response; proxy: slinkerd answered with l5d-err) and status class.", append(labels[:len(labels):len(labels)], "source", "status_class")),
		retries:    ds.newDesc(n("retries_total"), "Application retries (classifier-driven), per "+what+".", labels),
		requeues:   ds.newDesc(n("requeues_total"), "Requeues (attempts that never reached a server, retried at once), per "+what+".", labels),
		latency:    ds.newDesc(n("latency_seconds"), "Request latency from arrival to the end of the response, per "+what+", since start. "+latencyBucketsHelp, labels),
		latencyMax: ds.newDesc(n("latency_max_seconds"), "Largest request latency in the quantile window (bucket upper bound, within 1/16), per "+what+".", labels),
	}
}

// collector reads a Telemetry's families (Families). Its series come and
// go with services and endpoints.
type collector struct {
	t  *Telemetry
	ds descSet

	server, service, client, endpoint levelDescs

	buildInfo, connsOpen, connsTotal, serverPending       *desc
	budgetBalance, budgetExhausted                        *desc
	clientPending, clientEndpoints                        *desc
	clientCrossZone                                       *desc
	epPending, epLoad, epEWMA, epWeight, epFails, epState *desc
	spansExported, spansDropped                           *desc
}

func newCollector(t *Telemetry) *collector {
	ds := &descSet{}
	svc, cl, ep := []string{"service"}, []string{"client"}, []string{"client", "endpoint"}
	d := func(name, help string, labels ...string) *desc {
		return ds.newDesc(name, help, labels)
	}
	c := &collector{
		t:        t,
		server:   newLevelDescs(ds, "server", "proxy server"),
		service:  newLevelDescs(ds, "service", "service (logical name)", svc...),
		client:   newLevelDescs(ds, "client", "client (bound name, the last attempt's)", cl...),
		endpoint: newLevelDescs(ds, "endpoint", "endpoint (the last attempt's)", ep...),

		buildInfo:     d("slinkerd_build_info", "Always 1; the labels tell the build.", "version", "goversion"),
		connsOpen:     d("slinkerd_server_open_connections", "Client connections open on the proxy listener."),
		connsTotal:    d("slinkerd_server_connections_total", "Client connections accepted by the proxy listener."),
		serverPending: d("slinkerd_server_pending", "Attempts in flight to endpoints, all clients."),

		budgetBalance:   d("slinkerd_service_retry_budget_balance", "Retries the service's retry budget allows now.", svc...),
		budgetExhausted: d("slinkerd_service_retry_budget_exhausted_total", "Retries and requeues refused because the service's retry budget was empty.", svc...),

		clientPending:   d("slinkerd_client_pending", "Attempts in flight to the client's endpoints.", cl...),
		clientEndpoints: d("slinkerd_client_endpoints", "The client's endpoints by failure-accrual state (alive, dead, probing).", "client", "state"),
		clientCrossZone: d("slinkerd_client_cross_zone_requests_total", "Requests the client routed to another zone than slinkerd's (or to endpoints of no known zone), when zone-aware routing is on.", cl...),

		epPending: d("slinkerd_endpoint_pending", "Attempts in flight to the endpoint (summed for endpoint=\"other\").", ep...),
		epLoad:    d("slinkerd_endpoint_load", "The balancer's load figure: peak EWMA in ns x (pending+1) for ewma, pending for p2c and roundrobin.", ep...),
		epEWMA:    d("slinkerd_endpoint_ewma_seconds", "The endpoint's peak-EWMA latency estimate.", ep...),
		epWeight:  d("slinkerd_endpoint_weight", "The endpoint's effective balancer weight.", ep...),
		epFails:   d("slinkerd_endpoint_consecutive_failures", "The endpoint's consecutive failures, as failure accrual counts them.", ep...),
		epState:   d("slinkerd_endpoint_state", "1 for the endpoint's failure-accrual state (alive, dead, probing).", "client", "endpoint", "state"),

		spansExported: d("slinkerd_trace_spans_exported_total", "Spans exported over OTLP."),
		spansDropped:  d("slinkerd_trace_spans_dropped_total", "Spans dropped: export queue full or export failed."),
	}
	c.ds = *ds
	return c
}

// families reads the Telemetry: every family, in a fixed order; a family
// with no series is left out.
func (c *collector) families() []Family {
	b := famBuf{kinds: make([]MetricKind, len(c.ds.descs)), metrics: make([][]Metric, len(c.ds.descs))}
	v := c.t.read()
	gauge := func(d *desc, x float64, labels ...string) {
		b.add(d, KindGauge, Metric{LabelValues: labels, Value: x})
	}
	counter := func(d *desc, x float64, labels ...string) {
		b.add(d, KindCounter, Metric{LabelValues: labels, Value: x})
	}
	gauge(c.buildInfo, 1, c.t.cfg.Version, runtime.Version())

	c.scope(&b, c.server, v.server)
	if v.conns {
		gauge(c.connsOpen, float64(v.connsOpen))
		counter(c.connsTotal, float64(v.connsTotal))
	}
	pending := 0
	for _, cv := range v.clients {
		pending += cv.pending
	}
	gauge(c.serverPending, float64(pending))

	for _, s := range v.services {
		c.scope(&b, c.service, s.scopeView, s.name)
		if s.budget {
			gauge(c.budgetBalance, float64(s.budgetBalance), s.name)
			counter(c.budgetExhausted, float64(s.budgetExhausted), s.name)
		}
	}
	for _, cv := range v.clients {
		if cv.own > 0 {
			c.scope(&b, c.client, cv.scopeView, cv.id)
		}
		gauge(c.clientPending, float64(cv.pending), cv.id)
		if cv.zoneAware {
			counter(c.clientCrossZone, float64(cv.crossZone), cv.id)
		}
		for state, n := range cv.states {
			gauge(c.clientEndpoints, float64(n), cv.id, state)
		}
		for _, e := range cv.endpoints {
			if e.address == OtherEndpoint && cv.own == 0 {
				continue // all its endpoints are folded: the client gauges say it
			}
			c.scope(&b, c.endpoint, e.scopeView, cv.id, e.address)
			if !e.hasStats {
				continue
			}
			gauge(c.epPending, float64(e.stats.Pending), cv.id, e.address)
			gauge(c.epLoad, e.stats.Load, cv.id, e.address)
			gauge(c.epWeight, e.stats.Weight, cv.id, e.address)
			if e.address != OtherEndpoint {
				gauge(c.epEWMA, e.stats.EWMA.Seconds(), cv.id, e.address)
				gauge(c.epFails, float64(e.stats.Failures), cv.id, e.address)
				gauge(c.epState, 1, cv.id, e.address, e.stats.State)
			}
		}
	}
	if tr := c.t.tracer; tr.exp != nil {
		counter(c.spansExported, float64(tr.Exported()))
		counter(c.spansDropped, float64(tr.Dropped()))
	}
	out := make([]Family, 0, len(c.ds.descs))
	for i, d := range c.ds.descs {
		if len(b.metrics[i]) > 0 {
			out = append(out, Family{Name: d.name, Help: d.help, Kind: b.kinds[i], LabelNames: d.labels, Metrics: b.metrics[i]})
		}
	}
	return out
}

// scope adds one scope's series: its counters, latency histogram and
// latency maximum.
func (c *collector) scope(b *famBuf, d levelDescs, s scopeView, labels ...string) {
	counter := func(desc *desc, x uint64, ls ...string) {
		b.add(desc, KindCounter, Metric{LabelValues: ls, Value: float64(x)})
	}
	counter(d.requests, s.counts.requests(), labels...)
	counter(d.successes, s.counts.Successes, labels...)
	for src := range s.counts.Failures {
		for cls, n := range s.counts.Failures[src] {
			if n > 0 {
				counter(d.failures, n, append(labels[:len(labels):len(labels)], sourceNames[src], classNames[cls])...)
			}
		}
	}
	counter(d.retries, s.counts.Retries, labels...)
	counter(d.requeues, s.counts.Requeues, labels...)
	b.add(d.latency, KindHistogram, Metric{LabelValues: labels, Hist: s.lat})
	b.add(d.latencyMax, KindGauge, Metric{LabelValues: labels, Value: s.win.Max().Seconds()})
}

// Families reads every metric family /metrics serves: the proxy's, then
// those AddFamilies added (the dtab source's). An exposition
// (internal/telemetry/promexport) renders them.
func (t *Telemetry) Families() []Family {
	t.collectorOnce.Do(func() { t.collector = newCollector(t) })
	out := t.collector.families()
	for _, f := range t.extra {
		out = append(out, f()...)
	}
	return out
}

// AddFamilies adds the families f returns at each read to Families (the
// dtab source's). Call it before serving.
func (t *Telemetry) AddFamilies(f func() []Family) { t.extra = append(t.extra, f) }

// Start is when the Telemetry was made: the histograms' and counters'
// start.
func (t *Telemetry) Start() time.Time { return t.start }

var (
	expositionMu sync.Mutex
	exposition   func(*Telemetry) http.Handler
)

// RegisterExposition sets how /metrics is served (Handlers): package
// internal/telemetry/promexport registers the Prometheus text and protobuf
// formats when imported. Without one, Handlers serves no /metrics.
func RegisterExposition(f func(*Telemetry) http.Handler) {
	expositionMu.Lock()
	defer expositionMu.Unlock()
	exposition = f
}

// MetricsHandler returns the /metrics handler of the registered
// exposition, or nil when none is.
func (t *Telemetry) MetricsHandler() http.Handler {
	expositionMu.Lock()
	f := exposition
	expositionMu.Unlock()
	if f == nil {
		return nil
	}
	return f(t)
}
