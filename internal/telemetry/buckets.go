package telemetry

import "strconv"

// The latency histograms as /metrics serves them (the exposition in
// internal/telemetry/promexport renders them from Family.Metrics' Hist).

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
	"native buckets (schema " + strconv.Itoa(NativeSchema) + ") in protobuf scrapes."

// ClassicBuckets are the classic buckets of the latency histograms: the
// internal bucket index that starts at each one's upper bound (Index), and
// the bound in seconds (Le).
var ClassicBuckets = func() (b struct {
	Index []int
	Le    []float64
}) {
	for sh := classicMinShift; sh <= classicMaxShift; sh += classicStep {
		us := uint64(1) << sh
		b.Index = append(b.Index, bucketOf(us))
		b.Le = append(b.Le, float64(us)/1e6)
	}
	return b
}()

// Native buckets: schema 4 splits each power of two into 16 buckets
// (bounds 2^(i/16) seconds), the internal histogram's resolution. The
// internal buckets' bounds are powers of two of microseconds, not of
// seconds, so each internal bucket is counted in the native bucket that
// holds its midpoint: a native quantile is within one native bucket plus
// half an internal one (about 7 %) of the internal histogram's. Internal
// bucket 0 (below 1 µs) is the zero bucket.
const (
	// NativeSchema is the native histograms' schema.
	NativeSchema = 4
	// NativeZeroThreshold is the native histograms' zero bucket, in
	// seconds.
	NativeZeroThreshold = 1e-6
)

// NumBuckets is the number of internal histogram buckets
// (HistogramSnapshot.Counts).
const NumBuckets = numBuckets

// BucketBounds returns internal bucket i's bounds in microseconds: lo
// inclusive, hi exclusive.
func BucketBounds(i int) (lo, hi uint64) { return bucketBounds(i) }
