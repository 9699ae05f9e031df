package accrual_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
)

func TestConfigWithDefaults(t *testing.T) {
	assert.Equal(t, accrual.Config{
		ConsecutiveFailures:    5,
		SuccessRateWindow:      30 * s,
		SuccessRateMinRequests: 5,
		BackoffMin:             5 * s,
		BackoffMax:             300 * s,
	}, accrual.Config{}.WithDefaults())
	custom := accrual.Config{ConsecutiveFailures: -1, SuccessRate: 0.9, SuccessRateWindow: s, SuccessRateMinRequests: 2, BackoffMin: s, BackoffMax: 2 * s}
	assert.Equal(t, custom, custom.WithDefaults())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     accrual.Config
		wantErr []string
	}{
		{name: "zero value", cfg: accrual.Config{}},
		{name: "both policies", cfg: accrual.Config{SuccessRate: 0.8}},
		{name: "consecutive disabled", cfg: accrual.Config{ConsecutiveFailures: -1}},
		{name: "rate above 1", cfg: accrual.Config{SuccessRate: 1.2}, wantErr: []string{"SuccessRate 1.2 is outside [0, 1]"}},
		{name: "negative rate", cfg: accrual.Config{SuccessRate: -0.1}, wantErr: []string{"SuccessRate -0.1"}},
		{name: "negative window", cfg: accrual.Config{SuccessRateWindow: -s}, wantErr: []string{"SuccessRateWindow -1s is shorter than 10ns"}},
		{name: "negative min requests", cfg: accrual.Config{SuccessRateMinRequests: -1}, wantErr: []string{"SuccessRateMinRequests -1 is negative"}},
		{name: "max below min", cfg: accrual.Config{BackoffMin: 10 * time.Minute}, wantErr: []string{"BackoffMax 5m0s is below BackoffMin 10m0s"}},
		{
			name:    "all errors reported",
			cfg:     accrual.Config{BackoffMin: -s, BackoffMax: -s, SuccessRate: 2},
			wantErr: []string{"BackoffMin -1s is negative", "BackoffMax -1s is negative", "SuccessRate 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestNewFactoryRejectsInvalidConfig(t *testing.T) {
	_, err := accrual.NewFactory(accrual.Config{SuccessRate: 3}, nil, nil)
	require.ErrorContains(t, err, "SuccessRate 3")
}

// failuresToDie counts how many failures in a row g takes to die; -1 if
// it survives 100.
func failuresToDie(g *accrual.Gate, now time.Time) int {
	for n := 1; n <= 100; n++ {
		g.Release(now, g.Acquire(now), true)
		if g.State(now) == accrual.StateDead {
			return n
		}
	}
	return -1
}

func TestFactoryPolicies(t *testing.T) {
	tests := []struct {
		name string
		cfg  accrual.Config
		// successes to record before failing
		successes int
		want      int // failures to die, -1 = never
	}{
		{name: "default: 5 consecutive", cfg: accrual.Config{}, want: 5},
		{name: "3 consecutive", cfg: accrual.Config{ConsecutiveFailures: 3}, want: 3},
		{name: "disabled", cfg: accrual.Config{ConsecutiveFailures: -1}, want: -1},
		{name: "success rate alone", cfg: accrual.Config{ConsecutiveFailures: -1, SuccessRate: 0.8}, successes: 8, want: 3},
		{name: "combined: rate first", cfg: accrual.Config{SuccessRate: 0.8}, successes: 8, want: 3},
		{name: "combined: consecutive first", cfg: accrual.Config{SuccessRate: 0.5}, successes: 20, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			f, err := accrual.NewFactory(tt.cfg, clk, constRand(0.5))
			require.NoError(t, err)
			assert.Equal(t, tt.cfg.WithDefaults(), f.Config())
			g := f.NewGate()
			for range tt.successes {
				g.Release(t0, g.Acquire(t0), false)
			}
			assert.Equal(t, tt.want, failuresToDie(g, t0))
			if tt.want > 0 {
				assert.Equal(t, t0.Add(5*s), g.DeadUntil(), "first backoff is BackoffMin")
			}
		})
	}
}
