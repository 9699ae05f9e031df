package accrual

import "time"

// Status is how a balancer should treat an endpoint, as Finagle's Status.
// The constants are ordered worst to best, so a larger Status is better.
type Status uint8

// The statuses, worst first.
const (
	// StatusClosed means the endpoint cannot take requests.
	StatusClosed Status = iota
	// StatusBusy means the endpoint should be avoided but may be used when
	// nothing is open (fail open).
	StatusBusy
	// StatusOpen means the endpoint is ready for requests.
	StatusOpen
)

var statusNames = [...]string{StatusClosed: "closed", StatusBusy: "busy", StatusOpen: "open"}

// String returns "closed", "busy" or "open".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// State is where a Gate is in its life cycle.
type State uint8

// The gate states.
const (
	// StateAlive is the normal state: outcomes feed the policy. Status
	// open.
	StateAlive State = iota
	// StateDead means the policy marked the endpoint dead and its backoff
	// has not expired. Status busy; outcomes are ignored.
	StateDead
	// StateProbeOpen means the backoff expired and the next request will
	// be the probe. Status open.
	StateProbeOpen
	// StateProbeClosed means the probe is in flight. Status busy; only the
	// probe's outcome counts.
	StateProbeClosed
)

var stateNames = [...]string{StateAlive: "alive", StateDead: "dead", StateProbeOpen: "probing", StateProbeClosed: "probing"}

// Status returns the balancer status of a gate in state s: busy when dead
// or while the probe is in flight, open otherwise.
func (s State) Status() Status {
	switch s {
	case StateDead, StateProbeClosed:
		return StatusBusy
	default:
		return StatusOpen
	}
}

// String returns "alive", "dead" or, for both probe states, "probing".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Gate is the failure-accrual state machine of one endpoint:
//
//	alive ──policy says dead──▶ dead (for the backoff)
//	dead ──backoff expires──▶ probe open (status open: one request may pass)
//	probe open ──Acquire──▶ probe closed (status busy: the probe is in flight)
//	probe closed ──probe succeeds──▶ alive (policy revived, backoff reset)
//	probe closed ──probe fails, policy says dead──▶ dead (next, longer backoff)
//	probe closed ──probe fails, policy says not yet──▶ probe open
//
// Outcomes feed the policy only while the gate is alive, and only the
// probe's outcome decides a probe: outcomes that arrive while dead
// (fail-open traffic) and other requests finishing during a probe are
// ignored, so a straggler cannot be taken for the probe.
//
// The owner passes the current time into every call, so one reading of
// the clock serves a whole pick. A Gate is not safe for concurrent use:
// the balancer calls it under its lock.
type Gate struct {
	policy Policy
	state  State
	until  time.Time
}

// NewGate returns an alive gate driven by p; nil means Never.
func NewGate(p Policy) *Gate {
	if p == nil {
		p = Never()
	}
	return &Gate{policy: p}
}

// State returns the state at now: a dead gate whose backoff has expired
// is StateProbeOpen.
func (g *Gate) State(now time.Time) State {
	if g.state == StateDead && !now.Before(g.until) {
		return StateProbeOpen
	}
	return g.state
}

// Status returns the status at now: open when alive or ready to probe,
// busy when dead or while the probe is in flight. A gate is never closed.
func (g *Gate) Status(now time.Time) Status { return g.State(now).Status() }

// DeadUntil returns when the current backoff expires, or the zero time
// when the gate is alive.
func (g *Gate) DeadUntil() time.Time {
	if g.state == StateAlive {
		return time.Time{}
	}
	return g.until
}

// Acquire records that a request is being sent at now and reports whether
// it is the probe. It never refuses: the balancer decides where to send.
func (g *Gate) Acquire(now time.Time) (probe bool) {
	if g.State(now) != StateProbeOpen {
		return false
	}
	g.state = StateProbeClosed
	return true
}

// Release records the outcome of a request that Acquire admitted at some
// earlier time; probe is what Acquire returned for it.
func (g *Gate) Release(now time.Time, probe, failed bool) {
	switch {
	case g.state == StateAlive && !probe:
		if !failed {
			g.policy.RecordSuccess()
		} else if d, dead := g.policy.MarkDeadOnFailure(); dead {
			g.markDead(now, d)
		}
	case g.state == StateProbeClosed && probe:
		if !failed {
			g.policy.RecordSuccess()
			g.policy.Revived()
			g.state = StateAlive
		} else if d, dead := g.policy.MarkDeadOnFailure(); dead {
			g.markDead(now, d)
		} else {
			// The policy is not convinced yet (say the success-rate window
			// emptied during a long backoff): let another probe through,
			// as Finagle does.
			g.state = StateProbeOpen
		}
	}
}

func (g *Gate) markDead(now time.Time, d time.Duration) {
	g.state = StateDead
	g.until = now.Add(d)
}
