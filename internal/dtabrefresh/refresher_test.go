package dtabrefresh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/dtabrefresh"

	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// scripted is a Source answering from a list the test sets, counting
// calls. With gate set, each Fetch waits for a value on it.
type scripted struct {
	mu    sync.Mutex
	dtab  string
	ver   string
	err   error
	poll  time.Duration
	calls int
	gate  chan struct{}
	// entered, when set, receives a value as each Fetch starts.
	entered chan struct{}
}

func (s *scripted) String() string { return "test:src" }

func (s *scripted) set(dtab, ver string, err error) {
	s.mu.Lock()
	s.dtab, s.ver, s.err = dtab, ver, err
	s.mu.Unlock()
}

func (s *scripted) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *scripted) Fetch(ctx context.Context, prev string) (dtabsource.Fetched, error) {
	s.mu.Lock()
	s.calls++
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return dtabsource.Fetched{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return dtabsource.Fetched{}, s.err
	}
	if s.ver == prev {
		return dtabsource.Fetched{Version: prev, NextPoll: s.poll}, nil
	}
	return dtabsource.Fetched{Dtab: s.dtab, Version: s.ver, Changed: true, NextPoll: s.poll}, nil
}

// testNamers binds /#/t/a, /#/t/b and /#/t/c; anything else under /#/t
// is negative.
func testNamers(t *testing.T) *bind.Namers {
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/t", name.NamerFunc(func(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
		if len(p) == 0 || !strings.Contains("abc", p[0]) {
			return name.Tree[name.Bound]{}, nil
		}
		v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 1}}}, nil)
		return name.NewLeaf(name.Bound{ID: name.Path{"#", "t", p[0]}, Residual: p[1:], Addr: v}), nil
	})))
	return ns
}

type fixture struct {
	src *scripted
	clk *clock.Fake
	in  *bind.Interpreter
	r   *dtabrefresh.Refresher
	log *bytes.Buffer
}

func newFixture(t *testing.T, base string, cfg dtabrefresh.Config) *fixture {
	t.Helper()
	f := &fixture{src: &scripted{}, clk: clock.NewFake(time.Unix(1_700_000_000, 0)), log: &bytes.Buffer{}}
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab(base), Namers: testNamers(t), Clock: f.clk})
	require.NoError(t, err)
	f.in = in
	cfg.Source, cfg.Interpreter, cfg.Base, cfg.Clock = f.src, in, in.Dtab(), f.clk
	cfg.Logger = slog.New(slog.NewTextHandler(f.log, nil))
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0 }
	}
	f.r, err = dtabrefresh.New(cfg)
	require.NoError(t, err)
	in.SetHooks(f.r.Hooks())
	return f
}

// bind binds path through the interpreter, as a request does.
func (f *fixture) bind(t *testing.T, path string) bind.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := f.in.Bind(ctx, nil, name.MustParsePath(path))
	require.NoError(t, err)
	return res
}

func boundID(res bind.Result) string {
	if res.Kind == name.Neg || len(res.Bounds) == 0 {
		return "neg"
	}
	return res.Bounds[0].Value.ID.String()
}

func TestRefresherSwapsAfterTTL(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")))
	require.Equal(t, "1", f.r.State().Version)
	require.Equal(t, "/svc=>/#/t;/svc/x=>/#/t/a", f.in.Dtab().String(), "SLINKERD_DTAB first, the source's after")

	f.src.set("/svc/x=>/#/t/b", "2", nil)
	f.clk.Advance(29 * time.Second)
	require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")), "within the TTL: no fetch")
	require.Equal(t, 1, f.src.Calls())
	f.clk.Advance(time.Second)
	require.Equal(t, "/#/t/b", boundID(f.bind(t, "/svc/x")), "the first use after the TTL waits for the fetch it starts")
	require.Equal(t, 2, f.src.Calls())
	require.Equal(t, "2", f.r.State().Version)
}

func TestRefresherOneCallPerTTL(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	// 10 minutes of traffic at 100 binds per simulated second.
	for range 600 {
		f.clk.Advance(time.Second)
		for range 100 {
			f.bind(t, "/svc/x")
		}
	}
	require.Equal(t, 1+20, f.src.Calls(), "one call at start, then one per 30s")
}

func TestRefresherStoreAskedPollWins(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 10 * time.Second})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	f.src.poll = 45 * time.Second
	require.NoError(t, f.r.Refresh(context.Background()))
	f.clk.Advance(44 * time.Second)
	f.bind(t, "/svc/x")
	require.Equal(t, 1, f.src.Calls())
	f.clk.Advance(time.Second)
	f.bind(t, "/svc/x")
	require.Equal(t, 2, f.src.Calls())
}

func TestRefresherRejects(t *testing.T) {
	tests := []struct {
		name   string
		dtab   string
		reason string
		log    string
	}{
		{name: "does not parse", dtab: "/svc/x=>>/#/t/b", reason: dtabrefresh.ReasonParse, log: "rejected a new dtab"},
		{name: "makes a name in use negative", dtab: "/svc/x=>~", reason: dtabrefresh.ReasonNegative, log: "/svc/x"},
		{name: "points a name in use at nothing", dtab: "/svc/x=>/#/t/nosuch", reason: dtabrefresh.ReasonNegative, log: "/svc/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second})
			f.src.set("/svc/x=>/#/t/a", "1", nil)
			require.NoError(t, f.r.Refresh(context.Background()))
			require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")))

			f.src.set(tt.dtab, "2", nil)
			f.clk.Advance(30 * time.Second)
			require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")), "the previous dtab is kept")
			st := f.r.State()
			require.Equal(t, "1", st.Version)
			require.Contains(t, st.Rejected, "2: ")
			_, rej := f.r.Counts()
			require.Equal(t, uint64(1), rej[tt.reason])
			require.Contains(t, f.log.String(), tt.log)

			// The rejected version is not fetched and judged again; a
			// good one after it is taken.
			f.clk.Advance(30 * time.Second)
			f.bind(t, "/svc/x")
			_, rej = f.r.Counts()
			require.Equal(t, uint64(1), rej[tt.reason])
			f.src.set("/svc/x=>/#/t/c", "3", nil)
			f.clk.Advance(30 * time.Second)
			require.Equal(t, "/#/t/c", boundID(f.bind(t, "/svc/x")))
		})
	}
}

func TestRefresherNameNotInUseMayGoNegative(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second, Window: time.Minute})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	f.bind(t, "/svc/x")
	f.clk.Advance(61 * time.Second) // /svc/x was last used over a minute ago
	f.src.set("/svc/x=>~", "2", nil)
	f.clk.Advance(time.Second)
	require.NoError(t, f.r.Refresh(context.Background()))
	require.Equal(t, "2", f.r.State().Version)
}

func TestRefresherBacksOffWithJitter(t *testing.T) {
	draws := []float64{0, 0.5, 1 - 1e-9, 0.5}
	var i int
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 10 * time.Second, MaxBackoff: 40 * time.Second,
		Rand: func() float64 { d := draws[i%len(draws)]; i++; return d }})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	f.src.set("", "", fmt.Errorf("GetParameter: %w", dtabsource.ErrThrottled))
	start := f.clk.Now()
	// Waits after failures 1..4: 10s+0, 20s+5s, 40s+~20s, 40s+10s.
	want := []time.Duration{10 * time.Second, 20 * time.Second, 45 * time.Second, 105 * time.Second, 155 * time.Second}
	for n, at := range want {
		f.clk.Set(start.Add(at - time.Millisecond))
		f.bind(t, "/svc/x")
		require.Equal(t, 1+n, f.src.Calls(), "before %s", at)
		f.clk.Set(start.Add(at))
		require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")), "throttled: the dtab in force serves")
		require.Equal(t, 2+n, f.src.Calls(), "at %s", at)
	}
	fetches, _ := f.r.Counts()
	require.Equal(t, uint64(5), fetches[dtabrefresh.ResultThrottled])
}

func TestRefresherWaitIsBounded(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second, Wait: 20 * time.Millisecond})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	f.bind(t, "/svc/x")
	gate := make(chan struct{})
	f.src.mu.Lock()
	f.src.gate = gate
	f.src.mu.Unlock()
	f.src.set("/svc/x=>/#/t/b", "2", nil)
	f.clk.Advance(30 * time.Second)
	// The store hangs: the use that started the fetch gives up after
	// Wait and serves the dtab in force.
	require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")))
	gate <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, f.r.Refresh(ctx)) // waits for the running fetch
	require.Equal(t, "/#/t/b", boundID(f.bind(t, "/svc/x")))
	require.Equal(t, 2, f.src.Calls())
}

func TestRefresherInitialFailureKeepsBase(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second})
	f.src.set("", "", errors.New("connection refused"))
	require.Error(t, f.r.Refresh(context.Background()))
	require.Equal(t, "/svc=>/#/t", f.in.Dtab().String())
	require.Contains(t, f.r.State().LastError, "connection refused")
}

// With the refresher's hooks installed and the dtab fresh, a cached bind
// allocates nothing: the hot path pays one atomic read.
func TestRefresherHotPathAllocates0(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	ctx, path := context.Background(), name.MustParsePath("/svc/x")
	_, err := f.in.BindNamed(ctx, nil, path, "/svc/x")
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _, _ = f.in.BindNamed(ctx, nil, path, "/svc/x") })
	require.Zero(t, allocs)
}

// Only the use that starts a fetch waits for it; uses while it runs are
// served by the dtab in force at once.
func TestRefresherOnlyTheStarterWaits(t *testing.T) {
	f := newFixture(t, "/svc=>/#/t", dtabrefresh.Config{TTL: 30 * time.Second, Wait: time.Hour})
	f.src.set("/svc/x=>/#/t/a", "1", nil)
	require.NoError(t, f.r.Refresh(context.Background()))
	f.bind(t, "/svc/x")
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	f.src.mu.Lock()
	f.src.gate, f.src.entered = gate, entered
	f.src.mu.Unlock()
	f.src.set("/svc/x=>/#/t/b", "2", nil)
	f.clk.Advance(30 * time.Second)

	starter := make(chan string, 1)
	go func() {
		res, err := f.in.Bind(context.Background(), nil, name.MustParsePath("/svc/x"))
		if err != nil {
			starter <- err.Error()
			return
		}
		starter <- boundID(res)
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch started")
	}
	require.Equal(t, "/#/t/a", boundID(f.bind(t, "/svc/x")), "a use during the fetch does not wait")
	gate <- struct{}{}
	select {
	case got := <-starter:
		require.Equal(t, "/#/t/b", got, "the starter waited for its fetch")
	case <-time.After(5 * time.Second):
		t.Fatal("the starter did not return")
	}
}
