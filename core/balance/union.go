package balance

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// Branch is one weighted member of a Union.
type Branch struct {
	// Weight is the branch's share relative to its siblings, as in
	// `0.9 * /a & 0.1 * /b`. It must be finite and not negative; zero
	// means the branch gets traffic only when every branch that has
	// endpoints weighs zero.
	Weight float64
	// Balancer picks within the branch: a Balancer, or a nested Union.
	Balancer Picker
}

// Union spreads traffic across several pickers in proportion to their
// weights, the way linkerd 1 balances a dtab union such as
// `0.9 * /#/io.l5d.fs/a & 0.1 * /#/io.l5d.fs/b`: it draws a branch by
// weight, then lets that branch pick. A branch with no endpoints is
// skipped and the draw repeats over the others, so traffic shifts to
// what exists; only when every branch is empty does Pick return
// ErrNoEndpoints. Weights among the non-empty branches that are all zero
// are treated as equal, as Finagle's Drv does.
//
// A Union is safe for concurrent use. It does not own its branches:
// update each one directly.
type Union struct {
	branches []Branch
	total    float64
	mu       sync.Mutex
	rng      *rand.Rand // guarded by mu
}

// NewUnion returns a union of branches. rng draws the branch and must not
// be shared; nil means a source seeded at random.
func NewUnion(branches []Branch, rng *rand.Rand) (*Union, error) {
	if len(branches) == 0 {
		return nil, errors.New("balance: union has no branches")
	}
	u := &Union{branches: append([]Branch(nil), branches...), rng: rng}
	for i, b := range branches {
		if b.Balancer == nil {
			return nil, fmt.Errorf("balance: union branch %d has no balancer", i)
		}
		if !(b.Weight >= 0) || math.IsInf(b.Weight, 0) {
			return nil, fmt.Errorf("balance: union branch %d has weight %v, want a finite number ≥ 0", i, b.Weight)
		}
		u.total += b.Weight
	}
	if u.rng == nil {
		u.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return u, nil
}

// Pick draws a branch by weight and picks within it.
func (u *Union) Pick() (*Pick, error) {
	if len(u.branches) == 1 {
		return u.branches[0].Balancer.Pick()
	}
	if u.total > 0 {
		p, err := u.branches[u.draw(u.total, nil)].Balancer.Pick()
		if !errors.Is(err, ErrNoEndpoints) {
			return p, err
		}
	}
	return u.pickSkippingEmpty()
}

// pickSkippingEmpty is the slow path once a drawn branch was empty: draw
// among the branches not yet found empty until one picks.
func (u *Union) pickSkippingEmpty() (*Pick, error) {
	left := make([]bool, len(u.branches)) // branches still to try
	n := len(left)
	for i := range left {
		left[i] = true
	}
	for n > 0 {
		total := 0.0
		for i, ok := range left {
			if ok {
				total += u.branches[i].Weight
			}
		}
		i := u.draw(total, left)
		p, err := u.branches[i].Balancer.Pick()
		if !errors.Is(err, ErrNoEndpoints) {
			return p, err
		}
		left[i] = false
		n--
	}
	return nil, ErrNoEndpoints
}

// draw returns a branch index among those with left[i] (all when left is
// nil) with probability proportional to weight, given their total; when
// the total is zero it draws uniformly.
func (u *Union) draw(total float64, left []bool) int {
	u.mu.Lock()
	x := u.rng.Float64()
	u.mu.Unlock()
	last := -1
	if total <= 0 {
		// All weights zero: uniform among the candidates.
		var n int
		for i := range u.branches {
			if left == nil || left[i] {
				n++
			}
		}
		k := int(x * float64(n))
		for i := range u.branches {
			if left == nil || left[i] {
				if k == 0 {
					return i
				}
				k--
				last = i
			}
		}
		return last
	}
	x *= total
	for i, b := range u.branches {
		if left != nil && !left[i] {
			continue
		}
		if x < b.Weight {
			return i
		}
		x -= b.Weight
		if b.Weight > 0 {
			last = i
		}
	}
	return last // float rounding at the top end
}

// Endpoints returns the endpoints of every branch, in branch order.
func (u *Union) Endpoints() []EndpointStats {
	var out []EndpointStats
	for _, b := range u.branches {
		out = append(out, b.Balancer.Endpoints()...)
	}
	return out
}

var _ Picker = (*Union)(nil)
