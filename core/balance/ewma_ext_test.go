package balance_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
)

// simulate sends n requests one after another; rtt says how long each
// endpoint takes and whether it fails. It returns the count per endpoint.
func simulate(t *testing.T, b balance.Picker, clk *clock.Fake, n int, rtt func(addr string) (time.Duration, bool)) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		p, err := b.Pick()
		require.NoError(t, err)
		addr := p.Address.HostPort()
		counts[addr]++
		d, failed := rtt(addr)
		clk.Advance(d)
		p.Done(failed)
	}
	return counts
}

func TestEWMAStats(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{}, addrs(1))
	p, err := b.Pick()
	require.NoError(t, err)
	s := b.Endpoints()[0]
	assert.Equal(t, balance.EndpointStats{Address: "10.0.0.1:80", Weight: 1, Pending: 1, Load: float64(math.MaxInt64>>16) + 1, State: "alive"}, s,
		"no data yet and one outstanding: the new-endpoint penalty")

	clk.Advance(100 * time.Millisecond)
	p.Done(false)
	s = b.Endpoints()[0]
	assert.Equal(t, 100*time.Millisecond, s.EWMA)
	assert.Equal(t, float64(100*time.Millisecond), s.Load)

	clk.Advance(10 * time.Second)
	_, err = b.Pick()
	require.NoError(t, err)
	s = b.Endpoints()[0]
	decayed := float64(100*time.Millisecond) * math.Exp(-1)
	assert.Equal(t, time.Duration(decayed), s.EWMA)
	assert.InEpsilon(t, 2*decayed, s.Load, 1e-12, "ema × (pending+1)")
}

// A new endpoint gets one request, not a flood, until it has answered.
func TestEWMANewEndpointGetsOneProbe(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{}, addrs(2))
	simulate(t, b, clk, 10, func(string) (time.Duration, bool) { return 10 * time.Millisecond, false })
	b.Update(addrs(3))
	counts, picks := hold(t, b, 100)
	assert.Equal(t, 1, counts["10.0.0.3:80"])

	// Once it answers fast, it gets its share.
	for _, p := range picks {
		p.Done(false)
	}
	counts = simulate(t, b, clk, 300, func(string) (time.Duration, bool) { return 10 * time.Millisecond, false })
	assert.Greater(t, counts["10.0.0.3:80"], 50)
}

func TestEWMAPrefersFastEndpoints(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{}, addrs(3))
	counts := simulate(t, b, clk, 3000, func(addr string) (time.Duration, bool) {
		if addr == "10.0.0.3:80" {
			return 50 * time.Millisecond, false
		}
		return 10 * time.Millisecond, false
	})
	t.Logf("counts: %v", counts)
	assert.Less(t, counts["10.0.0.3:80"], 300, "the slow one gets < 10%%: %v", counts)
	assert.Greater(t, counts["10.0.0.3:80"], 0, "decay lets it be retried")
}

// A failure counts as slow, so an endpoint that fails fast does not
// attract traffic, even with failure accrual off.
func TestEWMAFastFailingEndpointIsAvoided(t *testing.T) {
	failFast := func(addr string) (time.Duration, bool) {
		if addr == "10.0.0.3:80" {
			return time.Millisecond, true
		}
		return 10 * time.Millisecond, false
	}
	noAccrual := accrual.Config{ConsecutiveFailures: -1}
	tests := []struct {
		name         string
		penalty      time.Duration
		atLeast, max int
	}{
		{name: "default penalty", penalty: 0, max: 150},
		{name: "without the penalty it would attract most traffic", penalty: -1, atLeast: 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newBalancer(t, balance.Config{FailurePenalty: tt.penalty, Accrual: noAccrual}, addrs(3))
			counts := simulate(t, b, clk, 3000, failFast)
			got := counts["10.0.0.3:80"]
			t.Logf("counts: %v", counts)
			assert.GreaterOrEqual(t, got, tt.atLeast, "%v", counts)
			if tt.max > 0 {
				assert.LessOrEqual(t, got, tt.max, "%v", counts)
			}
		})
	}
}

// The failure penalty makes a dead endpoint look slow, but when its
// backoff expires its probe still goes out at once rather than after the
// inflated estimate has decayed.
func TestEWMAProbeIsNotPostponedByTheFailurePenalty(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{}, addrs(2))
	const good, bad = "10.0.0.1:80", "10.0.0.2:80"
	simulate(t, b, clk, 10, func(addr string) (time.Duration, bool) { return 10 * time.Millisecond, addr == bad })

	// Pile requests onto the good endpoint until the bad one, charged 1s
	// per failure, is the cheaper choice; fail it until it is dead.
	var held []*balance.Pick
	for i := 0; stats(b)[bad].State != "dead"; i++ {
		require.Less(t, i, 10_000)
		p, err := b.Pick()
		require.NoError(t, err)
		if p.Address.HostPort() == bad {
			p.Done(true)
		} else {
			held = append(held, p)
		}
	}
	for _, p := range held {
		p.Done(false)
	}
	s := stats(b)[bad]
	require.Equal(t, time.Second, s.EWMA, "failures are charged 1s")

	clk.Advance(s.DeadUntil.Sub(clk.Now()))
	counts, picks := hold(t, b, 10)
	assert.Equal(t, bad, picks[0].Address.HostPort(), "the probe goes first")
	assert.Equal(t, 1, counts[bad], "and alone")
}

// An outstanding request older than the estimate raises the load: the
// endpoint is known to be at least that slow before its response arrives.
func TestEWMAOutstandingAgeRaisesLoad(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{}, addrs(1))
	p, err := b.Pick()
	require.NoError(t, err)
	clk.Advance(10 * time.Millisecond)
	p.Done(false) // estimate 10ms

	slow, err := b.Pick()
	require.NoError(t, err)
	clk.Advance(5 * time.Millisecond)
	s := b.Endpoints()[0]
	assert.InEpsilon(t, float64(10*time.Millisecond)*math.Exp(-0.0005)*2, s.Load, 1e-9, "younger than the estimate: ema × (pending+1)")

	clk.Advance(995 * time.Millisecond) // the request is now 1s old
	s = b.Endpoints()[0]
	assert.Equal(t, float64(time.Second)*2, s.Load, "age of the oldest outstanding × (pending+1)")

	slow.Done(false)
	s = b.Endpoints()[0]
	assert.Equal(t, float64(time.Second), s.Load, "the peak: the 1s response sets the estimate")
}
