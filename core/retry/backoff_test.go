package retry_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/retry"
)

// sequence returns the first n waits of b, each fed the previous one.
func sequence(b retry.Backoff, n int) []time.Duration {
	waits := make([]time.Duration, n)
	var prev time.Duration
	for i := range waits {
		prev = b.Next(prev)
		waits[i] = prev
	}
	return waits
}

func seeded(seed uint64) func(int64) int64 { return rand.New(rand.NewPCG(seed, 0)).Int64N }

func TestDecorrelatedJitterStaysWithinBounds(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{"defaults", retry.DefaultBackoffMin, retry.DefaultBackoffMax},
		{"tight", time.Millisecond, 2 * time.Millisecond},
		{"equal", 50 * time.Millisecond, 50 * time.Millisecond},
		{"wide", time.Nanosecond, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(50) {
				b, err := retry.NewDecorrelatedJitter(tt.min, tt.max, seeded(seed))
				require.NoError(t, err)
				waits := sequence(b, 40)
				assert.Less(t, waits[0], max(3*tt.min, tt.min+1), "first wait is below 3×min")
				for i, w := range waits {
					require.GreaterOrEqual(t, w, tt.min, "seed %d wait %d", seed, i)
					require.LessOrEqual(t, w, tt.max, "seed %d wait %d", seed, i)
				}
			}
		})
	}
}

func TestDecorrelatedJitterIsDeterministicWithASeed(t *testing.T) {
	mk := func(seed uint64) []time.Duration {
		b, err := retry.NewDecorrelatedJitter(10*time.Millisecond, 10*time.Second, seeded(seed))
		require.NoError(t, err)
		return sequence(b, 20)
	}
	assert.Equal(t, mk(42), mk(42))
	assert.NotEqual(t, mk(42), mk(43))
}

func TestDecorrelatedJitterFormula(t *testing.T) {
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	var asked []int64
	recording := func(n int64) int64 { asked = append(asked, n); return n / 2 }
	ms := time.Millisecond
	tests := []struct {
		name   string
		int64n func(int64) int64
		want   []time.Duration
	}{
		{"lowest draw is always min", lowest, []time.Duration{10 * ms, 10 * ms, 10 * ms}},
		{"highest draw: next = 3×prev − 1ns, up to the cap", highest, []time.Duration{30*ms - 1, 90*ms - 4, 270*ms - 13, 810*ms - 40, time.Second, time.Second}},
		{"middle draw", recording, []time.Duration{20 * ms, 35 * ms, 57500 * time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := retry.NewDecorrelatedJitter(10*ms, time.Second, tt.int64n)
			require.NoError(t, err)
			assert.Equal(t, tt.want, sequence(b, len(tt.want)))
		})
	}
	// uniform in [min, 3×prev): the span asked for is 3×prev − min.
	assert.Equal(t, []int64{int64(20 * ms), int64(50 * ms), int64(95 * ms)}, asked)
}

func TestDecorrelatedJitterEdges(t *testing.T) {
	b, err := retry.NewDecorrelatedJitter(10*time.Millisecond, time.Second, nil)
	require.NoError(t, err, "nil means math/rand/v2")
	assert.Equal(t, 10*time.Millisecond, b.Min())
	assert.Equal(t, time.Second, b.Max())
	for _, prev := range []time.Duration{-time.Second, 0, time.Nanosecond, time.Hour, math.MaxInt64} {
		w := b.Next(prev)
		assert.GreaterOrEqual(t, w, 10*time.Millisecond, "prev %v", prev)
		assert.LessOrEqual(t, w, time.Second, "prev %v", prev)
	}

	zero, err := retry.NewDecorrelatedJitter(0, time.Second, nil)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{0, 0, 0}, sequence(zero, 3), "min 0 disables waiting")
}

func TestNewDecorrelatedJitterErrors(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{"negative min", -time.Millisecond, time.Second},
		{"max below min", time.Second, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := retry.NewDecorrelatedJitter(tt.min, tt.max, nil)
			require.ErrorContains(t, err, "retry: backoff min")
			assert.ErrorContains(t, err, "want 0 ≤ min ≤ max")
		})
	}
}

func TestNoWait(t *testing.T) {
	assert.Equal(t, []time.Duration{0, 0, 0}, sequence(retry.NoWait{}, 3))
	assert.Zero(t, retry.NoWait{}.Next(time.Hour))
}
