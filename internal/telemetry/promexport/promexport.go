// Package promexport serves a Telemetry's families on /metrics in the
// Prometheus formats, through the Prometheus Go client: the text format,
// or protobuf with native histograms when the scraper negotiates it, with
// the Go runtime's and the process's own families beside slinkerd's.
//
// Importing it registers it with internal/telemetry (RegisterExposition), so
// that the admin server's /metrics uses it; the slinkerd binary imports
// it. It is a package of its own so that a Go program using the library,
// which serves no admin endpoints, does not link the Prometheus client.
package promexport

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

func init() { telemetry.RegisterExposition(Handler) }

// Handler returns t's /metrics handler. Its registries (with the Go
// runtime's and the process's collectors, about 0.4 ms to build) are
// built at the first scrape, not at start-up: a Lambda extension may
// never be scraped, and every millisecond before it is ready adds to the
// function's cold start.
func Handler(t *telemetry.Telemetry) http.Handler {
	var (
		once        sync.Once
		text, proto http.Handler
	)
	handler := func(native bool) http.Handler {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			&collector{t: t, native: native},
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { text, proto = handler(false), handler(true) })
		if expfmt.Negotiate(r.Header).FormatType() == expfmt.TypeProtoDelim {
			proto.ServeHTTP(w, r)
			return
		}
		text.ServeHTTP(w, r)
	})
}

// collector is the prometheus.Collector that reads a Telemetry's
// families at scrape time. It describes nothing up front (an unchecked
// collector), since its series come and go with services and endpoints.
type collector struct {
	t *telemetry.Telemetry
	// native adds native-histogram buckets to the latency histograms; set
	// for the registry that answers protobuf scrapes.
	native bool
}

// Describe sends nothing: an unchecked collector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the Telemetry.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	start := c.t.Start()
	for _, f := range c.t.Families() {
		d := prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil)
		for _, m := range f.Metrics {
			switch f.Kind {
			case telemetry.KindCounter:
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, m.Value, m.LabelValues...)
			case telemetry.KindGauge:
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, m.Value, m.LabelValues...)
			case telemetry.KindHistogram:
				ch <- newLatencyMetric(d, m.Hist, c.native, start, m.LabelValues)
			}
		}
	}
}

var _ prometheus.Collector = (*collector)(nil)
