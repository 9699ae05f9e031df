package telemetry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// EMFNamespace is the CloudWatch namespace of the EMF lines.
const EMFNamespace = "slinkerd"

// EMF metric names and units, in the order they are declared.
var emfMetrics = []emfMetric{
	{"Requests", "Count"},
	{"Successes", "Count"},
	{"Failures", "Count"},
	{"ProxyErrors", "Count"},
	{"Retries", "Count"},
	{"Requeues", "Count"},
	{"RetryBudgetExhausted", "Count"},
	{"LatencyP50", "Milliseconds"},
	{"LatencyP90", "Milliseconds"},
	{"LatencyP99", "Milliseconds"},
	{"LatencyP999", "Milliseconds"},
	{"LatencyMax", "Milliseconds"},
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// emfState is what the previous Flush reported, per service.
type emfState struct {
	base map[string]emfBase
}

type emfBase struct {
	counts    counts
	lat       *HistogramSnapshot
	exhausted uint64
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// FlushEMF writes one CloudWatch embedded-metric-format line per service
// that served requests since the previous FlushEMF: the counts in that
// interval (Requests, Successes, Failures, ProxyErrors, Retries, Requeues,
// RetryBudgetExhausted) and its latency quantiles in milliseconds, with
// the dimension "service" (the logical name). The Lambda adapter calls it
// on INVOKE and SHUTDOWN with stdout, where the Lambda runtime hands the
// lines to CloudWatch. now is the lines' Timestamp. Services with no
// request in the interval write nothing.
func (t *Telemetry) FlushEMF(w io.Writer, now time.Time) error {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	exhausted := map[string]uint64{}
	if p := t.source.Load(); p != nil {
		for _, st := range (*p).Services() {
			exhausted[st.Service] = st.BudgetExhausted
		}
	}
	type item struct {
		name string
		s    *scope
	}
	var items []item
	for name, s := range t.services.all() {
		items = append(items, item{name, s})
	}
	items = append(items, item{OtherName, &t.svcOther})
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })

	bw := bufio.NewWriter(w)
	meta := emfMeta{Timestamp: now.UnixMilli(), CloudWatchMetrics: []emfDirective{{
		Namespace: EMFNamespace, Dimensions: [][]string{{"service"}}, Metrics: emfMetrics,
	}}}
	next := make(map[string]emfBase, len(items))
	for _, it := range items {
		cur := emfBase{counts: it.s.counts(), lat: it.s.lat.Snapshot(), exhausted: exhausted[it.name]}
		base := t.emf.base[it.name]
		next[it.name] = cur
		d := cur.counts.sub(base.counts)
		if d.requests() == 0 {
			continue
		}
		lat := cur.lat.Sub(base.lat)
		line := map[string]any{
			"_aws":                 meta,
			"service":              it.name,
			"Requests":             d.requests(),
			"Successes":            d.Successes,
			"Failures":             d.failures(-1),
			"ProxyErrors":          d.failures(srcProxy),
			"Retries":              d.Retries,
			"Requeues":             d.Requeues,
			"RetryBudgetExhausted": cur.exhausted - min(cur.exhausted, base.exhausted),
			"LatencyP50":           ms(lat.Quantile(0.5)),
			"LatencyP90":           ms(lat.Quantile(0.9)),
			"LatencyP99":           ms(lat.Quantile(0.99)),
			"LatencyP999":          ms(lat.Quantile(0.999)),
			"LatencyMax":           ms(lat.Max()),
		}
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("telemetry: EMF line for %s: %w", it.name, err)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("telemetry: write EMF: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("telemetry: write EMF: %w", err)
	}
	// Only now, so that a failed write reports the interval again.
	t.emf.base = next
	return nil
}

// ms converts to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
