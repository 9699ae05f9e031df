package accrual_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
)

const s = time.Second

func constRand(x float64) func() float64 { return func() float64 { return x } }

func TestNewBackoffValidates(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		wantErr  string
	}{
		{name: "defaults", min: 5 * s, max: 300 * s},
		{name: "equal", min: s, max: s},
		{name: "zero min", min: 0, max: s, wantErr: "minimum 0s is not positive"},
		{name: "negative min", min: -s, max: s, wantErr: "minimum -1s is not positive"},
		{name: "max below min", min: 2 * s, max: s, wantErr: "maximum 1s is below the minimum 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := accrual.NewBackoff(tt.min, tt.max, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestBackoffSequenceAtJitterExtremes(t *testing.T) {
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{
			name: "lowest jitter is half the ceiling, never below min",
			rand: 0,
			want: []time.Duration{5 * s, 5 * s, 10 * s, 20 * s, 40 * s, 80 * s, 150 * s, 150 * s},
		},
		{
			name: "middle jitter is three quarters of the ceiling",
			rand: 0.5,
			want: []time.Duration{5 * s, 7500 * time.Millisecond, 15 * s, 30 * s, 60 * s, 120 * s, 225 * s, 225 * s},
		},
		{
			name: "jitter near 1 approaches the ceiling",
			rand: 0.999,
			want: []time.Duration{5 * s, 9995 * time.Millisecond, 19990 * time.Millisecond, 39980 * time.Millisecond, 79960 * time.Millisecond, 159920 * time.Millisecond, 299850 * time.Millisecond, 299850 * time.Millisecond},
		},
		{
			name: "a broken source of 1 is clamped to the ceiling",
			rand: 1,
			want: []time.Duration{5 * s, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := accrual.NewBackoff(5*s, 300*s, constRand(tt.rand))
			require.NoError(t, err)
			got := make([]time.Duration, len(tt.want))
			for i := range got {
				got[i] = b.Next()
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffCeiling(t *testing.T) {
	b, err := accrual.NewBackoff(5*s, 300*s, nil)
	require.NoError(t, err)
	want := []time.Duration{5 * s, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s}
	for n, w := range want {
		assert.Equal(t, w, b.Ceiling(n), "attempt %d", n)
	}
	assert.Equal(t, 300*s, b.Ceiling(10_000), "no overflow on huge attempts")
}

// Every delay stays within [min, max] and within its attempt's jitter
// range [ceiling/2, ceiling), and the jitter really spreads over it.
func TestBackoffBoundsAndJitterRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const runs = 2000
	for attempt := 1; attempt <= 8; attempt++ {
		b, err := accrual.NewBackoff(5*s, 300*s, rng.Float64)
		require.NoError(t, err)
		ceil := b.Ceiling(attempt)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range runs {
			b.Reset()
			for range attempt {
				b.Next()
			}
			d := b.Next()
			require.GreaterOrEqual(t, d, max(ceil/2, 5*s), "attempt %d", attempt)
			require.Less(t, d, ceil, "attempt %d", attempt)
			require.LessOrEqual(t, d, 300*s)
			lo, hi = min(lo, d), max(hi, d)
		}
		// 2000 uniform draws come within 1% of both ends of the range.
		span := ceil - max(ceil/2, 5*s)
		assert.Less(t, lo-max(ceil/2, 5*s), span/100, "attempt %d low end", attempt)
		assert.Less(t, ceil-hi, span/100, "attempt %d high end", attempt)
	}
}

func TestBackoffReset(t *testing.T) {
	b, err := accrual.NewBackoff(5*s, 300*s, constRand(0.5))
	require.NoError(t, err)
	b.Next()
	b.Next()
	assert.Equal(t, 2, b.Attempt())
	b.Reset()
	assert.Equal(t, 0, b.Attempt())
	assert.Equal(t, 5*s, b.Next())
}
