//go:build !slinkerd_nopromproto

package promexport

import (
	"io"
	"math"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// This file is the full build's exposition: every format promhttp
// negotiates, written by expfmt's encoders from the Prometheus data
// model's types (client_model), which link the protobuf runtime. The
// Lambda layer is built with -tags slinkerd_nopromproto and serves the
// text format from lean.go instead, 1.7 MB smaller.

// LeftOut names what this build of the exposition leaves out, for
// `slinkerd version`: nothing.
const LeftOut = ""

// exposition is the format a scrape is answered in.
type exposition struct{ format expfmt.Format }

// negotiate picks the format as promhttp.HandlerFor with its default
// options does: text 0.0.4 unless the Accept header asks for a protobuf
// one.
func negotiate(h http.Header) exposition {
	return exposition{expfmt.NegotiateAccept(h, expfmt.DefaultAcceptedFormats()...)}
}

// contentType is the response's Content-Type.
func (x exposition) contentType() string { return string(x.format) }

// encode writes fams in x's format to w, those in only if it is not nil.
// On an error it stops, as promhttp does: the client sees a truncated
// body, and the caller answers 500 instead if nothing reached it yet.
// Native buckets go only in delimited protobuf, the format Prometheus
// asks for when native histograms are on. Every other format, the protobuf
// text ones included, was answered from the registry without them, and
// still gets classic buckets only.
func (x exposition) encode(w io.Writer, fams []*family, only map[string]bool) error {
	native := x.format.FormatType() == expfmt.TypeProtoDelim
	enc := expfmt.NewEncoder(w, x.format)
	for _, f := range fams {
		if only != nil && !only[f.name] {
			continue
		}
		if err := enc.Encode(toDTO(f, native)); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}

// dtoTypes are the data model's types of the metric kinds.
var dtoTypes = [...]dto.MetricType{
	kindCounter:   dto.MetricType_COUNTER,
	kindGauge:     dto.MetricType_GAUGE,
	kindSummary:   dto.MetricType_SUMMARY,
	kindHistogram: dto.MetricType_HISTOGRAM,
}

// toDTO converts f to the data model's family, with native buckets in
// its latency histograms when native is set. The values of its metrics
// are allocated together, since there may be a hundred thousand.
func toDTO(f *family, native bool) *dto.MetricFamily {
	n, k := len(f.metrics), 0
	for i := range f.metrics {
		k += len(f.metrics[i].labels)
	}
	var (
		metrics  = make([]dto.Metric, n)
		out      = make([]*dto.Metric, n)
		pairs    = make([]dto.LabelPair, k)
		pairPtrs = make([]*dto.LabelPair, k)
		nums     []float64
		counters []dto.Counter
		gauges   []dto.Gauge
		hists    *latencyHistograms
		created  *timestamppb.Timestamp // one for all: the same time
	)
	switch f.kind {
	case kindCounter:
		nums, counters = make([]float64, n), make([]dto.Counter, n)
	case kindGauge:
		nums, gauges = make([]float64, n), make([]dto.Gauge, n)
	case kindHistogram:
		hists, created = newLatencyHistograms(n, native), timestamppb.New(f.created)
	}
	p := 0
	for i := range f.metrics {
		m, dm := &f.metrics[i], &metrics[i]
		if len(m.labels) > 0 {
			for j := range m.labels {
				l := &m.labels[j]
				pairs[p+j] = dto.LabelPair{Name: &l.name, Value: &l.value}
				pairPtrs[p+j] = &pairs[p+j]
			}
			dm.Label = pairPtrs[p : p+len(m.labels) : p+len(m.labels)]
			p += len(m.labels)
		}
		switch f.kind {
		case kindCounter:
			nums[i] = m.value
			counters[i].Value = &nums[i]
			dm.Counter = &counters[i]
		case kindGauge:
			nums[i] = m.value
			gauges[i].Value = &nums[i]
			dm.Gauge = &gauges[i]
		case kindSummary:
			s := m.summary
			qs := make([]*dto.Quantile, len(s.quantiles))
			for j := range s.quantiles {
				qs[j] = &dto.Quantile{Quantile: &s.quantiles[j].q, Value: &s.quantiles[j].value}
			}
			dm.Summary = &dto.Summary{SampleCount: &s.count, SampleSum: &s.sum, Quantile: qs}
		case kindHistogram:
			dm.Histogram = hists.fill(i, m.hist, created)
		}
		out[i] = dm
	}
	df := &dto.MetricFamily{Name: &f.name, Help: &f.help, Type: dtoTypes[f.kind].Enum(), Metric: out}
	if f.unit != "" {
		df.Unit = &f.unit
	}
	return df
}

// latencyHistograms are a family's latency histograms, with classic
// buckets and, when native is set, native buckets in the same sample, as
// the Prometheus client's own histograms carry them; the encoder writes
// whichever its format holds. Their values are allocated together, once
// per family.
type latencyHistograms struct {
	native bool
	hs     []dto.Histogram
	// Per histogram: its classic buckets, their pointers, and their
	// cumulative counts followed by the sample count.
	buckets    []dto.Bucket
	bucketPtrs []*dto.Bucket
	counts     []uint64
	sums       []float64
}

// newLatencyHistograms allocates n histograms.
func newLatencyHistograms(n int, native bool) *latencyHistograms {
	nb := len(telemetry.ClassicBuckets.Index)
	return &latencyHistograms{
		native:     native,
		hs:         make([]dto.Histogram, n),
		buckets:    make([]dto.Bucket, n*nb),
		bucketPtrs: make([]*dto.Bucket, n*nb),
		counts:     make([]uint64, n*(nb+1)),
		sums:       make([]float64, n),
	}
}

// fill makes histogram i from s, counting since created.
func (l *latencyHistograms) fill(i int, s *telemetry.HistogramSnapshot, created *timestamppb.Timestamp) *dto.Histogram {
	nb := len(telemetry.ClassicBuckets.Index)
	h := &l.hs[i]
	counts := l.counts[i*(nb+1) : (i+1)*(nb+1)]
	counts[nb], l.sums[i] = s.Count, s.Sum.Seconds()
	h.SampleCount, h.SampleSum = &counts[nb], &l.sums[i]
	h.CreatedTimestamp = created

	buckets, ptrs := l.buckets[i*nb:(i+1)*nb], l.bucketPtrs[i*nb:(i+1)*nb:(i+1)*nb]
	classicCounts(s, counts[:nb])
	for k := range buckets {
		buckets[k].CumulativeCount, buckets[k].UpperBound = &counts[k], &telemetry.ClassicBuckets.Le[k]
		ptrs[k] = &buckets[k]
	}
	h.Bucket = ptrs
	if l.native {
		addNative(h, s)
	}
	return h
}

// addNative fills the native-histogram fields from the internal buckets.
func addNative(h *dto.Histogram, s *telemetry.HistogramSnapshot) {
	schema, zt, zero := int32(telemetry.NativeSchema), float64(telemetry.NativeZeroThreshold), s.Counts[0]
	h.Schema, h.ZeroThreshold, h.ZeroCount = &schema, &zt, &zero
	var (
		spans             []*dto.BucketSpan
		deltas            []int64
		prevIdx, curIdx   int
		prevCount, curCnt int64
		have              bool
	)
	flush := func() {
		switch {
		case len(spans) == 0:
			spans = append(spans, &dto.BucketSpan{Offset: new(int32(curIdx)), Length: new(uint32(1))})
		case curIdx == prevIdx+1:
			*spans[len(spans)-1].Length++
		default:
			spans = append(spans, &dto.BucketSpan{Offset: new(int32(curIdx - prevIdx - 1)), Length: new(uint32(1))})
		}
		deltas = append(deltas, curCnt-prevCount)
		prevIdx, prevCount = curIdx, curCnt
	}
	for i := 1; i < telemetry.NumBuckets; i++ {
		n := s.Counts[i]
		if n == 0 {
			continue
		}
		lo, hi := telemetry.BucketBounds(i)
		if i == telemetry.NumBuckets-1 {
			hi = lo // open-ended: its lower bound
		}
		idx := nativeIndex((float64(lo) + float64(hi-lo)/2) / 1e6)
		if have && idx == curIdx {
			curCnt += int64(n)
			continue
		}
		if have {
			flush()
		}
		curIdx, curCnt, have = idx, int64(n), true
	}
	if have {
		flush()
	}
	if len(spans) == 0 {
		// No buckets: an empty span marks the histogram as native.
		spans = []*dto.BucketSpan{{Offset: new(int32(0)), Length: new(uint32(0))}}
	}
	h.PositiveSpan, h.PositiveDelta = spans, deltas
}

// nativeIndex returns the schema-4 bucket of v > 0 seconds: the i with
// 2^((i-1)/16) < v ≤ 2^(i/16).
func nativeIndex(v float64) int {
	return int(math.Ceil(math.Log2(v) * (1 << telemetry.NativeSchema)))
}
