package promexport

import (
	"math"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

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
	var cum uint64
	next := 0 // internal bucket to add next
	for k, idx := range telemetry.ClassicBuckets.Index {
		for ; next < idx; next++ {
			cum += s.Counts[next]
		}
		counts[k] = cum
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
