package accrual_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
)

// gateHarness drives a Gate under a fake clock.
type gateHarness struct {
	t    *testing.T
	gate *accrual.Gate
	clk  *clock.Fake
}

// newGateHarness returns a gate with the default consecutive-failures
// policy (5 in a row) and jitter fixed at 0.5: dead for 5s, 7.5s, 15s, …
func newGateHarness(t *testing.T) *gateHarness {
	t.Helper()
	p, err := accrual.NewConsecutiveFailures(5, backoff(t))
	require.NoError(t, err)
	return &gateHarness{t: t, gate: accrual.NewGate(p), clk: clock.NewFake(t0)}
}

// request sends one request and finishes it with the given outcome;
// it returns whether it was the probe.
func (h *gateHarness) request(failed bool) bool {
	now := h.clk.Now()
	probe := h.gate.Acquire(now)
	h.gate.Release(now, probe, failed)
	return probe
}

func (h *gateHarness) expect(state accrual.State, status accrual.Status) {
	h.t.Helper()
	now := h.clk.Now()
	assert.Equal(h.t, state, h.gate.State(now), "state")
	assert.Equal(h.t, status, h.gate.Status(now), "status")
}

// killNow fails the alive gate five times.
func (h *gateHarness) killNow() {
	for range 5 {
		require.False(h.t, h.request(true))
	}
}

func TestGateAliveToDead(t *testing.T) {
	h := newGateHarness(t)
	h.expect(accrual.StateAlive, accrual.StatusOpen)
	assert.True(t, h.gate.DeadUntil().IsZero())
	for range 4 {
		h.request(true)
	}
	h.expect(accrual.StateAlive, accrual.StatusOpen)
	h.request(true)
	h.expect(accrual.StateDead, accrual.StatusBusy)
	assert.Equal(t, t0.Add(5*s), h.gate.DeadUntil())
}

func TestGateDeadIgnoresOutcomesAndNeverRejects(t *testing.T) {
	h := newGateHarness(t)
	h.killNow()
	// Fail open: a request sent to a dead endpoint is let through, is not
	// a probe, and its outcome changes nothing.
	assert.False(t, h.request(false))
	assert.False(t, h.request(true))
	h.expect(accrual.StateDead, accrual.StatusBusy)
	h.clk.Advance(5*s - 1)
	h.expect(accrual.StateDead, accrual.StatusBusy)
	assert.Equal(t, t0.Add(5*s), h.gate.DeadUntil())
}

func TestGateBackoffExpiryAllowsExactlyOneProbe(t *testing.T) {
	h := newGateHarness(t)
	h.killNow()
	h.clk.Advance(5 * s)
	h.expect(accrual.StateProbeOpen, accrual.StatusOpen)

	now := h.clk.Now()
	require.True(t, h.gate.Acquire(now), "the first request is the probe")
	h.expect(accrual.StateProbeClosed, accrual.StatusBusy)
	assert.False(t, h.gate.Acquire(now), "a second request is not a probe")
	h.expect(accrual.StateProbeClosed, accrual.StatusBusy)
	assert.Equal(t, "probing", h.gate.State(now).String())
}

func TestGateProbeSuccessRevives(t *testing.T) {
	h := newGateHarness(t)
	h.killNow()
	h.clk.Advance(5 * s)
	require.True(t, h.request(false))
	h.expect(accrual.StateAlive, accrual.StatusOpen)
	assert.True(t, h.gate.DeadUntil().IsZero())

	// The backoff was reset: the next death lasts 5s again.
	h.killNow()
	assert.Equal(t, h.clk.Now().Add(5*s), h.gate.DeadUntil())
}

func TestGateProbeFailureBacksOffLonger(t *testing.T) {
	h := newGateHarness(t)
	h.killNow()
	for _, next := range []time.Duration{7500 * time.Millisecond, 15 * s, 30 * s} {
		h.clk.Advance(h.gate.DeadUntil().Sub(h.clk.Now()))
		require.True(t, h.request(true), "probe")
		h.expect(accrual.StateDead, accrual.StatusBusy)
		assert.Equal(t, h.clk.Now().Add(next), h.gate.DeadUntil())
	}
}

func TestGateOnlyTheProbeDecidesTheProbe(t *testing.T) {
	h := newGateHarness(t)
	now := h.clk.Now()
	// A straggler acquired while alive ...
	straggler := h.gate.Acquire(now)
	require.False(t, straggler)
	h.killNow()
	h.clk.Advance(5 * s)
	now = h.clk.Now()
	probe := h.gate.Acquire(now)
	require.True(t, probe)
	// ... succeeds while the probe is in flight: it does not revive.
	h.gate.Release(now, straggler, false)
	h.expect(accrual.StateProbeClosed, accrual.StatusBusy)
	// Nor does a failing one kill.
	h.gate.Release(now, false, true)
	h.expect(accrual.StateProbeClosed, accrual.StatusBusy)
	h.gate.Release(now, probe, false)
	h.expect(accrual.StateAlive, accrual.StatusOpen)
}

func TestGateProbeFailureThePolicyForgivesReopensTheProbe(t *testing.T) {
	clk := clock.NewFake(t0)
	p, err := accrual.NewSuccessRate(0.8, 30*s, 5, backoff(t), clk)
	require.NoError(t, err)
	g := accrual.NewGate(p)
	for range 5 {
		g.Release(clk.Now(), g.Acquire(clk.Now()), true)
	}
	require.Equal(t, accrual.StateDead, g.State(clk.Now()))
	// The window empties during the dead period: one failed probe is
	// below the minimum, so the policy does not mark dead again and the
	// gate lets another probe through, as Finagle does.
	clk.Advance(time.Minute)
	now := clk.Now()
	require.True(t, g.Acquire(now))
	g.Release(now, true, true)
	assert.Equal(t, accrual.StateProbeOpen, g.State(now))
	assert.Equal(t, accrual.StatusOpen, g.Status(now))
	assert.True(t, g.Acquire(now), "the next request is a probe again")
}

func TestGateWithNilPolicyNeverDies(t *testing.T) {
	g := accrual.NewGate(nil)
	for range 100 {
		g.Release(t0, g.Acquire(t0), true)
	}
	assert.Equal(t, accrual.StateAlive, g.State(t0))
}

func TestStatusAndStateStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "closed", got: accrual.StatusClosed.String(), want: "closed"},
		{name: "busy", got: accrual.StatusBusy.String(), want: "busy"},
		{name: "open", got: accrual.StatusOpen.String(), want: "open"},
		{name: "bad status", got: accrual.Status(9).String(), want: "unknown"},
		{name: "alive", got: accrual.StateAlive.String(), want: "alive"},
		{name: "dead", got: accrual.StateDead.String(), want: "dead"},
		{name: "probe open", got: accrual.StateProbeOpen.String(), want: "probing"},
		{name: "probe closed", got: accrual.StateProbeClosed.String(), want: "probing"},
		{name: "bad state", got: accrual.State(9).String(), want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
		})
	}
	assert.Less(t, accrual.StatusBusy, accrual.StatusOpen, "open is better than busy")
	assert.Less(t, accrual.StatusClosed, accrual.StatusBusy, "busy is better than closed")
}
