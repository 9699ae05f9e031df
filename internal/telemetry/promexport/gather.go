package promexport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
// number of them, this is an error too.)
func gather(t *telemetry.Telemetry) ([]*family, error) {
	g := gatherer{byName: make(map[string]*family)}
	// One creation time for every latency histogram: they all count since
	// the Telemetry's start.
	created := t.Start()
	fams := t.Families()
	for i := range fams {
		g.addTelemetry(&fams[i], created)
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
	byName map[string]*family
	errs   gatherErrors
}

// addTelemetry converts a telemetry Family. Its metrics' labels are
// allocated together, per family, since there may be a hundred thousand.
func (g *gatherer) addTelemetry(f *telemetry.Family, created time.Time) {
	var kind metricKind
	switch f.Kind {
	case telemetry.KindCounter:
		kind = kindCounter
	case telemetry.KindGauge:
		kind = kindGauge
	case telemetry.KindHistogram:
		kind = kindHistogram
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
	// holds the label indexes in that order.
	k, n := len(f.LabelNames), len(f.Metrics)
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(f.LabelNames[a], f.LabelNames[b]) })

	out, pairs := make([]metric, 0, n), make([]labelPair, n*k)

metrics:
	for i := range f.Metrics {
		m := &f.Metrics[i]
		if len(m.LabelValues) != k {
			g.errs = append(g.errs, fmt.Errorf("collected metric %q has %d label values but %d label names %q", f.Name, len(m.LabelValues), k, f.LabelNames))
			continue
		}
		labels := pairs[i*k : (i+1)*k : (i+1)*k]
		for j, li := range order {
			name, v := f.LabelNames[li], m.LabelValues[li]
			if !utf8.ValidString(v) {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q has a label named %q whose value is not utf8: %q", f.Name, name, v))
				continue metrics
			}
			labels[j] = labelPair{name, v}
		}
		if k == 0 {
			labels = nil
		}
		dm := metric{labels: labels}
		switch kind {
		case kindCounter, kindGauge:
			dm.value = m.Value
		default:
			if m.Hist == nil {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q %s is a histogram without a distribution", f.Name, labelString(labels)))
				continue
			}
			dm.hist = m.Hist
		}
		out = append(out, dm)
	}
	g.add(&family{name: f.Name, help: f.Help, kind: kind, created: created, metrics: out})
}

// add adds a family's metrics to those of its name, which must have the
// same help and type.
func (g *gatherer) add(f *family) {
	have, ok := g.byName[f.name]
	switch {
	case !ok:
		g.byName[f.name] = f
	case have.help != f.help:
		g.errs = append(g.errs, fmt.Errorf("collected metric %s has help %q but should have %q", f.name, f.help, have.help))
	case have.kind != f.kind:
		g.errs = append(g.errs, fmt.Errorf("collected metric %s is a %s but should be a %s", f.name, f.kind, have.kind))
	default:
		have.metrics = append(have.metrics, f.metrics...)
	}
}

// result sorts the families and their metrics, and checks that no series
// comes twice.
func (g *gatherer) result() ([]*family, error) {
	out := make([]*family, 0, len(g.byName))
	for _, f := range g.byName {
		if len(f.metrics) == 0 {
			continue
		}
		slices.SortFunc(f.metrics, compareMetrics)
		for i := 1; i < len(f.metrics); i++ {
			if compareMetrics(f.metrics[i-1], f.metrics[i]) == 0 {
				g.errs = append(g.errs, fmt.Errorf("collected metric %q %s was collected before with the same name and label values", f.name, labelString(f.metrics[i].labels)))
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return out, g.errs.err()
}

// compareMetrics orders a family's metrics as the Prometheus client's
// MetricSorter did: by number of labels, then by label values in label
// name order. Metrics with the same values (which that sorter left in any
// order) are ordered by label names, so that duplicates end up adjacent.
func compareMetrics(a, b metric) int {
	if c := cmp.Compare(len(a.labels), len(b.labels)); c != 0 {
		return c
	}
	for i, l := range a.labels {
		if c := strings.Compare(l.value, b.labels[i].value); c != 0 {
			return c
		}
	}
	for i, l := range a.labels {
		if c := strings.Compare(l.name, b.labels[i].name); c != 0 {
			return c
		}
	}
	return 0
}

// checkDesc checks a family's name and label names as prometheus.NewDesc
// did.
func checkDesc(name string, labels []string) error {
	if !validMetricName(name) {
		return fmt.Errorf("%q is not a valid metric name", name)
	}
	for i, l := range labels {
		// The data model's rule for label names is the one for metric
		// names, and "__" starts the names it reserves for itself.
		if !validMetricName(l) || strings.HasPrefix(l, "__") {
			return fmt.Errorf("%q is not a valid label name for metric %q", l, name)
		}
		if slices.Contains(labels[:i], l) {
			return fmt.Errorf("duplicate label names in constant and variable labels for metric %q", name)
		}
	}
	return nil
}

// labelString formats a metric's labels for an error message.
func labelString(labels []labelPair) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.name, l.value)
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
