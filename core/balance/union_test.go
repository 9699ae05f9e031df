package balance_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
)

// hosts returns n endpoints named <prefix>1 … with port 80.
func hosts(prefix string, n int) []name.Address {
	out := make([]name.Address, n)
	for i := range out {
		out[i] = name.Address{Host: fmt.Sprintf("%s%d", prefix, i+1), Port: 80}
	}
	return out
}

// branch returns a round-robin balancer over eps.
func branch(t *testing.T, eps []name.Address) balance.Balancer {
	t.Helper()
	b, err := balance.New(balance.Config{Kind: balance.KindRoundRobin})
	require.NoError(t, err)
	b.Update(eps)
	return b
}

func newUnion(t *testing.T, branches ...balance.Branch) *balance.Union {
	t.Helper()
	u, err := balance.NewUnion(branches, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	return u
}

// bySet counts picks per branch, by host prefix "a" or "b".
func bySet(t *testing.T, u balance.Picker, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		p, err := u.Pick()
		require.NoError(t, err)
		counts[p.Address.Host[:1]]++
		p.Done(false)
	}
	return counts
}

// 0.9 * /a & 0.1 * /b sends 90/10 across the two sets, whatever their sizes.
func TestUnionSplitsByWeight(t *testing.T) {
	tests := []struct {
		name   string
		wa, wb float64
		na, nb int
	}{
		{name: "90/10", wa: 0.9, wb: 0.1, na: 3, nb: 3},
		{name: "90/10, uneven set sizes", wa: 0.9, wb: 0.1, na: 1, nb: 10},
		{name: "unnormalised 1:3", wa: 1, wb: 3, na: 2, nb: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnion(t,
				balance.Branch{Weight: tt.wa, Balancer: branch(t, hosts("a", tt.na))},
				balance.Branch{Weight: tt.wb, Balancer: branch(t, hosts("b", tt.nb))},
			)
			const n = 20_000
			counts := bySet(t, u, n)
			share := tt.wa / (tt.wa + tt.wb)
			want := share * n
			chi := math.Pow(float64(counts["a"])-want, 2)/want + math.Pow(float64(counts["b"])-(n-want), 2)/(n-want)
			assert.Less(t, chi, chiSquareCritical[1], "counts %v", counts)
		})
	}
}

func TestUnionSkipsEmptyBranches(t *testing.T) {
	empty := func() balance.Balancer { return branch(t, nil) }
	tests := []struct {
		name     string
		branches func() []balance.Branch
		want     map[string]int
		wantErr  error
	}{
		{
			name: "heavy branch empty: all to the light one",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 0.9, Balancer: empty()}, {Weight: 0.1, Balancer: branch(t, hosts("b", 2))}}
			},
			want: map[string]int{"b": 1000},
		},
		{
			name: "middle of three empty",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 1, Balancer: branch(t, hosts("a", 1))}, {Weight: 98, Balancer: empty()}, {Weight: 1, Balancer: branch(t, hosts("c", 1))}}
			},
			want: map[string]int{"a": 500, "c": 500},
		},
		{
			name: "zero weight only when every non-empty branch weighs zero",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 0, Balancer: branch(t, hosts("a", 1))}, {Weight: 1, Balancer: branch(t, hosts("b", 1))}}
			},
			want: map[string]int{"b": 1000},
		},
		{
			name: "zero weight takes over when the weighted branch is empty",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 0, Balancer: branch(t, hosts("a", 1))}, {Weight: 1, Balancer: empty()}}
			},
			want: map[string]int{"a": 1000},
		},
		{
			name: "all zero weights: equal shares",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 0, Balancer: branch(t, hosts("a", 1))}, {Weight: 0, Balancer: branch(t, hosts("b", 1))}}
			},
			want: map[string]int{"a": 500, "b": 500},
		},
		{
			name: "all empty",
			branches: func() []balance.Branch {
				return []balance.Branch{{Weight: 1, Balancer: empty()}, {Weight: 1, Balancer: empty()}}
			},
			wantErr: balance.ErrNoEndpoints,
		},
		{
			name:     "single empty branch",
			branches: func() []balance.Branch { return []balance.Branch{{Weight: 1, Balancer: empty()}} },
			wantErr:  balance.ErrNoEndpoints,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnion(t, tt.branches()...)
			if tt.wantErr != nil {
				_, err := u.Pick()
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			counts := bySet(t, u, 1000)
			for k, want := range tt.want {
				assert.InDelta(t, want, counts[k], 60, "branch %s: %v", k, counts)
			}
			assert.Len(t, counts, len(tt.want))
		})
	}
}

// failing is a Picker whose Pick fails with err.
type failing struct{ err error }

func (f failing) Pick() (*balance.Pick, error)       { return nil, f.err }
func (f failing) Endpoints() []balance.EndpointStats { return nil }

func TestUnionPassesOtherErrorsThrough(t *testing.T) {
	boom := errors.New("boom")
	u := newUnion(t, balance.Branch{Weight: 1, Balancer: failing{boom}}, balance.Branch{Weight: 1, Balancer: failing{boom}})
	_, err := u.Pick()
	require.ErrorIs(t, err, boom)
}

func TestNewUnionValidates(t *testing.T) {
	ok := branch(t, hosts("a", 1))
	tests := []struct {
		name     string
		branches []balance.Branch
		wantErr  string
	}{
		{name: "none", wantErr: "balance: union has no branches"},
		{name: "nil balancer", branches: []balance.Branch{{Weight: 1, Balancer: ok}, {Weight: 1}}, wantErr: "balance: union branch 1 has no balancer"},
		{name: "negative weight", branches: []balance.Branch{{Weight: -1, Balancer: ok}}, wantErr: "balance: union branch 0 has weight -1, want a finite number ≥ 0"},
		{name: "NaN weight", branches: []balance.Branch{{Weight: math.NaN(), Balancer: ok}}, wantErr: "weight NaN"},
		{name: "infinite weight", branches: []balance.Branch{{Weight: math.Inf(1), Balancer: ok}}, wantErr: "weight +Inf"},
		{name: "valid", branches: []balance.Branch{{Weight: 0, Balancer: ok}, {Weight: 2, Balancer: ok}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := balance.NewUnion(tt.branches, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestUnionNests(t *testing.T) {
	inner := newUnion(t,
		balance.Branch{Weight: 1, Balancer: branch(t, hosts("a", 1))},
		balance.Branch{Weight: 1, Balancer: branch(t, hosts("b", 1))},
	)
	u := newUnion(t,
		balance.Branch{Weight: 1, Balancer: inner},
		balance.Branch{Weight: 2, Balancer: branch(t, hosts("c", 1))},
	)
	counts := bySet(t, u, 6000)
	assert.InDelta(t, 1000, counts["a"], 100)
	assert.InDelta(t, 1000, counts["b"], 100)
	assert.InDelta(t, 4000, counts["c"], 150)
}

func TestUnionEndpointsAndDone(t *testing.T) {
	a, b := branch(t, hosts("a", 2)), branch(t, hosts("b", 1))
	u := newUnion(t, balance.Branch{Weight: 1, Balancer: a}, balance.Branch{Weight: 1, Balancer: b})
	p, err := u.Pick()
	require.NoError(t, err)
	var addrs []string
	pending := 0
	for _, s := range u.Endpoints() {
		addrs = append(addrs, s.Address)
		pending += s.Pending
	}
	assert.Equal(t, []string{"a1:80", "a2:80", "b1:80"}, addrs)
	assert.Equal(t, 1, pending)
	p.Done(true)
	failed := int64(0)
	for _, s := range u.Endpoints() {
		pending += s.Pending
		failed += s.Failed
	}
	assert.Equal(t, 1, pending, "the Done reached the branch")
	assert.Equal(t, int64(1), failed)
}

// TestPickWeightedRoutesAroundEmptyBranches drives the one union
// algorithm with fixed draws: a draw that lands on an empty branch is
// redrawn over the branches left, by their weights (defect 8 of issue
// 14: the proxy's own union failed the empty branch's share).
func TestPickWeightedRoutesAroundEmptyBranches(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
		empty   []bool
		draws   []float64
		want    int
		wantErr error
	}{
		{name: "first draw picks", weights: []float64{0.5, 0.5}, empty: []bool{false, false}, draws: []float64{0.7}, want: 1},
		{name: "empty branch redrawn", weights: []float64{0.5, 0.5}, empty: []bool{false, true}, draws: []float64{0.7, 0.99}, want: 0},
		{name: "redraw by remaining weights", weights: []float64{0.25, 0.5, 0.25}, empty: []bool{false, true, false}, draws: []float64{0.5, 0.6}, want: 2},
		{name: "zero weight left alone gets traffic", weights: []float64{0, 1}, empty: []bool{false, true}, draws: []float64{0.1, 0.9}, want: 0},
		{name: "zero weight not drawn while a weighted branch has endpoints", weights: []float64{0, 1}, empty: []bool{false, false}, draws: []float64{0}, want: 1},
		{name: "all empty", weights: []float64{0.5, 0.5}, empty: []bool{true, true}, draws: []float64{0.1, 0.1}, want: 1, wantErr: balance.ErrNoEndpoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := 0
			rnd := func() float64 { x := tt.draws[next]; next++; return x }
			var tried []int
			i, p, err := balance.PickWeighted(len(tt.weights),
				func(i int) float64 { return tt.weights[i] },
				func(i int) (*balance.Pick, error) {
					tried = append(tried, i)
					if tt.empty[i] {
						return nil, balance.ErrNoEndpoints
					}
					return &balance.Pick{HostPort: fmt.Sprint(i)}, nil
				}, rnd)
			assert.Equal(t, tt.want, i, "tried %v", tried)
			assert.Equal(t, len(tt.draws), next, "one draw per branch tried")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprint(tt.want), p.HostPort)
		})
	}
}

func TestPickWeightedDoesNotAllocate(t *testing.T) {
	weights := []float64{0.5, 0.3, 0.2}
	pk := &balance.Pick{}
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = balance.PickWeighted(len(weights),
			func(i int) float64 { return weights[i] },
			func(i int) (*balance.Pick, error) {
				if i == 0 {
					return nil, balance.ErrNoEndpoints
				}
				return pk, nil
			}, func() float64 { return 0.1 })
	})
	assert.Zero(t, allocs)
}
