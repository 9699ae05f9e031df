package telemetry

import (
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Classic buckets: a subset of the internal histogram's bucket bounds (all
// 448 would make every histogram 448 lines). The bounds are the powers of
// two of microseconds from 2^classicMinShift to 2^classicMaxShift, each the
// lower bound of an internal bucket, so every classic bucket's count is
// exact (an observation is counted under le=b when it is below b µs).
const (
	classicMinShift = 8  // 256 µs
	classicMaxShift = 24 // about 16.8 s
	classicStep     = 2  // every other power of two: ×4 per bucket
)

// latencyBucketsHelp is the part of the latency families' help that
// describes the buckets.
var latencyBucketsHelp = "Classic buckets le=" + strconv.FormatFloat(float64(uint64(1)<<classicMinShift)/1e6, 'g', -1, 64) +
	"s to " + strconv.FormatFloat(float64(uint64(1)<<classicMaxShift)/1e6, 'g', -1, 64) +
	"s at x" + strconv.Itoa(1<<classicStep) + " steps (powers of two of microseconds, exact bounds of the internal histogram); " +
	"native buckets (schema " + strconv.Itoa(nativeSchema) + ") in protobuf scrapes."

// classicBuckets are the internal bucket indices that start each classic
// bucket's upper bound, and the bounds in seconds.
var classicIdx, classicLe = func() ([]int, []float64) {
	var idx []int
	var le []float64
	for sh := classicMinShift; sh <= classicMaxShift; sh += classicStep {
		us := uint64(1) << sh
		idx = append(idx, bucketOf(us))
		le = append(le, float64(us)/1e6)
	}
	return idx, le
}()

// Native buckets: schema 4 splits each power of two into 16 buckets
// (bounds 2^(i/16) seconds), the internal histogram's resolution. The
// internal buckets' bounds are powers of two of microseconds, not of
// seconds, so each internal bucket is counted in the native bucket that
// holds its midpoint: a native quantile is within one native bucket plus
// half an internal one (about 7 %) of the internal histogram's. Internal
// bucket 0 (below 1 µs) is the zero bucket.
const (
	nativeSchema        = 4
	nativeZeroThreshold = 1e-6 // seconds
)

// latencyMetric is a const histogram carrying classic buckets and, when
// asked, native buckets in the same sample, as client_golang's own
// histograms do; promhttp writes whichever the negotiated format holds.
type latencyMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      dto.Histogram
}

func newLatencyMetric(desc *prometheus.Desc, s *HistogramSnapshot, native bool, created time.Time, labels []string) prometheus.Metric {
	m := &latencyMetric{desc: desc, labels: prometheus.MakeLabelPairs(desc, labels)}
	count, sum := s.Count, s.Sum.Seconds()
	m.h.SampleCount, m.h.SampleSum = &count, &sum
	m.h.CreatedTimestamp = timestamppb.New(created)

	buckets := make([]dto.Bucket, len(classicIdx))
	m.h.Bucket = make([]*dto.Bucket, len(classicIdx))
	var cum uint64
	next := 0 // internal bucket to add next
	for k, idx := range classicIdx {
		for ; next < idx; next++ {
			cum += s.Counts[next]
		}
		c := cum
		buckets[k] = dto.Bucket{CumulativeCount: &c, UpperBound: &classicLe[k]}
		m.h.Bucket[k] = &buckets[k]
	}
	if native {
		m.addNative(s)
	}
	return m
}

// addNative fills the native-histogram fields from the internal buckets.
func (m *latencyMetric) addNative(s *HistogramSnapshot) {
	schema, zt, zero := int32(nativeSchema), float64(nativeZeroThreshold), s.Counts[0]
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
	for i := 1; i < numBuckets; i++ {
		n := s.Counts[i]
		if n == 0 {
			continue
		}
		lo, hi := bucketBounds(i)
		if i == numBuckets-1 {
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
	return int(math.Ceil(math.Log2(v) * (1 << nativeSchema)))
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
