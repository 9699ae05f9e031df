package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
)

// TestMain fails the run if a refresh goroutine outlives the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 0, "internal/refresh.")
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// script is a Source that answers from a queue; an empty queue repeats
// the last answer.
type script struct {
	mu    sync.Mutex
	queue []answer
	last  answer
	calls atomic.Int64
	gate  chan struct{} // if not nil, each Fetch waits for a receive
}

type answer struct {
	res refresh.Result
	err error
}

func (s *script) push(a ...answer) {
	s.mu.Lock()
	s.queue = append(s.queue, a...)
	s.mu.Unlock()
}

func (s *script) Fetch(ctx context.Context) (refresh.Result, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return refresh.Result{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		s.last, s.queue = s.queue[0], s.queue[1:]
	}
	return s.last.res, s.last.err
}

func addrs(ports ...int) []name.Address {
	out := make([]name.Address, len(ports))
	for i, p := range ports {
		out[i] = name.Address{Host: "10.0.0.1", Port: p}
	}
	return out
}

func ok(ports ...int) answer { return answer{res: refresh.Result{Addrs: addrs(ports...)}} }
func fail(err error) answer  { return answer{err: err} }
func neg() answer            { return answer{res: refresh.Result{Neg: true}} }
func unchanged() answer      { return answer{res: refresh.Result{Unchanged: true}} }
func withTTL(d time.Duration, ports ...int) answer {
	return answer{res: refresh.Result{Addrs: addrs(ports...), TTL: d}}
}

var errDown = errors.New("connection refused")

func newCache(t *testing.T, clk *clock.Fake, mod func(*refresh.Config)) *refresh.Cache {
	t.Helper()
	cfg := refresh.Config{Namer: "test", TTL: 10 * time.Second, ErrorTTL: time.Second, MaxBackoff: 8 * time.Second,
		EmptyGrace: 30 * time.Second, Clock: clk, Rand: func() float64 { return 1 },
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := refresh.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// use samples the entry's Var as the proxy does and waits for the refresh
// that it may have started.
func use(t *testing.T, e *refresh.Entry) name.Addr {
	t.Helper()
	e.Var().Sample()
	select {
	case <-e.Idle():
	case <-time.After(5 * time.Second):
		t.Fatal("refresh did not finish")
	}
	return e.Var().Peek()
}

func TestSequences(t *testing.T) {
	type step struct {
		advance   time.Duration
		answer    *answer // pushed before the use; nil: repeat the last
		wantPorts []int   // nil with wantState bound: empty set
		wantState name.AddrState
		wantCalls int64
	}
	a := func(x answer) *answer { return &x }
	tests := []struct {
		name  string
		mod   func(*refresh.Config)
		first answer
		steps []step
	}{
		{
			name:  "lazy: refresh only after the TTL",
			first: ok(1),
			steps: []step{
				{advance: 5 * time.Second, answer: a(ok(2)), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 1},
				{advance: 5 * time.Second, wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 2},
				{advance: time.Second, wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 2},
			},
		},
		{
			name:  "errors keep the last good set and back off exponentially",
			first: ok(1),
			steps: []step{
				{advance: 10 * time.Second, answer: a(fail(errDown)), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				// ErrorTTL 1s (jitter at its top).
				{advance: 999 * time.Millisecond, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: time.Millisecond, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 3},
				// 2s, then 4s, then capped at 8s.
				{advance: 2 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 4},
				{advance: 3 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 4},
				{advance: time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 5},
				{advance: 8 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 6},
				{advance: 8 * time.Second, answer: a(ok(3)), wantPorts: []int{3}, wantState: name.AddrBound, wantCalls: 7},
				// Recovered: back to the TTL.
				{advance: 9 * time.Second, wantPorts: []int{3}, wantState: name.AddrBound, wantCalls: 7},
			},
		},
		{
			name:  "throttling backs off from the TTL",
			first: ok(1),
			mod:   func(c *refresh.Config) { c.MaxBackoff = time.Minute },
			steps: []step{
				{advance: 10 * time.Second, answer: a(fail(refresh.Throttled(errors.New("RequestLimitExceeded")))), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 9 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 3},
				{advance: 19 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 3},
				{advance: time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 4},
			},
		},
		{
			name:  "first answer an error: failed, then bound",
			first: fail(errDown),
			steps: []step{
				{advance: time.Second, answer: a(ok(1)), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
			},
		},
		{
			name:  "empty answer waits for the grace period",
			first: ok(1),
			steps: []step{
				{advance: 10 * time.Second, answer: a(ok()), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 10 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 3},
				{advance: 10 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 4},
				{advance: 10 * time.Second, wantPorts: nil, wantState: name.AddrBound, wantCalls: 5},
			},
		},
		{
			name:  "a non-empty answer within the grace resets it",
			first: ok(1),
			steps: []step{
				{advance: 10 * time.Second, answer: a(ok()), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 10 * time.Second, answer: a(ok(2)), wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 3},
				{advance: 10 * time.Second, answer: a(ok()), wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 4},
				{advance: 10 * time.Second, wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 5},
				{advance: 10 * time.Second, wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 6},
				{advance: 10 * time.Second, wantPorts: nil, wantState: name.AddrBound, wantCalls: 7},
			},
		},
		{
			name:  "no such name is held off like empty",
			first: ok(1),
			steps: []step{
				{advance: 10 * time.Second, answer: a(neg()), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 30 * time.Second, wantState: name.AddrNeg, wantCalls: 3},
			},
		},
		{
			name:  "no grace: empty replaces at once",
			first: ok(1),
			mod:   func(c *refresh.Config) { c.EmptyGrace = -1 },
			steps: []step{
				{advance: 10 * time.Second, answer: a(ok()), wantPorts: nil, wantState: name.AddrBound, wantCalls: 2},
			},
		},
		{
			name:  "first answer empty is published",
			first: ok(),
			steps: []step{
				{advance: 10 * time.Second, answer: a(ok(1)), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
			},
		},
		{
			name:  "unchanged keeps the set",
			first: ok(1),
			steps: []step{
				{advance: 10 * time.Second, answer: a(unchanged()), wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 10 * time.Second, wantPorts: []int{1}, wantState: name.AddrBound, wantCalls: 3},
			},
		},
		{
			name:  "a result's own TTL",
			first: withTTL(2*time.Second, 1),
			steps: []step{
				{advance: 2 * time.Second, answer: a(withTTL(time.Minute, 2)), wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 2},
				{advance: 30 * time.Second, wantPorts: []int{2}, wantState: name.AddrBound, wantCalls: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			c := newCache(t, clk, tt.mod)
			src := &script{}
			src.push(tt.first)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			e, _, err := c.Lookup(ctx, "n", func() refresh.Source { return src })
			require.NoError(t, err)
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				if st.answer != nil {
					src.push(*st.answer)
				}
				got := use(t, e)
				assert.Equal(t, st.wantState, got.State, "step %d state", i)
				if st.wantState == name.AddrBound {
					want := addrs(st.wantPorts...)
					assert.Equal(t, want, got.Addresses, "step %d addresses", i)
				}
				assert.Equal(t, st.wantCalls, src.calls.Load(), "step %d calls", i)
			}
		})
	}
}

func TestServesStaleWhileRefreshingAndSingleFlight(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, nil)
	src := &script{}
	src.push(ok(1), ok(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, a, err := c.Lookup(ctx, "n", func() refresh.Source { return src })
	require.NoError(t, err)
	require.Equal(t, addrs(1), a.Addresses)

	src.gate = make(chan struct{})
	clk.Advance(time.Minute)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every use during the refresh gets the stale set at once.
			assert.Equal(t, addrs(1), e.Var().Sample().Addresses)
		}()
	}
	wg.Wait()
	src.gate <- struct{}{}
	<-e.Idle()
	assert.Equal(t, addrs(2), e.Var().Peek().Addresses)
	assert.EqualValues(t, 2, src.calls.Load(), "one fetch for 100 uses")
}

func TestLookupWaitsForFirstAnswerOrContext(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, nil)
	src := &script{gate: make(chan struct{})}
	src.push(ok(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Lookup(ctx, "n", func() refresh.Source { return src })
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "test: n")

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { src.gate <- struct{}{} }()
	_, a, err := c.Lookup(ctx, "n", func() refresh.Source { t.Fatal("second source"); return nil })
	require.NoError(t, err)
	assert.Equal(t, addrs(1), a.Addresses)
}

func TestRefreshDueSkipsIdleNames(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, func(c *refresh.Config) { c.IdleAfter = time.Minute })
	used, idle := &script{}, &script{}
	used.push(ok(1))
	idle.push(ok(1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eu, _, err := c.Lookup(ctx, "used", func() refresh.Source { return used })
	require.NoError(t, err)
	ei, _, err := c.Lookup(ctx, "idle", func() refresh.Source { return idle })
	require.NoError(t, err)

	clk.Advance(50 * time.Second)
	eu.Var().Peek() // Peek is not a use
	c.RefreshDue()
	<-eu.Idle()
	<-ei.Idle()
	assert.EqualValues(t, 2, used.calls.Load())
	assert.EqualValues(t, 2, idle.calls.Load())

	clk.Advance(20 * time.Second) // idle unused for 70s; used sampled below
	eu.Var().Sample()
	<-eu.Idle()
	clk.Advance(10 * time.Second)
	c.RefreshDue()
	<-eu.Idle()
	<-ei.Idle()
	assert.EqualValues(t, 4, used.calls.Load(), "a used name refreshes in the background")
	assert.EqualValues(t, 2, idle.calls.Load(), "an idle name waits for its next use")
}

func TestBackgroundLoop(t *testing.T) {
	// Real time: a short TTL and the loop's own ticker. The wait is on the
	// event (a second fetch), bounded by a deadline.
	c, err := refresh.New(refresh.Config{TTL: 50 * time.Millisecond, Background: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer c.Close()
	src := &script{}
	src.push(ok(1), ok(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, _, err := c.Lookup(ctx, "n", func() refresh.Source { return src })
	require.NoError(t, err)
	ch := e.Var().Changed()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no background refresh")
	}
	assert.Equal(t, addrs(2), e.Var().Peek().Addresses)
}

func TestState(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, nil)
	src := &script{}
	src.push(ok(1), fail(errDown))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, _, err := c.Lookup(ctx, "n", func() refresh.Source { return src })
	require.NoError(t, err)
	clk.Advance(15 * time.Second)
	use(t, e)
	st := c.State()
	require.Len(t, st, 1)
	s := st[0]
	assert.Equal(t, "n", s.Name)
	assert.Equal(t, "bound", s.State)
	assert.Equal(t, addrs(1), s.Endpoints)
	assert.Equal(t, t0.Add(15*time.Second), s.LastRefresh)
	assert.Equal(t, t0, s.LastSuccess)
	assert.Equal(t, 15*time.Second, s.Age)
	assert.Equal(t, errDown.Error(), s.LastError)
	assert.Equal(t, 1, s.Failures)
	assert.EqualValues(t, 2, s.Fetches)
	assert.True(t, t0.Add(16*time.Second).Equal(s.NextRefresh), "next refresh %s", s.NextRefresh)
}

func TestNewRejectsNegative(t *testing.T) {
	_, err := refresh.New(refresh.Config{Namer: "x", TTL: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x: Config.TTL")
}

func TestThrottled(t *testing.T) {
	base := errors.New("RequestLimitExceeded: slow down")
	err := fmt.Errorf("cloudmap: discover: %w", refresh.Throttled(base))
	assert.ErrorIs(t, err, refresh.ErrThrottled)
	assert.ErrorIs(t, err, base)
	assert.Equal(t, "cloudmap: discover: RequestLimitExceeded: slow down", err.Error())
	assert.NoError(t, refresh.Throttled(nil))
}
