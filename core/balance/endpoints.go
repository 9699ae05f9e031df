package balance

import (
	"math"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
)

// endpoint is the state of one address, kept across Updates while its
// HostPort stays. All fields are guarded by the owning endpointSet's mu.
type endpoint struct {
	addr     name.Address
	key      string // addr.HostPort()
	weight   float64
	pending  int
	ewma     peakEWMA
	gate     *accrual.Gate
	failures int       // consecutive
	lastFail time.Time // the last failed request's end
	requests int64
	failed   int64
	// oldest and newest link the outstanding Picks in the order they were
	// made, so the age of the oldest is at hand (see ewmaLoad).
	oldest, newest *Pick
}

// track appends p to e's outstanding Picks. The caller holds mu.
func (e *endpoint) track(p *Pick) {
	p.prev = e.newest
	if e.newest != nil {
		e.newest.next = p
	} else {
		e.oldest = p
	}
	e.newest = p
}

// untrack removes p from e's outstanding Picks. The caller holds mu.
func (e *endpoint) untrack(p *Pick) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		e.oldest = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		e.newest = p.prev
	}
	p.prev, p.next = nil, nil
}

// loadFunc returns the load the balancer minimises, before it is divided
// by the endpoint's weight.
type loadFunc func(e *endpoint, now time.Time, c *costModel) float64

// leastLoaded is the load of "p2c" and round robin: outstanding requests.
func leastLoaded(e *endpoint, _ time.Time, _ *costModel) float64 { return float64(e.pending) }

// chooser is the one thing that differs between balancer kinds: which
// endpoint of the set to use. choose runs under the set's lock and returns
// nil only when the set is empty.
type chooser interface {
	choose(now time.Time) *endpoint
}

// endpointSet is the bookkeeping every balancer kind shares: the
// endpoints, their pending counts, latency estimates, failure-accrual
// gates and counters, the lock that guards them, and the Pick/Done and
// Update plumbing. Balancers embed it and add only their choice.
type endpointSet struct {
	mu    sync.Mutex
	clock clock.Clock
	gates *accrual.Factory
	cost  costModel
	load  loadFunc
	eps   []*endpoint
	byKey map[string]*endpoint
}

func newEndpointSet(clk clock.Clock, gates *accrual.Factory, cost costModel, load loadFunc) *endpointSet {
	return &endpointSet{clock: clk, gates: gates, cost: cost, load: load, byKey: map[string]*endpoint{}}
}

// replace installs the complete new address set, keeping the state of
// endpoints whose HostPort stays. The first of duplicate HostPorts wins.
// The caller holds mu.
func (s *endpointSet) replace(addrs []name.Address) {
	eps := make([]*endpoint, 0, len(addrs))
	byKey := make(map[string]*endpoint, len(addrs))
	for _, a := range addrs {
		key := a.HostPort()
		if byKey[key] != nil {
			continue
		}
		e := s.byKey[key]
		if e == nil {
			e = &endpoint{key: key, gate: s.gates.NewGate()}
		}
		e.addr = a
		e.weight = effectiveWeight(a)
		eps = append(eps, e)
		byKey[key] = e
	}
	// Removed endpoints simply drop out: a Pick still points at its
	// endpoint, so its Done updates an object nobody reads any more.
	s.eps, s.byKey = eps, byKey
}

// effectiveWeight is a.EffectiveWeight(), with nonsense (negative, NaN,
// infinite) from a namer read as the default rather than breaking the
// arithmetic of the balancers.
func effectiveWeight(a name.Address) float64 {
	w := a.EffectiveWeight()
	if !(w > 0) || math.IsInf(w, 0) {
		return name.DefaultWeight
	}
	return w
}

// status returns e's failure-accrual status at now, and whether e's
// backoff has just expired so that its next request is the probe. The
// caller holds mu.
func (s *endpointSet) status(e *endpoint, now time.Time) (status accrual.Status, probe bool) {
	st := e.gate.State(now)
	return st.Status(), st == accrual.StateProbeOpen
}

// pick runs c's choice under the lock and hands out the Pick.
func (s *endpointSet) pick(c chooser) (*Pick, error) {
	now := s.clock.Now()
	s.mu.Lock()
	e := c.choose(now)
	if e == nil {
		s.mu.Unlock()
		return nil, ErrNoEndpoints
	}
	e.pending++
	probe := e.gate.Acquire(now)
	p := &Pick{Address: e.addr, HostPort: e.key, ep: e, set: s, start: now, probe: probe}
	e.track(p)
	s.mu.Unlock()
	return p, nil
}

// release records the outcome of p.
func (s *endpointSet) release(p *Pick, failed bool) {
	now := s.clock.Now()
	rtt := max(float64(now.Sub(p.start)), 0)
	e := p.ep
	s.mu.Lock()
	defer s.mu.Unlock()
	e.pending--
	e.untrack(p)
	e.requests++
	if failed {
		e.failed++
		e.failures++
		e.lastFail = now
	} else {
		e.failures = 0
	}
	e.ewma.observe(s.cost.charge(&e.ewma, rtt, failed), now, s.cost.tau)
	e.gate.Release(now, p.probe, failed)
}

// Endpoints returns a snapshot of every endpoint, in Update order. Every
// balancer kind shares it by embedding the set.
func (s *endpointSet) Endpoints() []EndpointStats {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EndpointStats, len(s.eps))
	for i, e := range s.eps {
		out[i] = EndpointStats{
			Address:   e.key,
			Weight:    e.weight,
			Pending:   e.pending,
			Load:      s.load(e, now, &s.cost),
			EWMA:      time.Duration(e.ewma.estimate(now, s.cost.tau)),
			State:     e.gate.State(now).String(),
			Failures:  e.failures,
			Requests:  e.requests,
			Failed:    e.failed,
			DeadUntil: e.gate.DeadUntil(),
			Zone:      e.addr.Meta[ZoneMetaKey],
		}
	}
	return out
}
