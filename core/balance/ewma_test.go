package balance

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	ms  = float64(time.Millisecond)
	tau = float64(10 * time.Second)
)

// obs is one observation: rtt (ns) at t0+at.
type obs struct {
	rtt float64
	at  time.Duration
}

func TestPeakEWMAObserve(t *testing.T) {
	e1 := math.Exp(-1) // w after τ
	tests := []struct {
		name string
		obs  []obs
		want float64
	}{
		{name: "first observation is taken as is", obs: []obs{{100 * ms, 0}}, want: 100 * ms},
		{name: "a higher rtt jumps to the peak at once", obs: []obs{{100 * ms, 0}, {300 * ms, time.Millisecond}}, want: 300 * ms},
		{name: "a lower rtt at the same instant weighs nothing", obs: []obs{{100 * ms, 0}, {50 * ms, 0}}, want: 100 * ms},
		{
			name: "a lower rtt after τ: rtt·(1-1/e) + ema/e",
			obs:  []obs{{100 * ms, 0}, {50 * ms, 10 * time.Second}},
			want: 50*ms*(1-e1) + 100*ms*e1, // 68.393972…ms
		},
		{
			name: "a lower rtt after τ/2",
			obs:  []obs{{100 * ms, 0}, {20 * ms, 5 * time.Second}},
			want: 20*ms*(1-math.Exp(-0.5)) + 100*ms*math.Exp(-0.5), // 68.522…ms
		},
		{
			name: "decay compounds between observations",
			obs:  []obs{{100 * ms, 0}, {50 * ms, 10 * time.Second}, {10 * ms, 20 * time.Second}},
			want: 10*ms*(1-e1) + (50*ms*(1-e1)+100*ms*e1)*e1,
		},
		{
			name: "after a long quiet spell the new rtt is nearly all",
			obs:  []obs{{100 * ms, 0}, {10 * ms, 100 * time.Second}},
			want: 10*ms*(1-math.Exp(-10)) + 100*ms*math.Exp(-10),
		},
		{name: "a clock that steps back does not decay", obs: []obs{{100 * ms, time.Second}, {50 * ms, 0}}, want: 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p peakEWMA
			for _, o := range tt.obs {
				p.observe(o.rtt, t0.Add(o.at), tau)
			}
			assert.InEpsilon(t, tt.want, p.cost, 1e-12)
		})
	}
	assert.InDelta(t, 68.393972*ms, 50*ms*(1-e1)+100*ms*e1, 1e-6*ms, "the worked example")
}

func TestPeakEWMAEstimateDecaysTowardsZero(t *testing.T) {
	var p peakEWMA
	assert.Zero(t, p.estimate(t0, tau), "no data")
	p.observe(100*ms, t0, tau)
	tests := []struct {
		name  string
		after time.Duration
		want  float64
	}{
		{name: "now", after: 0, want: 100 * ms},
		{name: "τ later: 1/e", after: 10 * time.Second, want: 100 * ms * math.Exp(-1)},
		{name: "2τ later", after: 20 * time.Second, want: 100 * ms * math.Exp(-2)},
		{name: "clock stepped back", after: -time.Second, want: 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InEpsilon(t, tt.want, p.estimate(t0.Add(tt.after), tau), 1e-12)
		})
	}
	assert.Equal(t, 100*ms, p.cost, "reads do not change the estimate")
}

func TestPeakEWMALoad(t *testing.T) {
	withData := peakEWMA{}
	withData.observe(20*ms, t0, tau)
	tests := []struct {
		name    string
		p       peakEWMA
		pending int
		at      time.Duration
		want    float64
	}{
		{name: "new and idle: free, so it gets a probe", p: peakEWMA{}, want: 0},
		{name: "new with the probe outstanding: penalised", p: peakEWMA{}, pending: 1, want: newEndpointPenalty + 1},
		{name: "new with more outstanding", p: peakEWMA{}, pending: 3, want: newEndpointPenalty + 3},
		{name: "idle", p: withData, want: 20 * ms},
		{name: "pending multiplies", p: withData, pending: 4, want: 5 * 20 * ms},
		{name: "decayed", p: withData, pending: 1, at: 10 * time.Second, want: 2 * 20 * ms * math.Exp(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InEpsilon(t, tt.want+1, tt.p.load(t0.Add(tt.at), tau, tt.pending)+1, 1e-12)
		})
	}
	assert.InDelta(t, 1.407e14, newEndpointPenalty, 1e11, "Finagle's Long.MaxValue >> 16 ns")
}

func TestCostModelCharge(t *testing.T) {
	var p peakEWMA
	p.observe(300*ms, t0, tau)
	tests := []struct {
		name    string
		penalty float64
		rtt     float64
		failed  bool
		want    float64
	}{
		{name: "success is its rtt", penalty: 1000 * ms, rtt: 5 * ms, want: 5 * ms},
		{name: "fast failure: the 1s floor", penalty: 1000 * ms, rtt: 5 * ms, failed: true, want: 1000 * ms},
		{name: "slow failure: its rtt", penalty: 1000 * ms, rtt: 3000 * ms, failed: true, want: 3000 * ms},
		{name: "low floor: never below the current ema", penalty: 100 * ms, rtt: 5 * ms, failed: true, want: 300 * ms},
		{name: "disabled", penalty: -1, rtt: 5 * ms, failed: true, want: 5 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := costModel{tau: tau, failurePenalty: tt.penalty}
			assert.Equal(t, tt.want, c.charge(&p, tt.rtt, tt.failed))
		})
	}
}
