package telemetry

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram's buckets are log-linear, as in HdrHistogram: values are
// microseconds; below 16 µs every value has its own bucket, and each
// power of two above is cut into 16 equal buckets, so a bucket is at most
// 1/16 of its lower bound wide and a reported quantile is within about 3 %
// of the true value. Values of 2^31 µs (about 36 minutes) and more share
// the last bucket.
const (
	subBits    = 4
	subCount   = 1 << subBits // buckets per power of two
	maxShift   = 26
	numBuckets = (maxShift + 2) * subCount // 448
)

// numChunks is the number of chunks of subCount buckets: one for the
// exact range, then one per power of two.
const numChunks = numBuckets / subCount // 28

// histChunk is one power of two's buckets.
type histChunk [subCount]atomic.Uint64

// Histogram is a latency histogram safe for concurrent use. Record costs
// two uncontended atomic adds and no allocation once the value's power of
// two has been seen; the zero value is ready. Bucket storage is allocated
// lazily, one power of two (16 buckets, 128 bytes) at a time, so a scope
// whose latencies span a few octaves holds a few hundred bytes, not the
// 3.5 KB of all 448 buckets.
type Histogram struct {
	chunks [numChunks]atomic.Pointer[histChunk]
	sumNs  atomic.Int64
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d) / 1000)
	c := h.chunks[i>>subBits].Load()
	if c == nil {
		c = h.grow(i >> subBits)
	}
	c[i&(subCount-1)].Add(1)
	h.sumNs.Add(int64(d))
}

// grow allocates chunk k once; concurrent callers share the winner's.
func (h *Histogram) grow(k int) *histChunk {
	c := new(histChunk)
	if h.chunks[k].CompareAndSwap(nil, c) {
		return c
	}
	return h.chunks[k].Load()
}

// Snapshot copies the histogram's counts. Concurrent Records may or may
// not be included; each is either wholly in or wholly out of a bucket.
func (h *Histogram) Snapshot() *HistogramSnapshot {
	s := new(HistogramSnapshot)
	h.snapshotInto(s)
	return s
}

func (h *Histogram) snapshotInto(s *HistogramSnapshot) {
	s.Count = 0
	for k := range h.chunks {
		c := h.chunks[k].Load()
		for j := 0; j < subCount; j++ {
			var n uint64
			if c != nil {
				n = c[j].Load()
			}
			s.Counts[k<<subBits+j] = n
			s.Count += n
		}
	}
	s.Sum = time.Duration(h.sumNs.Load())
}

// histBase is a compact copy of a histogram's counts, kept as the base of
// the quantile window: only the chunks that hold observations.
type histBase struct {
	mask   uint32   // bit k: chunk k is present in counts
	counts []uint64 // subCount per present chunk, in chunk order
	sum    time.Duration
}

// baseOf returns s as a compact base, reusing b's memory when it can.
func baseOf(s *HistogramSnapshot, b *histBase) *histBase {
	if b == nil {
		b = new(histBase)
	}
	b.mask, b.counts, b.sum = 0, b.counts[:0], s.Sum
	for k := 0; k < numChunks; k++ {
		chunk := s.Counts[k<<subBits : (k+1)<<subBits]
		for _, n := range chunk {
			if n != 0 {
				b.mask |= 1 << k
				b.counts = append(b.counts, chunk...)
				break
			}
		}
	}
	b.counts = b.counts[:len(b.counts):len(b.counts)]
	return b
}

// subBase returns the observations in s that are not in base, an earlier
// copy of the same histogram; a nil base means none.
func (s *HistogramSnapshot) subBase(base *histBase) *HistogramSnapshot {
	d := *s
	if base == nil {
		return &d
	}
	at := 0
	for k := 0; k < numChunks; k++ {
		if base.mask&(1<<k) == 0 {
			continue
		}
		for j := 0; j < subCount; j++ {
			i := k<<subBits + j
			n := min(base.counts[at+j], d.Counts[i])
			d.Counts[i] -= n
			d.Count -= n
		}
		at += subCount
	}
	d.Sum -= base.sum
	return &d
}

// bucketOf returns the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us < subCount {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	if shift > maxShift {
		return numBuckets - 1
	}
	return (shift+1)<<subBits + int(us>>uint(shift)) - subCount
}

// bucketBounds returns bucket i's range in microseconds, [lo, hi).
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i) + 1
	}
	shift := uint(i>>subBits - 1)
	m := uint64(i&(subCount-1) + subCount)
	return m << shift, (m + 1) << shift
}

// HistogramSnapshot is a copy of a Histogram's counts, or the difference
// of two copies (the observations made between them).
type HistogramSnapshot struct {
	// Counts holds each bucket's count.
	Counts [numBuckets]uint64
	// Count is the number of observations.
	Count uint64
	// Sum is the sum of the observations (exact, not bucketed).
	Sum time.Duration
}

// Add adds o's observations to s.
func (s *HistogramSnapshot) Add(o *HistogramSnapshot) {
	if o == nil {
		return
	}
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Count += o.Count
	s.Sum += o.Sum
}

// Sub returns the observations in s that are not in base, an earlier
// snapshot of the same histogram; a nil base means none.
func (s *HistogramSnapshot) Sub(base *HistogramSnapshot) *HistogramSnapshot {
	d := *s
	if base == nil {
		return &d
	}
	d.Count = 0
	for i := range d.Counts {
		d.Counts[i] -= min(base.Counts[i], d.Counts[i])
		d.Count += d.Counts[i]
	}
	d.Sum -= base.Sum
	return &d
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the observations: the
// middle of the bucket holding the observation of rank ⌈q·Count⌉. It is
// 0 when there are none. Quantile(1) is the same as Max.
func (s *HistogramSnapshot) Quantile(q float64) time.Duration {
	if s == nil || s.Count == 0 {
		return 0
	}
	if q >= 1 {
		return s.Max()
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	rank = max(rank, 1)
	var seen uint64
	for i, n := range s.Counts {
		seen += n
		if seen >= rank {
			lo, hi := bucketBounds(i)
			return time.Duration(lo+(hi-lo)/2) * time.Microsecond
		}
	}
	return s.Max()
}

// Max returns the upper bound of the highest non-empty bucket: at least
// the largest observation and within 1/16 of it (the last, open-ended
// bucket reports its lower bound, about 36 minutes). It is 0 when there
// are no observations.
func (s *HistogramSnapshot) Max() time.Duration {
	if s == nil {
		return 0
	}
	for i := numBuckets - 1; i >= 0; i-- {
		if s.Counts[i] != 0 {
			lo, hi := bucketBounds(i)
			if i == numBuckets-1 {
				return time.Duration(lo) * time.Microsecond // open-ended
			}
			return time.Duration(hi) * time.Microsecond
		}
	}
	return 0
}

// Mean returns the mean of the observations, 0 when there are none.
func (s *HistogramSnapshot) Mean() time.Duration {
	if s == nil || s.Count == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Count)
}
