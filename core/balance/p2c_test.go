package balance_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
)

var p2cKinds = []string{balance.KindEWMA, balance.KindP2C}

// chiSquare returns Pearson's statistic of counts (keyed by the
// addrs(len(shares)) host:ports) against the expected shares.
func chiSquare(counts map[string]int, shares []float64) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	stat := 0.0
	for i, share := range shares {
		want := share * float64(total)
		got := float64(counts[fmt.Sprintf("10.0.0.%d:80", i+1)])
		stat += (got - want) * (got - want) / want
	}
	return stat
}

// The χ² critical values at p = 0.001: with a fixed seed the tests are
// deterministic, and a correct balancer passes them for 999 seeds in 1000.
var chiSquareCritical = map[int]float64{1: 10.83, 2: 13.82, 3: 16.27, 9: 27.88}

func TestP2CEqualLoadsSpreadUniformly(t *testing.T) {
	const n, picks = 10, 100_000
	shares := make([]float64, n)
	for i := range shares {
		shares[i] = 1.0 / n
	}
	for _, kind := range p2cKinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, balance.Config{Kind: kind}, addrs(n))
			counts := pickDone(t, b, picks, false)
			require.Len(t, counts, n)
			assert.Less(t, chiSquare(counts, shares), chiSquareCritical[n-1], "counts %v", counts)
		})
	}
}

func TestP2CWeightsSetTheShare(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
	}{
		{name: "1:3", weights: []float64{1, 3}},
		{name: "1:1:2", weights: []float64{1, 1, 2}},
		{name: "1:2:3:4", weights: []float64{1, 2, 3, 4}},
		{name: "fractional", weights: []float64{0.1, 0.9}},
	}
	for _, kind := range p2cKinds {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				b, _ := newBalancer(t, balance.Config{Kind: kind}, addrs(len(tt.weights), tt.weights...))
				counts := pickDone(t, b, 40_000, false)
				total := 0.0
				for _, w := range tt.weights {
					total += w
				}
				shares := make([]float64, len(tt.weights))
				for i, w := range tt.weights {
					shares[i] = w / total
				}
				assert.Less(t, chiSquare(counts, shares), chiSquareCritical[len(shares)-1], "counts %v", counts)
			})
		}
	}
}

// With 1:3 weights and requests piling up, least-loaded P2C keeps the
// outstanding requests per unit of weight level: 100 and 300 of 400.
func TestP2CWeightsUnderLoad(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindP2C}, addrs(2, 1, 3))
	counts, _ := hold(t, b, 400)
	assert.InDelta(t, 100, counts["10.0.0.1:80"], 2)
	assert.InDelta(t, 300, counts["10.0.0.2:80"], 2)
}

// An endpoint loaded far above the others gets nothing: it loses every
// comparison, and P2C always compares two distinct endpoints.
func TestP2CHeavilyLoadedEndpointGetsNothing(t *testing.T) {
	tests := []struct {
		name string
		kind string
		load func(t *testing.T, b balance.Balancer, clk *clock.Fake)
	}{
		{
			name: "p2c: 20 outstanding requests",
			kind: balance.KindP2C,
			load: func(t *testing.T, b balance.Balancer, _ *clock.Fake) {
				hold(t, b, 20)
			},
		},
		{
			name: "ewma: a 1s response",
			kind: balance.KindEWMA,
			load: func(t *testing.T, b balance.Balancer, clk *clock.Fake) {
				p, err := b.Pick()
				require.NoError(t, err)
				clk.Advance(time.Second)
				p.Done(false)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Load the first endpoint alone, then add four idle ones: the
			// Update keeps its state.
			b, clk := newBalancer(t, balance.Config{Kind: tt.kind}, addrs(1))
			tt.load(t, b, clk)
			b.Update(addrs(5))
			counts := pickDone(t, b, 10_000, false)
			assert.Zero(t, counts["10.0.0.1:80"])
			assert.Less(t, chiSquare(map[string]int{
				"10.0.0.1:80": counts["10.0.0.2:80"], "10.0.0.2:80": counts["10.0.0.3:80"],
				"10.0.0.3:80": counts["10.0.0.4:80"], "10.0.0.4:80": counts["10.0.0.5:80"],
			}, []float64{0.25, 0.25, 0.25, 0.25}), chiSquareCritical[3], "the others share evenly: %v", counts)
		})
	}
}

// MaxEffort bounds the draws that look for an open endpoint. With 9 of 10
// endpoints dead a draw finds the live one with probability
// 1 - C(9,2)/C(10,2) = 0.2, so k draws find it with 1 - 0.8^k; after that
// P2C sends to a dead one anyway (fail open).
func TestP2CMaxEffort(t *testing.T) {
	for _, effort := range []int{1, 2, 5, 20} {
		t.Run(fmt.Sprint(effort), func(t *testing.T) {
			cfg := noPenalty(balance.KindP2C)
			cfg.MaxEffort = effort
			b, _ := newBalancer(t, cfg, addrs(10))
			for _, a := range addrs(10)[1:] {
				kill(t, b, a.HostPort())
			}
			const picks = 20_000
			counts := pickDone(t, b, picks, false)
			want := 1 - math.Pow(0.8, float64(effort))
			got := float64(counts["10.0.0.1:80"]) / picks
			assert.InDelta(t, want, got, 0.015)
		})
	}
}

func TestP2CSingleEndpointIsAlwaysPicked(t *testing.T) {
	for _, kind := range p2cKinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, noPenalty(kind), addrs(1))
			kill(t, b, "10.0.0.1:80")
			counts, _ := hold(t, b, 10)
			assert.Equal(t, map[string]int{"10.0.0.1:80": 10}, counts)
		})
	}
}
