package promexport

import (
	"time"
	"unicode/utf8"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// metricKind is a family's metric type.
type metricKind uint8

const (
	kindCounter metricKind = iota
	kindGauge
	kindSummary
	kindHistogram
)

// family is one metric family as a scrape gathered it, in no exposition
// format's types: the full build converts it to the Prometheus data model's
// (client_model) for expfmt's encoders, the lean build writes it as text
// itself (see lean.go).
type family struct {
	name, help string
	// unit is set on the runtime's families that have one; only the
	// protobuf formats carry it.
	unit string
	kind metricKind
	// created is when a histogram family's histograms started counting
	// (the Telemetry's start); only the protobuf format carries it.
	created time.Time
	metrics []metric
}

// metric is one series of a family: its labels, sorted by name, and its
// value, summary or histogram, as the family's kind says.
type metric struct {
	labels  []labelPair
	value   float64
	summary *summary
	hist    *telemetry.HistogramSnapshot
}

// labelPair is one label of a metric.
type labelPair struct{ name, value string }

// summary is a summary's sample, with its quantiles in order.
type summary struct {
	count     uint64
	sum       float64
	quantiles []quantile
}

// quantile is one quantile of a summary and its value.
type quantile struct{ q, value float64 }

// classicCounts writes s's cumulative count at each classic bucket's
// upper bound (telemetry.ClassicBuckets) into counts, which must be that
// long.
func classicCounts(s *telemetry.HistogramSnapshot, counts []uint64) {
	var cum uint64
	next := 0 // internal bucket to add next
	for k, idx := range telemetry.ClassicBuckets.Index {
		for ; next < idx; next++ {
			cum += s.Counts[next]
		}
		counts[k] = cum
	}
}

// String names the kind as the data model does, for error messages.
func (k metricKind) String() string {
	switch k {
	case kindCounter:
		return "COUNTER"
	case kindGauge:
		return "GAUGE"
	case kindSummary:
		return "SUMMARY"
	case kindHistogram:
		return "HISTOGRAM"
	}
	return "UNKNOWN"
}

// scalarFamily makes a family of one gauge or counter.
func scalarFamily(name, help string, kind metricKind, v float64, labels ...labelPair) *family {
	return &family{name: name, help: help, kind: kind, metrics: []metric{{labels: labels, value: v}}}
}

// validMetricName is the Prometheus data model's rule for metric and
// label names (model.UTF8Validation): any non-empty UTF-8.
func validMetricName(s string) bool { return s != "" && utf8.ValidString(s) }

// legacyMetricName tells whether s is a metric name of the classic
// alphabet, [a-zA-Z_:][a-zA-Z0-9_:]* (model.LegacyValidation), which the
// text format writes without quotes and no escaping scheme changes.
func legacyMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !legacyRune(r, i) {
			return false
		}
	}
	return true
}

// legacyRune tells whether r, at byte offset i, may be in a classic
// metric name.
func legacyRune(r rune, i int) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r == '_' || r == ':' || (r >= '0' && r <= '9' && i > 0)
}
