package retry_test

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/retry"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newBudget returns a budget on a fake clock that starts at t0.
func newBudget(t *testing.T, cfg retry.BudgetConfig) (*retry.Budget, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(t0)
	cfg.Clock = fake
	b, err := retry.NewBudget(cfg)
	require.NoError(t, err)
	return b, fake
}

// withdrawAll withdraws until the budget refuses and returns how many
// withdrawals succeeded.
func withdrawAll(b *retry.Budget) int {
	n := 0
	for b.TryWithdraw() {
		n++
	}
	return n
}

func TestBudgetDefaultsReserve(t *testing.T) {
	b, _ := newBudget(t, retry.DefaultBudgetConfig())
	assert.Equal(t, 100, b.Balance(), "reserve = minRetriesPerSec 10 × ttl 10s")
	assert.Equal(t, 100, withdrawAll(b))
	assert.Equal(t, 0, b.Balance())
	assert.Equal(t, uint64(1), b.Exhausted(), "the refused withdrawal is counted")
	assert.False(t, b.TryWithdraw())
	assert.Equal(t, uint64(2), b.Exhausted())
}

func TestBudgetDepositsEarnPercent(t *testing.T) {
	tests := []struct {
		name     string
		cfg      retry.BudgetConfig
		deposits int
		want     int
	}{
		{"defaults, 10 requests earn 2 retries", retry.DefaultBudgetConfig(), 10, 102},
		{"defaults, 4 requests earn nothing yet", retry.DefaultBudgetConfig(), 4, 100},
		{"defaults, 1000 requests earn 200", retry.DefaultBudgetConfig(), 1000, 300},
		{"no reserve, 20%", retry.BudgetConfig{TTL: 10 * time.Second, PercentCanRetry: 0.2}, 5, 1},
		{"no reserve, 50%", retry.BudgetConfig{TTL: 10 * time.Second, PercentCanRetry: 0.5}, 7, 3},
		{"no reserve, 100%", retry.BudgetConfig{TTL: 10 * time.Second, PercentCanRetry: 1}, 7, 7},
		{"reserve only, deposits worthless", retry.BudgetConfig{TTL: 2 * time.Second, MinRetriesPerSec: 3}, 1000, 6},
		{"empty budget", retry.BudgetConfig{TTL: 10 * time.Second}, 1000, 0},
		{"zero TTL means 10s", retry.BudgetConfig{MinRetriesPerSec: 1}, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBudget(t, tt.cfg)
			for range tt.deposits {
				b.Deposit()
			}
			assert.Equal(t, tt.want, b.Balance())
			assert.Equal(t, tt.want, withdrawAll(b))
			assert.Equal(t, uint64(1), b.Exhausted())
		})
	}
}

func TestBudgetDepositsExpireAfterTTL(t *testing.T) {
	b, fake := newBudget(t, retry.DefaultBudgetConfig())
	for range 50 {
		b.Deposit()
	}
	require.Equal(t, 110, b.Balance())

	fake.Advance(10*time.Second - time.Nanosecond)
	assert.Equal(t, 110, b.Balance(), "a deposit counts for the whole ttl")
	fake.Advance(time.Nanosecond)
	assert.Equal(t, 100, b.Balance(), "and not after it")
}

func TestBudgetExpiryIsPerSlice(t *testing.T) {
	// Deposits in the second slice (1s..2s) outlive those of the first.
	b, fake := newBudget(t, retry.DefaultBudgetConfig())
	for range 10 {
		b.Deposit()
	}
	fake.Advance(1500 * time.Millisecond)
	for range 20 {
		b.Deposit()
	}
	require.Equal(t, 106, b.Balance())
	fake.Set(t0.Add(10 * time.Second))
	assert.Equal(t, 104, b.Balance(), "the first slice expired at t0+10s")
	fake.Set(t0.Add(11*time.Second - time.Nanosecond))
	assert.Equal(t, 104, b.Balance())
	fake.Set(t0.Add(11 * time.Second))
	assert.Equal(t, 100, b.Balance(), "the second slice expired at t0+11s")
}

func TestBudgetWithdrawalsExpire(t *testing.T) {
	b, fake := newBudget(t, retry.DefaultBudgetConfig())
	require.Equal(t, 100, withdrawAll(b))
	fake.Advance(5 * time.Second)
	assert.False(t, b.TryWithdraw(), "retries in the last ttl still count")
	fake.Advance(5 * time.Second)
	assert.Equal(t, 100, b.Balance(), "after ttl the reserve is back")
	assert.Equal(t, uint64(2), b.Exhausted(), "withdrawAll's refusal and the one at 5s")
}

func TestBudgetGoesNegativeWhenDepositsExpireFirst(t *testing.T) {
	b, fake := newBudget(t, retry.BudgetConfig{TTL: 10 * time.Second, MinRetriesPerSec: 10, PercentCanRetry: 0.5})
	for range 10 {
		b.Deposit()
	}
	fake.Advance(5 * time.Second)
	require.Equal(t, 105, withdrawAll(b))
	fake.Advance(5 * time.Second)
	assert.Equal(t, -5, b.Balance(), "the 5 retries paid by expired deposits are still in the window")
	assert.False(t, b.TryWithdraw())
	fake.Advance(5 * time.Second)
	assert.Equal(t, 100, b.Balance())
}

func TestBudgetLongIdleAndClockJumps(t *testing.T) {
	b, fake := newBudget(t, retry.DefaultBudgetConfig())
	for range 100 {
		b.Deposit()
	}
	require.Equal(t, 120, b.Balance())
	fake.Set(t0.Add(-time.Hour))
	assert.Equal(t, 120, b.Balance(), "a clock going backwards is no time passing")
	fake.Set(t0.Add(3 * time.Second))
	assert.Equal(t, 120, b.Balance())
	fake.Set(t0.Add(24 * time.Hour)) // a Lambda frozen for a day
	assert.Equal(t, 100, b.Balance())
	for range 5 {
		b.Deposit()
	}
	assert.Equal(t, 101, b.Balance())
}

func TestBudgetRealClock(t *testing.T) {
	cfg := retry.DefaultBudgetConfig()
	b, err := retry.NewBudget(cfg)
	require.NoError(t, err)
	b.Deposit()
	assert.True(t, b.TryWithdraw())
}

func TestBudgetConcurrent(t *testing.T) {
	b, fake := newBudget(t, retry.DefaultBudgetConfig())
	const workers, perWorker = 8, 125 // 1000 deposits: 200 retries + reserve 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				b.Deposit()
				_ = fake.Now()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 300, b.Balance())

	var ok, refused atomic.Int64
	for range workers {
		wg.Go(func() {
			for range 100 {
				if b.TryWithdraw() {
					ok.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(300), ok.Load())
	assert.Equal(t, int64(500), refused.Load())
	assert.Equal(t, uint64(500), b.Exhausted())
}

func TestBudgetConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     retry.BudgetConfig
		wantErr []string
	}{
		{"defaults", retry.DefaultBudgetConfig(), nil},
		{"zero value", retry.BudgetConfig{}, nil},
		{"bounds", retry.BudgetConfig{TTL: time.Second, PercentCanRetry: 1}, nil},
		{"ttl max", retry.BudgetConfig{TTL: time.Minute, PercentCanRetry: 1e-6}, nil},
		{"ttl too short", retry.BudgetConfig{TTL: 999 * time.Millisecond}, []string{"TTL 999ms out of range (want 1s to 60s, or 0 for 10s)"}},
		{"ttl too long", retry.BudgetConfig{TTL: 61 * time.Second}, []string{"TTL 1m1s out of range"}},
		{"negative min", retry.BudgetConfig{MinRetriesPerSec: -1}, []string{"MinRetriesPerSec -1 is negative"}},
		{"percent above 1", retry.BudgetConfig{PercentCanRetry: 20}, []string{"PercentCanRetry 20 out of range (want a fraction from 0 to 1"}},
		{"percent negative", retry.BudgetConfig{PercentCanRetry: -0.1}, []string{"PercentCanRetry -0.1"}},
		{"percent NaN", retry.BudgetConfig{PercentCanRetry: math.NaN()}, []string{"PercentCanRetry NaN"}},
		{"percent tiny", retry.BudgetConfig{PercentCanRetry: 1e-9}, []string{"PercentCanRetry 1e-09"}},
		{"all at once", retry.BudgetConfig{TTL: -1, MinRetriesPerSec: -1, PercentCanRetry: 2}, []string{"TTL", "MinRetriesPerSec", "PercentCanRetry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			_, newErr := retry.NewBudget(tt.cfg)
			if tt.wantErr == nil {
				assert.NoError(t, err)
				assert.NoError(t, newErr)
				return
			}
			for _, w := range tt.wantErr {
				assert.ErrorContains(t, err, w)
				assert.ErrorContains(t, newErr, w)
			}
		})
	}
}

func TestBudgetExtremeConfigsDoNotOverflow(t *testing.T) {
	b, _ := newBudget(t, retry.BudgetConfig{TTL: time.Minute, MinRetriesPerSec: math.MaxInt32, PercentCanRetry: 1e-6})
	assert.Positive(t, b.Balance())
	assert.True(t, b.TryWithdraw())
}

func BenchmarkBudgetDepositWithdraw(b *testing.B) {
	budget, err := retry.NewBudget(retry.DefaultBudgetConfig())
	require.NoError(b, err)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			budget.Deposit()
			_ = budget.TryWithdraw()
		}
	})
}
