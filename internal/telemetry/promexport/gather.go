package promexport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// gather reads every family /metrics serves, t's, the Go runtime's and
// the process's, and shapes them as prometheus.Registry.Gather did, so
// that the encoders write the same bytes: families sorted by name, those
// of one name merged and the empty ones left out; each metric's labels
// sorted by name, and a family's metrics sorted by label values. It checks
// what Gather checked (names, label names, label values valid UTF-8, no
// series twice, merged families agreeing on help and type) and returns
// every problem found as one error, which the handler answers with 500 as
// promhttp did. (Where the Prometheus client panicked instead, on an
// invalid name or label name, a label value that is not UTF-8 or a wrong
// number of them, this is an error too.) native adds native buckets to
// the latency histograms.
func gather(t *telemetry.Telemetry, native bool) ([]*dto.MetricFamily, error) {
	g := gatherer{byName: make(map[string]*dto.MetricFamily)}
	// One creation time for every latency histogram: they all count since
	// the Telemetry's start, and the encoders only read it.
	created := timestamppb.New(t.Start())
	fams := t.Families()
	for i := range fams {
		g.addTelemetry(&fams[i], native, created)
	}
	for _, f := range runtimeFamilies() {
		g.add(f)
	}
	for _, f := range processFamilies() {
		g.add(f)
	}
	return g.result()
}

// gatherer collects one scrape's families by name, and the problems met.
type gatherer struct {
	byName map[string]*dto.MetricFamily
	errs   gatherErrors
}

// addTelemetry converts a telemetry Family. Its metrics' values are
// allocated together, per family, since there may be a hundred thousand.
func (g *gatherer) addTelemetry(f *telemetry.Family, native bool, created *timestamppb.Timestamp) {
	var typ dto.MetricType
	switch f.Kind {
	case telemetry.KindCounter:
		typ = dto.MetricType_COUNTER
	case telemetry.KindGauge:
		typ = dto.MetricType_GAUGE
	case telemetry.KindHistogram:
		typ = dto.MetricType_HISTOGRAM
	default:
		return // a kind /metrics does not know is not served
	}
	if len(f.Metrics) == 0 {
		return
	}
	if err := checkDesc(f.Name, f.LabelNames); err != nil {
		g.errs = append(g.errs, err)
		return
	}

	// Labels go out sorted by name (as MakeLabelPairs sorted them): order
	// holds the label indexes in that order, names the sorted names.
	k, n := len(f.LabelNames), len(f.Metrics)
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(f.LabelNames[a], f.LabelNames[b]) })
	names := make([]string, k)
	for j, i := range order {
		names[j] = f.LabelNames[i]
	}

	var (
		metrics  = make([]dto.Metric, n)
		out      = make([]*dto.Metric, 0, n)
		values   = make([]string, n*k)
		pairs    = make([]dto.LabelPair, n*k)
		pairPtrs = make([]*dto.LabelPair, n*k)
		nums     []float64
		counters []dto.Counter
		gauges   []dto.Gauge
		hists    *latencyHistograms
	)
	switch typ {
	case dto.MetricType_COUNTER:
		nums, counters = make([]float64, n), make([]dto.Counter, n)
	case dto.MetricType_GAUGE:
		nums, gauges = make([]float64, n), make([]dto.Gauge, n)
	default:
		hists = newLatencyHistograms(n, native)
	}

metrics:
	for i := range f.Metrics {
		m := &f.Metrics[i]
		if len(m.LabelValues) != k {
			g.errs = append(g.errs, fmt.Errorf("collected metric %q has %d label values but %d label names %q", f.Name, len(m.LabelValues), k, f.LabelNames))
			continue
		}
		lo, hi := i*k, (i+1)*k
		for j, li := range order {
			v := m.LabelValues[li]
			if !utf8.ValidString(v) {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q has a label named %q whose value is not utf8: %q", f.Name, names[j], v))
				continue metrics
			}
			values[lo+j] = v
			p := &pairs[lo+j]
			p.Name, p.Value = &names[j], &values[lo+j]
			pairPtrs[lo+j] = p
		}
		dm := &metrics[i]
		if k > 0 {
			dm.Label = pairPtrs[lo:hi:hi]
		}
		switch typ {
		case dto.MetricType_COUNTER:
			nums[i] = m.Value
			counters[i].Value = &nums[i]
			dm.Counter = &counters[i]
		case dto.MetricType_GAUGE:
			nums[i] = m.Value
			gauges[i].Value = &nums[i]
			dm.Gauge = &gauges[i]
		default:
			if m.Hist == nil {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q %s is a histogram without a distribution", f.Name, labelString(dm)))
				continue
			}
			dm.Histogram = hists.fill(i, m.Hist, created)
		}
		out = append(out, dm)
	}
	g.add(&dto.MetricFamily{Name: new(f.Name), Help: new(f.Help), Type: typ.Enum(), Metric: out})
}

// add adds a family's metrics to those of its name, which must have the
// same help and type.
func (g *gatherer) add(f *dto.MetricFamily) {
	have, ok := g.byName[f.GetName()]
	switch {
	case !ok:
		g.byName[f.GetName()] = f
	case have.GetHelp() != f.GetHelp():
		g.errs = append(g.errs, fmt.Errorf("collected metric %s has help %q but should have %q", f.GetName(), f.GetHelp(), have.GetHelp()))
	case have.GetType() != f.GetType():
		g.errs = append(g.errs, fmt.Errorf("collected metric %s is a %s but should be a %s", f.GetName(), f.GetType(), have.GetType()))
	default:
		have.Metric = append(have.Metric, f.Metric...)
	}
}

// result sorts the families and their metrics, and checks that no series
// comes twice.
func (g *gatherer) result() ([]*dto.MetricFamily, error) {
	out := make([]*dto.MetricFamily, 0, len(g.byName))
	for _, f := range g.byName {
		if len(f.Metric) == 0 {
			continue
		}
		slices.SortFunc(f.Metric, compareMetrics)
		for i := 1; i < len(f.Metric); i++ {
			if compareMetrics(f.Metric[i-1], f.Metric[i]) == 0 {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q %s was collected before with the same name and label values", f.GetName(), labelString(f.Metric[i])))
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, g.errs.err()
}

// compareMetrics orders a family's metrics as the Prometheus client's
// MetricSorter did: by number of labels, then by label values in label
// name order. Metrics with the same values (which that sorter left in any
// order) are ordered by label names, so that duplicates end up adjacent.
func compareMetrics(a, b *dto.Metric) int {
	if c := cmp.Compare(len(a.Label), len(b.Label)); c != 0 {
		return c
	}
	for i, l := range a.Label {
		if c := strings.Compare(l.GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	for i, l := range a.Label {
		if c := strings.Compare(l.GetName(), b.Label[i].GetName()); c != 0 {
			return c
		}
	}
	return 0
}

// checkDesc checks a family's name and label names as prometheus.NewDesc
// did.
func checkDesc(name string, labels []string) error {
	if !model.UTF8Validation.IsValidMetricName(name) {
		return fmt.Errorf("%q is not a valid metric name", name)
	}
	for i, l := range labels {
		if !model.UTF8Validation.IsValidLabelName(l) || strings.HasPrefix(l, model.ReservedLabelPrefix) {
			return fmt.Errorf("%q is not a valid label name for metric %q", l, name)
		}
		if slices.Contains(labels[:i], l) {
			return fmt.Errorf("duplicate label names in constant and variable labels for metric %q", name)
		}
	}
	return nil
}

// labelString formats a metric's labels for an error message.
func labelString(m *dto.Metric) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range m.Label {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.GetName(), l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}

// gatherErrors are the problems one gather met, reported together in the
// words of the Prometheus client's MultiError.
type gatherErrors []error

// err returns nil for none, the error itself for one (as
// MultiError.MaybeUnwrap), else all of them.
func (errs gatherErrors) err() error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errs
}

func (errs gatherErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d error(s) occurred:", len(errs))
	for _, err := range errs {
		fmt.Fprintf(&b, "\n* %s", err)
	}
	return b.String()
}
