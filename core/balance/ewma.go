package balance

import (
	"math"
	"time"
)

// peakEWMA is one endpoint's latency estimate, as Finagle's PeakEwma and
// linkerd2's (tower's) PeakEwma. Times are float64 nanoseconds. The zero
// value has no data.
//
// On every finished request with round trip rtt, observed at now:
//
//	w = exp(-(now - stamp)/τ)
//	cost = rtt                    if rtt > cost (jump to the peak)
//	cost = rtt·(1-w) + cost·w     otherwise
//	stamp = now
//
// Between observations the estimate decays towards zero,
// estimate(now) = cost·exp(-(now - stamp)/τ), as Finagle's and tower's
// load reads do: an endpoint that was slow once and then lost every
// comparison would otherwise never be tried again. The stored cost is
// left alone by reads, so the result does not depend on how often the
// balancer looks.
type peakEWMA struct {
	cost  float64
	stamp time.Time
	seen  bool // at least one observation
}

// newEndpointPenalty is the load of an endpoint that has no latency data
// yet but a request outstanding: Finagle's PeakEwma Penalty,
// Long.MaxValue >> 16 ns (about 39 hours). A new endpoint therefore gets
// one probe request, not a flood, until its first response arrives.
const newEndpointPenalty = float64(math.MaxInt64 >> 16)

// decay returns exp(-(now - stamp)/τ), 1 for a clock that stepped back.
func (p *peakEWMA) decay(now time.Time, tau float64) float64 {
	dt := float64(now.Sub(p.stamp))
	if dt <= 0 {
		return 1
	}
	return math.Exp(-dt / tau)
}

// observe folds in one round trip.
func (p *peakEWMA) observe(rtt float64, now time.Time, tau float64) {
	if rtt > p.cost || !p.seen {
		p.cost = rtt
	} else {
		w := p.decay(now, tau)
		p.cost = rtt*(1-w) + p.cost*w
	}
	if !p.seen || now.After(p.stamp) {
		// Concurrent Dones read the clock before taking the lock, so
		// they may arrive slightly out of order: never move back.
		p.stamp = now
	}
	p.seen = true
}

// estimate returns the latency estimate decayed to now.
func (p *peakEWMA) estimate(now time.Time, tau float64) float64 {
	if !p.seen {
		return 0
	}
	return p.cost * p.decay(now, tau)
}

// load returns estimate × (pending+1), or newEndpointPenalty + pending for
// an endpoint with no data and requests outstanding.
func (p *peakEWMA) load(now time.Time, tau float64, pending int) float64 {
	if !p.seen {
		if pending > 0 {
			return newEndpointPenalty + float64(pending)
		}
		return 0
	}
	return p.estimate(now, tau) * float64(pending+1)
}

// costModel holds the peak-EWMA parameters of one balancer.
type costModel struct {
	tau            float64 // τ in ns
	failurePenalty float64 // ns; negative = failures count as their rtt
}

// charge returns the latency a request is charged: its rtt, or for a
// failure max(rtt, failurePenalty, cost). So an endpoint that fails fast
// looks at least failurePenalty slow instead of attracting traffic
// (linkerd2 likewise charges failures a fixed latency), and a failure
// never makes an endpoint look faster than it already did. The charge is
// bounded, unlike a multiplier, so the estimate recovers within a few τ
// once the endpoint answers again.
func (c *costModel) charge(p *peakEWMA, rtt float64, failed bool) float64 {
	if !failed || c.failurePenalty < 0 {
		return rtt
	}
	return max(rtt, c.failurePenalty, p.cost)
}

// ewmaLoad is the load of the "ewma" kind: the peak EWMA × (pending+1),
// where the estimate is raised to the age of the endpoint's oldest
// outstanding request when that is longer. An outstanding request proves
// the endpoint's latency is at least its age, so this is the peak rule
// applied before the response arrives: an endpoint that suddenly turns
// slow stops attracting traffic within about one normal latency instead
// of only after its first slow response comes back.
func ewmaLoad(e *endpoint, now time.Time, c *costModel) float64 {
	if e.oldest == nil || !e.ewma.seen {
		return e.ewma.load(now, c.tau, e.pending)
	}
	est := max(e.ewma.estimate(now, c.tau), float64(now.Sub(e.oldest.start)))
	return est * float64(e.pending+1)
}
