package balance_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
)

// t0 is the fake clocks' start time.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var kinds = []string{balance.KindEWMA, balance.KindP2C, balance.KindRoundRobin}

// noPenalty returns a config of kind under which failures count as their
// rtt, so that kill can fail an endpoint five times under "ewma" too.
func noPenalty(kind string) balance.Config {
	return balance.Config{Kind: kind, FailurePenalty: -1}
}

// addrs returns n endpoints 10.0.0.1:80 … with the given weights (default 1).
func addrs(n int, weights ...float64) []name.Address {
	out := make([]name.Address, n)
	for i := range out {
		out[i] = name.Address{Host: fmt.Sprintf("10.0.0.%d", i+1), Port: 80}
		if i < len(weights) {
			out[i].Weight = weights[i]
		}
	}
	return out
}

// newBalancer returns a balancer of kind over eps with a fake clock at t0,
// a fixed seed and jitter, and cfg's other fields.
func newBalancer(t testing.TB, cfg balance.Config, eps []name.Address) (balance.Balancer, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	cfg.Clock = clk
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	b, err := balance.New(cfg)
	require.NoError(t, err)
	b.Update(eps)
	return b, clk
}

// stats returns Endpoints keyed by address.
func stats(b balance.Picker) map[string]balance.EndpointStats {
	out := map[string]balance.EndpointStats{}
	for _, s := range b.Endpoints() {
		out[s.Address] = s
	}
	return out
}

// pickDone picks and finishes n requests at once, returning how many went
// to each host:port.
func pickDone(t testing.TB, b balance.Picker, n int, failed bool) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		p, err := b.Pick()
		require.NoError(t, err)
		counts[p.Address.HostPort()]++
		p.Done(failed)
	}
	return counts
}

// hold picks n requests and leaves them outstanding.
func hold(t testing.TB, b balance.Picker, n int) (map[string]int, []*balance.Pick) {
	t.Helper()
	counts := map[string]int{}
	var picks []*balance.Pick
	for range n {
		p, err := b.Pick()
		require.NoError(t, err)
		counts[p.Address.HostPort()]++
		picks = append(picks, p)
	}
	return counts, picks
}

// kill marks addr dead by failing five requests to it. For "ewma" the
// balancer needs FailurePenalty -1 (see noPenalty): otherwise the first
// failure makes addr look slow and it is not picked again.
func kill(t testing.TB, b balance.Balancer, addr string) {
	t.Helper()
	for i, killed := 0, 0; killed < 5; i++ {
		require.Less(t, i, 10000, "cannot reach %s", addr)
		p, err := b.Pick()
		require.NoError(t, err)
		if p.Address.HostPort() == addr {
			p.Done(true)
			killed++
		} else {
			p.Done(false)
		}
	}
	require.Equal(t, "dead", stats(b)[addr].State)
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     balance.Config
		wantErr string
	}{
		{name: "zero value", cfg: balance.Config{}},
		{name: "ewma", cfg: balance.Config{Kind: "ewma"}},
		{name: "p2c", cfg: balance.Config{Kind: "p2c"}},
		{name: "roundrobin", cfg: balance.Config{Kind: "roundrobin"}},
		{name: "linkerd 1 spelling", cfg: balance.Config{Kind: "roundRobin"}},
		{name: "unknown kind", cfg: balance.Config{Kind: "aperture"}, wantErr: `balance: unknown Kind "aperture" (want one of ewma, p2c, roundrobin, `},
		{name: "negative effort", cfg: balance.Config{MaxEffort: -1}, wantErr: "balance: MaxEffort -1 is negative"},
		{name: "negative decay", cfg: balance.Config{DecayTime: -time.Second}, wantErr: "balance: DecayTime -1s is negative"},
		{name: "bad accrual", cfg: balance.Config{Accrual: accrual.Config{SuccessRate: 2}}, wantErr: "balance: failure accrual: accrual: SuccessRate 2 is outside [0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := balance.New(tt.cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, b)
				return
			}
			require.Error(t, err)
			// The unknown-kind message goes on to list the registered
			// kinds, which depend on what the test binary registered.
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantErr), "error %q, want it to start with %q", err, tt.wantErr)
		})
	}
}

func TestNoEndpoints(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, err := balance.New(balance.Config{Kind: kind})
			require.NoError(t, err)
			_, err = b.Pick()
			require.ErrorIs(t, err, balance.ErrNoEndpoints, "never updated")
			b.Update(addrs(2))
			_, err = b.Pick()
			require.NoError(t, err)
			b.Update(nil)
			_, err = b.Pick()
			require.ErrorIs(t, err, balance.ErrNoEndpoints, "emptied")
			assert.Empty(t, b.Endpoints())
		})
	}
}

func TestUpdateKeepsStateOfStayingEndpoints(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, noPenalty(kind), addrs(2))
			pickDone(t, b, 10, false) // latency data for both
			// Leave requests outstanding on both endpoints.
			var picks []*balance.Pick
			seen := map[string]bool{}
			for len(seen) < 2 || len(picks) < 4 {
				p, err := b.Pick()
				require.NoError(t, err)
				seen[p.Address.HostPort()] = true
				picks = append(picks, p)
			}
			kill(t, b, "10.0.0.2:80")
			before := stats(b)

			// 10.0.0.1 stays (with a new weight), .2 goes, .3 arrives.
			next := addrs(3, 2)
			b.Update([]name.Address{next[0], next[2]})
			after := stats(b)
			require.Len(t, after, 2)
			assert.Equal(t, before["10.0.0.1:80"].Pending, after["10.0.0.1:80"].Pending)
			assert.Equal(t, before["10.0.0.1:80"].Requests, after["10.0.0.1:80"].Requests)
			assert.Equal(t, 2.0, after["10.0.0.1:80"].Weight)
			assert.Equal(t, balance.EndpointStats{Address: "10.0.0.3:80", Weight: 1, State: "alive"}, after["10.0.0.3:80"])

			// Picks of the removed endpoint complete safely.
			for _, p := range picks {
				p.Done(false)
			}
			assert.Zero(t, stats(b)["10.0.0.1:80"].Pending)

			// Re-adding the dead endpoint starts it afresh.
			b.Update(addrs(2))
			assert.Equal(t, "alive", stats(b)["10.0.0.2:80"].State)
		})
	}
}

func TestUpdateDropsDuplicatesAndFixesBadWeights(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{}, nil)
	eps := addrs(3, 1, -2, 3)
	eps = append(eps, name.Address{Host: "10.0.0.1", Port: 80, Weight: 7})
	b.Update(eps)
	got := b.Endpoints()
	require.Len(t, got, 3)
	assert.Equal(t, []float64{1, 1, 3}, []float64{got[0].Weight, got[1].Weight, got[2].Weight})
}

func TestDoneIsIdempotent(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, balance.Config{Kind: kind}, addrs(1))
			p, err := b.Pick()
			require.NoError(t, err)
			assert.Equal(t, 1, b.Endpoints()[0].Pending)
			p.Done(true)
			p.Done(true)
			p.Done(false)
			s := b.Endpoints()[0]
			assert.Zero(t, s.Pending)
			assert.Equal(t, int64(1), s.Requests)
			assert.Equal(t, int64(1), s.Failed)
			assert.Equal(t, 1, s.Failures)
		})
	}
	var nilPick *balance.Pick
	nilPick.Done(false)
	(&balance.Pick{}).Done(false)
}

func TestFailuresAreCounted(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindP2C}, addrs(1))
	pickDone(t, b, 3, true)
	pickDone(t, b, 1, false)
	pickDone(t, b, 2, true)
	s := b.Endpoints()[0]
	assert.Equal(t, int64(6), s.Requests)
	assert.Equal(t, int64(5), s.Failed)
	assert.Equal(t, 2, s.Failures, "consecutive")
}

// A dead endpoint gets no traffic while others are open.
func TestDeadEndpointIsAvoided(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, noPenalty(kind), addrs(3))
			kill(t, b, "10.0.0.3:80")
			counts := pickDone(t, b, 3000, false)
			assert.Zero(t, counts["10.0.0.3:80"])
			assert.InDelta(t, 1500, counts["10.0.0.1:80"], 150)
		})
	}
}

// When the backoff expires exactly one request probes the endpoint; it is
// busy while the probe is in flight, and alive after it succeeds.
func TestProbeAfterBackoff(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, clk := newBalancer(t, noPenalty(kind), addrs(3))
			kill(t, b, "10.0.0.3:80")
			dead := stats(b)["10.0.0.3:80"]
			assert.Equal(t, clk.Now().Add(5*time.Second), dead.DeadUntil)

			clk.Advance(5 * time.Second)
			assert.Equal(t, "probing", stats(b)["10.0.0.3:80"].State)
			counts, picks := hold(t, b, 200)
			assert.Equal(t, 1, counts["10.0.0.3:80"], "exactly one probe")
			var probe *balance.Pick
			for _, p := range picks {
				if p.Address.HostPort() == "10.0.0.3:80" {
					probe = p
				} else {
					p.Done(false)
				}
			}
			probe.Done(false)
			assert.Equal(t, "alive", stats(b)["10.0.0.3:80"].State)
			assert.NotZero(t, pickDone(t, b, 300, false)["10.0.0.3:80"])
		})
	}
}

func TestProbeFailureBacksOffLonger(t *testing.T) {
	b, clk := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(2))
	kill(t, b, "10.0.0.2:80")
	clk.Advance(5 * time.Second)
	counts := pickDone(t, b, 2, true) // the probe is among them
	require.Equal(t, 1, counts["10.0.0.2:80"])
	s := stats(b)["10.0.0.2:80"]
	assert.Equal(t, "dead", s.State)
	d := s.DeadUntil.Sub(clk.Now())
	assert.GreaterOrEqual(t, d, 5*time.Second)
	assert.Less(t, d, 10*time.Second)
}

// With every endpoint dead the balancer still sends (fail open).
func TestFailOpenWhenAllDead(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, _ := newBalancer(t, noPenalty(kind), addrs(3))
			for _, a := range addrs(3) {
				kill(t, b, a.HostPort())
			}
			counts := pickDone(t, b, 300, false)
			assert.Len(t, counts, 3, "traffic still spreads over all")
			for _, s := range b.Endpoints() {
				assert.Equal(t, "dead", s.State, "fail-open traffic neither revives nor kills")
			}
		})
	}
}

func TestConcurrentPickDoneUpdate(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			b, err := balance.New(balance.Config{Kind: kind})
			require.NoError(t, err)
			b.Update(addrs(4))
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range 2000 {
						p, err := b.Pick()
						if errors.Is(err, balance.ErrNoEndpoints) {
							continue
						}
						if !assert.NoError(t, err) {
							return
						}
						p.Done(i%7 == 0)
					}
				})
			}
			wg.Go(func() {
				for i := range 200 {
					b.Update(addrs(1 + i%5))
					b.Endpoints()
				}
			})
			wg.Wait()
			b.Update(addrs(5))
			for _, s := range b.Endpoints() {
				assert.Zero(t, s.Pending, s.Address)
			}
		})
	}
}

// frozenClock always tells the same time: benchmarks with it measure the
// balancer without the cost of reading the system clock.
type frozenClock struct{}

func (frozenClock) Now() time.Time { return t0 }

// BenchmarkPickDone measures one Pick and its Done, per kind, over 10
// endpoints with uneven weights (so P2C samples by weight), serially and
// from parallel goroutines; "frozen-clock" leaves out the two system-clock
// reads a Pick+Done makes.
func BenchmarkPickDone(b *testing.B) {
	newPicker := func(kind string, clk clock.Clock) balance.Picker {
		if kind == "union" {
			x, _ := balance.New(balance.Config{Clock: clk})
			y, _ := balance.New(balance.Config{Clock: clk})
			x.Update(addrs(10))
			y.Update(addrs(10))
			u, err := balance.NewUnion([]balance.Branch{{Weight: 0.9, Balancer: x}, {Weight: 0.1, Balancer: y}}, nil)
			require.NoError(b, err)
			return u
		}
		p, err := balance.New(balance.Config{Kind: kind, Clock: clk})
		require.NoError(b, err)
		p.Update(addrs(10, 1, 2, 3))
		return p
	}
	run := func(b *testing.B, p balance.Picker) {
		b.ReportAllocs()
		for b.Loop() {
			pk, err := p.Pick()
			if err != nil {
				b.Fatal(err)
			}
			pk.Done(false)
		}
	}
	for _, kind := range append(kinds, "union") {
		b.Run(kind, func(b *testing.B) { run(b, newPicker(kind, nil)) })
		b.Run(kind+"/frozen-clock", func(b *testing.B) { run(b, newPicker(kind, frozenClock{})) })
		b.Run(kind+"/parallel", func(b *testing.B) {
			p := newPicker(kind, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pk, err := p.Pick()
					if err != nil {
						b.Error(err)
						return
					}
					pk.Done(false)
				}
			})
		})
	}
}
