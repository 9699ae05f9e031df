package promexport

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// latencyMetric is a const histogram carrying classic buckets and, when
// asked, native buckets in the same sample, as client_golang's own
// histograms do; promhttp writes whichever the negotiated format holds.
type latencyMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      dto.Histogram
}

func newLatencyMetric(desc *prometheus.Desc, s *telemetry.HistogramSnapshot, native bool, created time.Time, labels []string) prometheus.Metric {
	m := &latencyMetric{desc: desc, labels: prometheus.MakeLabelPairs(desc, labels)}
	count, sum := s.Count, s.Sum.Seconds()
	m.h.SampleCount, m.h.SampleSum = &count, &sum
	m.h.CreatedTimestamp = timestamppb.New(created)

	buckets := make([]dto.Bucket, len(telemetry.ClassicBuckets.Index))
	m.h.Bucket = make([]*dto.Bucket, len(telemetry.ClassicBuckets.Index))
	var cum uint64
	next := 0 // internal bucket to add next
	for k, idx := range telemetry.ClassicBuckets.Index {
		for ; next < idx; next++ {
			cum += s.Counts[next]
		}
		c := cum
		buckets[k] = dto.Bucket{CumulativeCount: &c, UpperBound: &telemetry.ClassicBuckets.Le[k]}
		m.h.Bucket[k] = &buckets[k]
	}
	if native {
		m.addNative(s)
	}
	return m
}

// addNative fills the native-histogram fields from the internal buckets.
func (m *latencyMetric) addNative(s *telemetry.HistogramSnapshot) {
	schema, zt, zero := int32(telemetry.NativeSchema), float64(telemetry.NativeZeroThreshold), s.Counts[0]
	m.h.Schema, m.h.ZeroThreshold, m.h.ZeroCount = &schema, &zt, &zero
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
	m.h.PositiveSpan, m.h.PositiveDelta = spans, deltas
}

// nativeIndex returns the schema-4 bucket of v > 0 seconds: the i with
// 2^((i-1)/16) < v ≤ 2^(i/16).
func nativeIndex(v float64) int {
	return int(math.Ceil(math.Log2(v) * (1 << telemetry.NativeSchema)))
}

// Desc returns the family's description.
func (m *latencyMetric) Desc() *prometheus.Desc { return m.desc }

// Write fills out with the histogram.
func (m *latencyMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Histogram = &m.h
	return nil
}

var _ prometheus.Metric = (*latencyMetric)(nil)
