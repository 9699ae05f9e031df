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
// weight, then lets that branch pick (PickWeighted). A branch with no
// endpoints is skipped and the draw repeats over the others, so traffic
// shifts to what exists; only when every branch is empty does Pick return
// ErrNoEndpoints. Weights among the non-empty branches that are all zero
// are treated as equal, as Finagle's Drv does.
//
// A Union is safe for concurrent use. It does not own its branches:
// update each one directly.
type Union struct {
	branches []Branch
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
	}
	if u.rng == nil {
		u.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return u, nil
}

// Pick draws a branch by weight and picks within it (PickWeighted).
func (u *Union) Pick() (*Pick, error) {
	if len(u.branches) == 1 {
		return u.branches[0].Balancer.Pick()
	}
	_, p, err := PickWeighted(len(u.branches),
		func(i int) float64 { return u.branches[i].Weight },
		func(i int) (*Pick, error) { return u.branches[i].Balancer.Pick() },
		u.float64)
	return p, err
}

// float64 draws from the union's source under its lock.
func (u *Union) float64() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rng.Float64()
}

// PickWeighted is slinkerd's one weighted-union algorithm, Finagle's
// TrafficDistributor: both Union and the proxy's choice among the bound
// names of a dtab union use it. Of n branches, it draws branch i with
// probability weight(i) / Σ weight and returns i and pick(i). A branch
// whose pick returns ErrNoEndpoints is set aside and the draw repeats
// over the branches left, so its share goes to the others in proportion
// to their weights; when every branch is empty it returns the last
// branch tried with ErrNoEndpoints. Any other error from pick is
// returned at once. Branches left whose weights are all zero are drawn
// uniformly, so a zero-weight branch gets traffic only when every
// weighted branch is empty. rnd returns numbers in [0, 1), one per draw.
//
// Weights must be finite and not negative (NewUnion checks them; name.Eval
// produces such weights). PickWeighted does not allocate for up to 64
// branches, and calls rnd once when the first drawn branch picks.
func PickWeighted(n int, weight func(i int) float64, pick func(i int) (*Pick, error), rnd func() float64) (int, *Pick, error) {
	if n <= 0 {
		return -1, nil, ErrNoEndpoints
	}
	if n == 1 {
		p, err := pick(0)
		return 0, p, err
	}
	var small [1]uint64
	left := small[:]
	if n > 64 {
		left = make([]uint64, (n+63)/64)
	}
	isLeft := func(i int) bool { return left[i/64]&(1<<(i%64)) == 0 }
	last := -1
	for tried := 0; tried < n; tried++ {
		total := 0.0
		for i := range n {
			if isLeft(i) {
				total += weight(i)
			}
		}
		i := draw(n, weight, isLeft, total, rnd())
		p, err := pick(i)
		if !errors.Is(err, ErrNoEndpoints) {
			return i, p, err
		}
		left[i/64] |= 1 << (i % 64)
		last = i
	}
	return last, nil, ErrNoEndpoints
}

// draw returns the index of a branch among those isLeft accepts, with
// probability proportional to its weight given their total, or uniformly
// when the total is zero; x is in [0, 1).
func draw(n int, weight func(int) float64, isLeft func(int) bool, total, x float64) int {
	last := -1
	if total <= 0 {
		k := 0
		for i := range n {
			if isLeft(i) {
				k++
			}
		}
		k = int(x * float64(k))
		for i := range n {
			if isLeft(i) {
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
	for i := range n {
		if !isLeft(i) {
			continue
		}
		w := weight(i)
		if x < w {
			return i
		}
		x -= w
		if w > 0 {
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
