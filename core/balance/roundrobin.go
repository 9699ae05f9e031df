package balance

import (
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/name"
)

// roundRobin is smooth weighted round robin (nginx's): every pick, each
// candidate earns its weight in credit, the richest is chosen and pays
// back the total. With weights 5:1:1 the order is a a b a c a a, spread
// out rather than bunched, and over any cycle each endpoint is chosen in
// proportion to its weight.
//
// The candidates are the open endpoints; when none is open, all of them
// (fail open). A dead endpoint earns no credit while it is out, so it
// does not return with a burst.
type roundRobin struct {
	*endpointSet
	credit []float64 // parallel to eps, guarded by mu
}

func newRoundRobin(set *endpointSet) *roundRobin { return &roundRobin{endpointSet: set} }

// Update replaces the endpoint set and restarts the rotation.
func (b *roundRobin) Update(addrs []name.Address) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replace(addrs)
	b.credit = make([]float64, len(b.eps))
}

// Pick chooses the next endpoint in the weighted rotation.
func (b *roundRobin) Pick() (*Pick, error) { return b.pick(b) }

func (b *roundRobin) choose(now time.Time) *endpoint {
	if i := b.next(now, true); i >= 0 {
		return b.eps[i]
	}
	if i := b.next(now, false); i >= 0 {
		return b.eps[i]
	}
	return nil
}

// next runs one round over the open endpoints (or all, if openOnly is
// false) and returns the chosen index, or -1 when there was no candidate.
func (b *roundRobin) next(now time.Time, openOnly bool) int {
	best, total := -1, 0.0
	for i, e := range b.eps {
		if st, _ := b.status(e, now); openOnly && st != accrual.StatusOpen {
			continue
		}
		b.credit[i] += e.weight
		total += e.weight
		if best < 0 || b.credit[i] > b.credit[best] {
			best = i
		}
	}
	if best >= 0 {
		b.credit[best] -= total
	}
	return best
}

var _ Balancer = (*roundRobin)(nil)
