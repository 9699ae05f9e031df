package dtabsource

import "github.com/prometheus/client_golang/prometheus"

// Collector exports a Refresher's metrics:
//
//   - slinkerd_dtab_source_info{source,version}: 1, naming the version
//     in force;
//   - slinkerd_dtab_source_fetches_total{result}: fetches by outcome
//     (changed, unchanged, rejected, error, throttled);
//   - slinkerd_dtab_source_rejections_total{reason}: new dtabs rejected
//     (parse, negative).
type Collector struct {
	r                       *Refresher
	info, fetches, rejected *prometheus.Desc
}

// NewCollector returns r's collector.
func NewCollector(r *Refresher) *Collector {
	return &Collector{
		r:        r,
		info:     prometheus.NewDesc("slinkerd_dtab_source_info", "The dtab source and the version in force (1).", []string{"source", "version"}, nil),
		fetches:  prometheus.NewDesc("slinkerd_dtab_source_fetches_total", "Calls to the dtab source, by outcome.", []string{"result"}, nil),
		rejected: prometheus.NewDesc("slinkerd_dtab_source_rejections_total", "New dtabs rejected, the previous one kept, by reason.", []string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.fetches
	ch <- c.rejected
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.State()
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, st.Source, st.Version)
	fetches, rejections := c.r.Counts()
	for k, n := range fetches {
		ch <- prometheus.MustNewConstMetric(c.fetches, prometheus.CounterValue, float64(n), k)
	}
	for k, n := range rejections {
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(n), k)
	}
}

var _ prometheus.Collector = (*Collector)(nil)
