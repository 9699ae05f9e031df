package accrual_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
)

// t0 is the fake clocks' start time.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// backoff returns the default 5s…300s backoff with jitter fixed at 0.5,
// so its delays are 5s, 7.5s, 15s, 30s, …
func backoff(t *testing.T) accrual.Backoff {
	t.Helper()
	b, err := accrual.NewBackoff(5*s, 300*s, constRand(0.5))
	require.NoError(t, err)
	return b
}

// verdict is one MarkDeadOnFailure result.
type verdict struct {
	d    time.Duration
	dead bool
}

func fail(p accrual.Policy) verdict {
	d, dead := p.MarkDeadOnFailure()
	return verdict{d, dead}
}

var alive = verdict{}

func TestNewConsecutiveFailuresValidates(t *testing.T) {
	_, err := accrual.NewConsecutiveFailures(0, backoff(t))
	require.ErrorContains(t, err, "consecutive failures 0 is below 1")
}

func TestConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name string
		run  func(p accrual.Policy) []verdict
		want []verdict
	}{
		{
			name: "dead on the fifth failure in a row, longer on each further one",
			run: func(p accrual.Policy) []verdict {
				return []verdict{fail(p), fail(p), fail(p), fail(p), fail(p), fail(p), fail(p)}
			},
			want: []verdict{alive, alive, alive, alive, {5 * s, true}, {7500 * time.Millisecond, true}, {15 * s, true}},
		},
		{
			name: "a success breaks the run",
			run: func(p accrual.Policy) []verdict {
				v := []verdict{fail(p), fail(p), fail(p), fail(p)}
				p.RecordSuccess()
				return append(v, fail(p), fail(p), fail(p), fail(p), fail(p))
			},
			want: []verdict{alive, alive, alive, alive, alive, alive, alive, alive, {5 * s, true}},
		},
		{
			name: "revival resets the run and the backoff",
			run: func(p accrual.Policy) []verdict {
				for range 6 {
					fail(p) // dead twice: 5s, then 7.5s
				}
				p.Revived()
				return []verdict{fail(p), fail(p), fail(p), fail(p), fail(p)}
			},
			want: []verdict{alive, alive, alive, alive, {5 * s, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := accrual.NewConsecutiveFailures(5, backoff(t))
			require.NoError(t, err)
			assert.Equal(t, tt.want, tt.run(p))
		})
	}
}

func TestNewSuccessRateValidates(t *testing.T) {
	tests := []struct {
		name        string
		required    float64
		window      time.Duration
		minRequests int
		wantErr     string
	}{
		{name: "zero rate", required: 0, window: 30 * s, minRequests: 5, wantErr: "rate 0 is outside (0, 1]"},
		{name: "rate above 1", required: 1.5, window: 30 * s, minRequests: 5, wantErr: "rate 1.5 is outside (0, 1]"},
		{name: "tiny window", required: 0.8, window: 5, minRequests: 5, wantErr: "window 5ns is too short"},
		{name: "no minimum", required: 0.8, window: 30 * s, minRequests: 0, wantErr: "minimum requests 0 is below 1"},
		{name: "valid", required: 0.8, window: 30 * s, minRequests: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := accrual.NewSuccessRate(tt.required, tt.window, tt.minRequests, backoff(t), clock.NewFake(t0))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestSuccessRate(t *testing.T) {
	tests := []struct {
		name string
		run  func(p *accrual.SuccessRate, clk *clock.Fake) []verdict
		want []verdict
	}{
		{
			name: "not before the minimum number of requests",
			run: func(p *accrual.SuccessRate, _ *clock.Fake) []verdict {
				return []verdict{fail(p), fail(p), fail(p), fail(p), fail(p)}
			},
			want: []verdict{alive, alive, alive, alive, {5 * s, true}},
		},
		{
			name: "4 of 5 is exactly the required rate, 4 of 6 is below",
			run: func(p *accrual.SuccessRate, _ *clock.Fake) []verdict {
				for range 4 {
					p.RecordSuccess()
				}
				return []verdict{fail(p), fail(p)}
			},
			want: []verdict{alive, {5 * s, true}},
		},
		{
			name: "failures that slid out of the window no longer count",
			run: func(p *accrual.SuccessRate, clk *clock.Fake) []verdict {
				v := []verdict{fail(p), fail(p), fail(p), fail(p)}
				clk.Advance(30 * s) // all four are now outside the window
				return append(v, fail(p), fail(p), fail(p), fail(p), fail(p))
			},
			want: []verdict{alive, alive, alive, alive, alive, alive, alive, alive, {5 * s, true}},
		},
		{
			name: "failures within the window still count",
			run: func(p *accrual.SuccessRate, clk *clock.Fake) []verdict {
				v := []verdict{fail(p), fail(p), fail(p), fail(p)}
				clk.Advance(27 * s) // last bucket still in the window
				return append(v, fail(p))
			},
			want: []verdict{alive, alive, alive, alive, {5 * s, true}},
		},
		{
			name: "every further failure while below the rate backs off longer",
			run: func(p *accrual.SuccessRate, _ *clock.Fake) []verdict {
				for range 4 {
					fail(p)
				}
				return []verdict{fail(p), fail(p), fail(p)}
			},
			want: []verdict{{5 * s, true}, {7500 * time.Millisecond, true}, {15 * s, true}},
		},
		{
			name: "revival forgets the window and the backoff",
			run: func(p *accrual.SuccessRate, _ *clock.Fake) []verdict {
				for range 6 {
					fail(p)
				}
				p.Revived()
				return []verdict{fail(p), fail(p), fail(p), fail(p), fail(p)}
			},
			want: []verdict{alive, alive, alive, alive, {5 * s, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			p, err := accrual.NewSuccessRate(0.8, 30*s, 5, backoff(t), clk)
			require.NoError(t, err)
			assert.Equal(t, tt.want, tt.run(p, clk))
		})
	}
}

func TestSuccessRateRate(t *testing.T) {
	clk := clock.NewFake(t0)
	p, err := accrual.NewSuccessRate(0.8, 30*s, 5, backoff(t), clk)
	require.NoError(t, err)
	rate, n := p.Rate()
	assert.Equal(t, 1.0, rate)
	assert.Equal(t, 0, n)
	p.RecordSuccess()
	p.RecordSuccess()
	p.RecordSuccess()
	fail(p)
	rate, n = p.Rate()
	assert.Equal(t, 0.75, rate)
	assert.Equal(t, 4, n)
	clk.Advance(-time.Minute) // a clock stepping back does not panic
	_, n = p.Rate()
	assert.Equal(t, 0, n)
}

// recorder is a policy that records calls and returns a fixed verdict.
type recorder struct {
	verdict
	calls []string
}

func (r *recorder) RecordSuccess() { r.calls = append(r.calls, "success") }
func (r *recorder) MarkDeadOnFailure() (time.Duration, bool) {
	r.calls = append(r.calls, "failure")
	return r.d, r.dead
}
func (r *recorder) Revived() { r.calls = append(r.calls, "revived") }

func TestCombine(t *testing.T) {
	tests := []struct {
		name string
		a, b verdict
		want verdict
	}{
		{name: "neither", a: alive, b: alive, want: alive},
		{name: "first", a: verdict{5 * s, true}, b: alive, want: verdict{5 * s, true}},
		{name: "second", a: alive, b: verdict{7 * s, true}, want: verdict{7 * s, true}},
		{name: "both: the longer backoff", a: verdict{5 * s, true}, b: verdict{9 * s, true}, want: verdict{9 * s, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := &recorder{verdict: tt.a}, &recorder{verdict: tt.b}
			p := accrual.Combine(a, b)
			p.RecordSuccess()
			assert.Equal(t, tt.want, fail(p))
			p.Revived()
			want := []string{"success", "failure", "revived"}
			assert.Equal(t, want, a.calls, "every policy sees every outcome")
			assert.Equal(t, want, b.calls, "every policy sees every outcome")
		})
	}
}

func TestCombineDegenerate(t *testing.T) {
	assert.Equal(t, alive, fail(accrual.Combine()), "no policy never marks dead")
	r := &recorder{verdict: verdict{s, true}}
	assert.Same(t, r, accrual.Combine(r), "one policy is returned as is")
}

func TestNever(t *testing.T) {
	p := accrual.Never()
	for range 100 {
		require.Equal(t, alive, fail(p))
	}
	p.RecordSuccess()
	p.Revived()
}
