package telemetry

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// levelDescs are the families one level (server, service, client,
// endpoint) shares.
type levelDescs struct {
	requests, successes, failures, retries, requeues, latency, latencyMax *prometheus.Desc
}

func newLevelDescs(level, what string, labels ...string) levelDescs {
	n := func(s string) string { return "slinkerd_" + level + "_" + s }
	return levelDescs{
		requests:   prometheus.NewDesc(n("requests_total"), "Requests finished, per "+what+".", labels, nil),
		successes:  prometheus.NewDesc(n("successes_total"), "Requests classified as successful, per "+what+".", labels, nil),
		failures:   prometheus.NewDesc(n("failures_total"), "Requests classified as failed, per "+what+", by source (backend: the classifier failed a backend's response; proxy: slinkerd answered with l5d-err) and status class.", append(labels[:len(labels):len(labels)], "source", "status_class"), nil),
		retries:    prometheus.NewDesc(n("retries_total"), "Application retries (classifier-driven), per "+what+".", labels, nil),
		requeues:   prometheus.NewDesc(n("requeues_total"), "Requeues (attempts that never reached a server, retried at once), per "+what+".", labels, nil),
		latency:    prometheus.NewDesc(n("latency_seconds"), "Request latency from arrival to the end of the response, per "+what+", since start. "+latencyBucketsHelp, labels, nil),
		latencyMax: prometheus.NewDesc(n("latency_max_seconds"), "Largest request latency in the quantile window (bucket upper bound, within 1/16), per "+what+".", labels, nil),
	}
}

// collector is the prometheus.Collector that reads a Telemetry at scrape
// time. It describes nothing up front (an unchecked collector), since its
// series come and go with services and endpoints.
type collector struct {
	t *Telemetry
	// native adds native-histogram buckets to the latency histograms; set
	// for the registry that answers protobuf scrapes.
	native bool

	server, service, client, endpoint levelDescs

	buildInfo, connsOpen, connsTotal, serverPending       *prometheus.Desc
	budgetBalance, budgetExhausted                        *prometheus.Desc
	clientPending, clientEndpoints                        *prometheus.Desc
	clientCrossZone                                       *prometheus.Desc
	epPending, epLoad, epEWMA, epWeight, epFails, epState *prometheus.Desc
	spansExported, spansDropped                           *prometheus.Desc
}

func newCollector(t *Telemetry, native bool) *collector {
	svc, cl, ep := []string{"service"}, []string{"client"}, []string{"client", "endpoint"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		t:        t,
		native:   native,
		server:   newLevelDescs("server", "proxy server"),
		service:  newLevelDescs("service", "service (logical name)", svc...),
		client:   newLevelDescs("client", "client (bound name, the last attempt's)", cl...),
		endpoint: newLevelDescs("endpoint", "endpoint (the last attempt's)", ep...),

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
}

// Describe sends nothing: an unchecked collector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the Telemetry.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	v := c.t.read()
	gauge := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
	}
	counter := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, x, labels...)
	}
	gauge(c.buildInfo, 1, c.t.cfg.Version, runtime.Version())

	c.scope(ch, c.server, v.server)
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
		c.scope(ch, c.service, s.scopeView, s.name)
		if s.budget {
			gauge(c.budgetBalance, float64(s.budgetBalance), s.name)
			counter(c.budgetExhausted, float64(s.budgetExhausted), s.name)
		}
	}
	// Series are per service by default. Below that, a client's request
	// series (counters, latency) come with its endpoint series: for the
	// clients holding some of the MaxEndpoints endpoint series, which are
	// all of them in a small table. Its balancer gauges are always there.
	for _, cv := range v.clients {
		if cv.own > 0 {
			c.scope(ch, c.client, cv.scopeView, cv.id)
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
			c.scope(ch, c.endpoint, e.scopeView, cv.id, e.address)
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
}

// scope emits one level's request families.
func (c *collector) scope(ch chan<- prometheus.Metric, d levelDescs, s scopeView, labels ...string) {
	counter := func(desc *prometheus.Desc, x uint64, ls ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(x), ls...)
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
	ch <- newLatencyMetric(d.latency, s.lat, c.native, c.t.start, labels)
	ch <- prometheus.MustNewConstMetric(d.latencyMax, prometheus.GaugeValue, s.win.Max().Seconds(), labels...)
}

// MetricsHandler serves /metrics: slinkerd's families, plus the Go
// runtime's (go_*) and the process's (process_*). The format follows the
// scraper's Accept header, as promhttp negotiates it: the text format
// (latency as classic histograms) unless the scraper asks for protobuf
// (application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
// encoding=delimited), as Prometheus does with native histograms on; then
// the latency histograms carry native buckets too.
func (t *Telemetry) MetricsHandler() http.Handler {
	handler := func(native bool) http.Handler {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			newCollector(t, native),
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		reg.MustRegister(t.extra...)
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	text, proto := handler(false), handler(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if expfmt.Negotiate(r.Header).FormatType() == expfmt.TypeProtoDelim {
			proto.ServeHTTP(w, r)
			return
		}
		text.ServeHTTP(w, r)
	})
}

var _ prometheus.Collector = (*collector)(nil)
