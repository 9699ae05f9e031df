package telemetry

import (
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsBucketsAreContiguousAndContainTheirValues(t *testing.T) {
	prevHi := uint64(0)
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketBounds(i)
		require.Equal(t, prevHi, lo, "bucket %d starts where %d ended", i, i-1)
		require.Greater(t, hi, lo)
		// Width is at most 1/16 of the lower bound past the exact range.
		if lo >= subCount {
			require.LessOrEqual(t, (hi-lo)*subCount, lo, "bucket %d [%d,%d) too wide", i, lo, hi)
		}
		require.Equal(t, i, bucketOf(lo), "lower bound of bucket %d", i)
		if i < numBuckets-1 {
			require.Equal(t, i, bucketOf(hi-1), "upper bound of bucket %d", i)
		}
		prevHi = hi
	}
	// Everything past the last bound lands in the last bucket.
	assert.Equal(t, numBuckets-1, bucketOf(1<<40))
	assert.Equal(t, numBuckets-1, bucketOf(^uint64(0)))
}

func TestMetricsHistogramQuantilesWithinBucketError(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 0-100ms", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(100 * time.Millisecond))) }},
		{"exponential mean 5ms", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(5*time.Millisecond)) }},
		{"bimodal 200us/40ms", func(r *rand.Rand) time.Duration {
			if r.IntN(100) < 95 {
				return 200*time.Microsecond + time.Duration(r.Int64N(50_000))
			}
			return 40*time.Millisecond + time.Duration(r.Int64N(5_000_000))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			vals := make([]time.Duration, 20000)
			var sum time.Duration
			for i := range vals {
				vals[i] = tt.gen(r)
				sum += vals[i]
				h.Record(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			s := h.Snapshot()
			require.EqualValues(t, len(vals), s.Count)
			assert.Equal(t, sum, s.Sum)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				exact := vals[int(q*float64(len(vals)))-1]
				got := s.Quantile(q)
				// Bucket resolution 1/16, plus 1µs truncation.
				tol := float64(exact)/16 + float64(time.Microsecond)
				assert.InDelta(t, float64(exact), float64(got), tol, "q=%v exact=%v got=%v", q, exact, got)
			}
			mx := s.Max()
			assert.GreaterOrEqual(t, mx, vals[len(vals)-1].Truncate(time.Microsecond))
			assert.LessOrEqual(t, float64(mx), float64(vals[len(vals)-1])*17/16+float64(time.Microsecond))
			assert.Equal(t, s.Max(), s.Quantile(1))
		})
	}
}

func TestMetricsHistogramEmptyAndEdgeValues(t *testing.T) {
	var h Histogram
	s := h.Snapshot()
	assert.Zero(t, s.Quantile(0.5))
	assert.Zero(t, s.Max())
	assert.Zero(t, s.Mean())
	var nilSnap *HistogramSnapshot
	assert.Zero(t, nilSnap.Quantile(0.9))

	h.Record(-time.Second) // counts as zero
	h.Record(0)
	h.Record(3 * time.Microsecond)
	h.Record(48 * time.Hour) // past the range: last bucket
	s = h.Snapshot()
	assert.EqualValues(t, 4, s.Count)
	assert.Equal(t, time.Duration(0), s.Quantile(0.25))
	assert.Equal(t, 3*time.Microsecond, s.Quantile(0.75))
	lo, _ := bucketBounds(numBuckets - 1)
	assert.Equal(t, time.Duration(lo)*time.Microsecond, s.Max(), "the open-ended bucket reports its lower bound")
}

func TestMetricsHistogramSnapshotSubAndAdd(t *testing.T) {
	var h Histogram
	for i := 0; i < 100; i++ {
		h.Record(time.Millisecond)
	}
	base := h.Snapshot()
	for i := 0; i < 10; i++ {
		h.Record(100 * time.Millisecond)
	}
	d := h.Snapshot().Sub(base)
	assert.EqualValues(t, 10, d.Count)
	assert.Equal(t, time.Second, d.Sum)
	assert.InDelta(t, float64(100*time.Millisecond), float64(d.Quantile(0.5)), float64(100*time.Millisecond)/16)

	all := h.Snapshot().Sub(nil)
	assert.EqualValues(t, 110, all.Count)

	var sum HistogramSnapshot
	sum.Add(base)
	sum.Add(d)
	sum.Add(nil)
	assert.Equal(t, all.Counts, sum.Counts)
	assert.Equal(t, all.Count, sum.Count)
	assert.Equal(t, all.Sum, sum.Sum)
}

func TestMetricsHistogramConcurrentRecordsAllCounted(t *testing.T) {
	var h Histogram
	const workers, per = 8, 5000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				h.Record(time.Duration(w*per+i) * time.Microsecond)
			}
		}(w)
	}
	// Snapshots taken while writing never see more than was written.
	for i := 0; i < 10; i++ {
		assert.LessOrEqual(t, h.Snapshot().Count, uint64(workers*per))
	}
	wg.Wait()
	assert.EqualValues(t, workers*per, h.Snapshot().Count)
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := 1234 * time.Microsecond
		for pb.Next() {
			h.Record(d)
		}
	})
}
