package balance

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/name"
)

// p2c is the power-of-two-choices balancer behind both "ewma" and "p2c";
// they differ only in the set's load function.
//
// Each pick draws two distinct endpoints, each with probability
// proportional to its weight, and keeps the better: the better status
// (open > busy > closed), then the one whose failure-accrual backoff has
// expired (so its single probe goes out promptly), then the lower
// load/weight, then the first drawn. If the kept one is not open it draws
// again, up to maxEffort times, and then sends to the last kept one
// anyway (fail open).
//
// Drawing by weight and comparing load/weight both matter: at equal loads
// (for instance an idle service) a tie goes to the first draw, so the
// share follows the weights exactly; under load the comparison steers
// towards equal load per unit of weight.
type p2c struct {
	*endpointSet
	maxEffort int
	rng       *rand.Rand // guarded by mu
	sampler   weightedSampler
}

func newP2C(set *endpointSet, maxEffort int, rng *rand.Rand) *p2c {
	return &p2c{endpointSet: set, maxEffort: maxEffort, rng: rng}
}

// Update replaces the endpoint set.
func (b *p2c) Update(addrs []name.Address) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replace(addrs)
	b.sampler.reset(b.eps)
}

// Pick chooses an endpoint by P2C.
func (b *p2c) Pick() (*Pick, error) { return b.pick(b) }

func (b *p2c) choose(now time.Time) *endpoint {
	switch len(b.eps) {
	case 0:
		return nil
	case 1:
		return b.eps[0]
	}
	var best *endpoint
	for range b.maxEffort {
		i, j := b.sampler.pair(b.rng)
		best = b.better(b.eps[i], b.eps[j], now)
		if st, _ := b.status(best, now); st == accrual.StatusOpen {
			break
		}
	}
	return best
}

// better returns whichever of x and y to prefer, x on a tie.
func (b *p2c) better(x, y *endpoint, now time.Time) *endpoint {
	sx, px := b.status(x, now)
	sy, py := b.status(y, now)
	switch {
	case sx != sy:
		if sy > sx {
			return y
		}
		return x
	case px != py:
		// Both open, one waiting for its probe: send the probe now, or a
		// cost inflated by the failures that killed the endpoint would
		// postpone it until the EWMA has decayed, well past the backoff.
		if py {
			return y
		}
		return x
	case b.load(y, now, &b.cost)/y.weight < b.load(x, now, &b.cost)/x.weight:
		return y
	default:
		return x
	}
}

// weightedSampler draws two distinct indexes with probability
// proportional to weight, in O(log n); with equal weights it draws
// uniformly in O(1).
type weightedSampler struct {
	n       int
	uniform bool
	cum     []float64 // cum[i] = weight of eps[0..i]; nil when uniform
}

func (s *weightedSampler) reset(eps []*endpoint) {
	s.n = len(eps)
	s.uniform = true
	for _, e := range eps {
		if e.weight != eps[0].weight {
			s.uniform = false
			break
		}
	}
	s.cum = s.cum[:0]
	if s.uniform {
		return
	}
	total := 0.0
	for _, e := range eps {
		total += e.weight
		s.cum = append(s.cum, total)
	}
}

// pair draws two distinct indexes; the set has at least two.
func (s *weightedSampler) pair(rng *rand.Rand) (int, int) {
	if s.uniform {
		i := rng.IntN(s.n)
		j := rng.IntN(s.n - 1)
		if j >= i {
			j++
		}
		return i, j
	}
	total := s.cum[s.n-1]
	i := s.find(rng.Float64() * total)
	// Draw j from the weight outside i: skip over i's slice of the line.
	lo := 0.0
	if i > 0 {
		lo = s.cum[i-1]
	}
	x := rng.Float64() * (total - (s.cum[i] - lo))
	if x >= lo {
		x += s.cum[i] - lo
	}
	j := s.find(x)
	if j == i { // only by float rounding at a slice's edge
		j = (i + 1) % s.n
	}
	return i, j
}

// find returns the index whose slice of [0, total) holds x.
func (s *weightedSampler) find(x float64) int {
	i := sort.Search(s.n, func(k int) bool { return s.cum[k] > x })
	return min(i, s.n-1)
}

var _ Balancer = (*p2c)(nil)
