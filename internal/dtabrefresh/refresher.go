// Package dtabrefresh keeps an interpreter's base dtab in step with a
// dtabsource.Source (SLINKERD_DTAB_SOURCE): it decides when to fetch (at
// most once per TTL per process, lazily on use and optionally in the
// background), checks what it fetched (it must parse, and must not make
// negative a name a request used in the last minute) and swaps it in,
// keeping the last good one.
package dtabrefresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// Config configures a Refresher.
type Config struct {
	// Source is where the dtab comes from. Required.
	Source dtabsource.Source
	// Interpreter receives the effective base dtab (Base followed by the
	// source's) through SetDtab. Required.
	Interpreter *bind.Interpreter
	// Base is SLINKERD_DTAB, put before the source's dtab. Defaults to
	// empty.
	Base name.Dtab
	// TTL is the least time between two fetches' starts: the source is
	// called at most once per TTL, whatever the traffic. A longer poll
	// interval asked by the store (AppConfig's) wins. Defaults to 30s.
	TTL time.Duration
	// MaxBackoff caps the wait after failed or throttled fetches, which
	// doubles from TTL with up to 50% jitter added. Defaults to 5m, and is
	// never less than TTL.
	MaxBackoff time.Duration
	// Wait bounds how long the first use after the TTL waits for the
	// fetch it starts (then the current dtab serves). Defaults to 500ms;
	// negative never waits. A request's own deadline also bounds it.
	Wait time.Duration
	// FetchTimeout bounds one fetch. Defaults to 10s.
	FetchTimeout time.Duration
	// Window is how long a bound name counts as in use: a dtab that makes
	// negative a name bound within it is rejected. Defaults to 1m.
	Window time.Duration
	// MaxRecent caps the names remembered as in use. Defaults to 512.
	MaxRecent int
	// Clock reads time. Defaults to the real clock.
	Clock clock.Clock
	// Rand draws jitter in [0, 1). Defaults to math/rand/v2's Float64.
	Rand func() float64
	// Logger receives swaps (info), rejections (error) and failed
	// fetches (warn). Defaults to slog.Default().
	Logger *slog.Logger
}

// The outcomes of a fetch, as the fetches_total metric's result label.
const (
	ResultChanged   = "changed"   // a new dtab, swapped in
	ResultUnchanged = "unchanged" // the store's version is the one held
	ResultRejected  = "rejected"  // a new dtab, rejected; the old one kept
	ResultError     = "error"     // the call failed
	ResultThrottled = "throttled" // the store refused the call for its rate
)

var results = []string{ResultChanged, ResultUnchanged, ResultRejected, ResultError, ResultThrottled}

// The reasons a dtab is rejected, as the rejections_total metric's
// reason label.
const (
	ReasonParse    = "parse"    // it does not parse
	ReasonNegative = "negative" // it makes negative a name in use
)

// Refresher keeps an Interpreter's base dtab in step with a dtabsource.Source.
// Install its Hooks on the interpreter: the hot path costs one atomic
// read until the TTL has passed.
type Refresher struct {
	cfg Config
	clk clock.Clock
	due atomic.Int64 // unix nanoseconds when the next fetch may start

	mu         sync.Mutex
	inflight   chan struct{} // closed when the running fetch ends
	failures   int
	seen       string // the version last fetched, taken or rejected
	state      State
	current    string // the source's dtab text in force
	fetches    map[string]uint64
	rejections map[string]uint64

	rmu    sync.Mutex
	recent map[string]time.Time // bound names, when last delegated
}

// State is what an operator sees: which routing this instance runs.
type State struct {
	// Source is SLINKERD_DTAB_SOURCE.
	Source string `json:"source"`
	// Version is the version in force ("" before the first good fetch).
	Version string `json:"version"`
	// Dtab is the source's dtab in force.
	Dtab string `json:"dtab"`
	// UpdatedAt is when Version was swapped in.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// LastFetch is when the source last answered or failed.
	LastFetch time.Time `json:"lastFetch,omitzero"`
	// LastResult is the last fetch's outcome (see Result*).
	LastResult string `json:"lastResult,omitempty"`
	// LastError is the last failed fetch's error, until one succeeds.
	LastError string `json:"lastError,omitempty"`
	// Rejected is the last rejected version and why.
	Rejected string `json:"rejected,omitempty"`
	// NextFetch is when the next fetch may start.
	NextFetch time.Time `json:"nextFetch,omitzero"`
}

// New returns a Refresher. It fetches nothing: call Refresh (at start-up)
// and install Hooks.
func New(cfg Config) (*Refresher, error) {
	if cfg.Source == nil {
		return nil, errors.New("dtabsource: Config.Source is required")
	}
	if cfg.Interpreter == nil {
		return nil, errors.New("dtabsource: Config.Interpreter is required")
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("dtabsource: TTL %s must not be negative", cfg.TTL)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.TTL)
	if cfg.Wait == 0 {
		cfg.Wait = 500 * time.Millisecond
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 10 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.MaxRecent <= 0 {
		cfg.MaxRecent = 512
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Refresher{
		cfg: cfg, clk: clock.Or(cfg.Clock),
		fetches: map[string]uint64{}, rejections: map[string]uint64{},
		recent: map[string]time.Time{},
	}
	r.state.Source = cfg.Source.String()
	return r, nil
}

// Hooks are the interpreter hooks: BeforeBind refreshes a stale dtab
// (lazily, so it works where the process is frozen between requests and
// no timer can be trusted), Bound remembers the names in use.
func (r *Refresher) Hooks() *bind.Hooks {
	return &bind.Hooks{BeforeBind: r.beforeBind, Bound: r.noteBound}
}

// beforeBind is the hot path: one atomic read while the dtab is fresh.
// The first use after the TTL starts a fetch and waits for it, at most
// Wait and the request's deadline. Uses while that fetch runs do not
// wait: they are served by the dtab in force, so a fetch started by the
// background loop, or by another request, adds no latency.
func (r *Refresher) beforeBind(ctx context.Context, now time.Time) {
	if now.UnixNano() < r.due.Load() {
		return
	}
	ch, started := r.start(now)
	if !started || r.cfg.Wait < 0 {
		return
	}
	t := time.NewTimer(r.cfg.Wait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// start starts a fetch if one is due and none runs. It returns the
// running fetch's channel (nil when none is due) and whether this call
// started it.
func (r *Refresher) start(now time.Time) (chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight != nil {
		return r.inflight, false
	}
	if now.UnixNano() < r.due.Load() {
		return nil, false
	}
	ch := make(chan struct{})
	r.inflight = ch
	go r.fetch(ch)
	return ch, true
}

// Refresh fetches now if a fetch is due (always, before the first) and
// waits for it, or for ctx. It returns the fetch's error, if any.
func (r *Refresher) Refresh(ctx context.Context) error {
	ch, _ := r.start(r.clk.Now())
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return fmt.Errorf("dtabsource: refresh from %s: %w", r.state.Source, ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.LastError != "" {
		return errors.New(r.state.LastError)
	}
	return nil
}

// Run refreshes in the background, each time a fetch is due, until ctx
// is done: for run modes whose process is never frozen. Lazy refresh on
// use still works alongside it.
func (r *Refresher) Run(ctx context.Context) {
	for {
		if d := time.Duration(r.due.Load() - r.clk.Now().UnixNano()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ch, _ := r.start(r.clk.Now()); ch != nil {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// fetch makes one call, applies its answer and schedules the next.
func (r *Refresher) fetch(ch chan struct{}) {
	start := r.clk.Now()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FetchTimeout)
	defer cancel()
	r.mu.Lock()
	seen := r.seen
	r.mu.Unlock()
	f, err := r.cfg.Source.Fetch(ctx, seen)
	result, why := ResultUnchanged, ""
	var reason string
	var dtab name.Dtab
	switch {
	case err != nil && errors.Is(err, dtabsource.ErrThrottled):
		result = ResultThrottled
	case err != nil:
		result = ResultError
	case f.Changed:
		dtab, reason, why = r.check(ctx, f.Dtab)
		result = ResultChanged
		if reason != "" {
			result = ResultRejected
		}
	}
	now := r.clk.Now()

	r.mu.Lock()
	defer func() {
		r.inflight = nil
		r.mu.Unlock()
		close(ch)
	}()
	r.fetches[result]++
	r.state.LastFetch, r.state.LastResult = now, result
	src := r.state.Source
	if err != nil {
		r.failures++
		r.state.LastError = err.Error()
		wait := r.backoff(r.failures)
		r.setDueLocked(now.Add(wait))
		r.cfg.Logger.Warn("dtab source: fetch failed; keeping the dtab in force", "source", src, "version", r.state.Version, "retryIn", wait, "err", err)
		return
	}
	r.failures, r.state.LastError = 0, ""
	r.setDueLocked(start.Add(max(r.cfg.TTL, f.NextPoll)))
	if !f.Changed {
		return
	}
	r.seen = f.Version
	switch {
	case reason != "":
		r.rejections[reason]++
		r.state.Rejected = f.Version + ": " + why
		r.cfg.Logger.Error("dtab source: rejected a new dtab; keeping the one in force", "source", src, "version", f.Version, "inForce", r.state.Version, "reason", reason, "why", why)
	case f.Dtab == r.current && r.state.Version != "":
		r.state.Version = f.Version // same text under a new version: nothing to swap
	default:
		r.cfg.Interpreter.SetDtab(r.cfg.Base.Concat(dtab))
		r.current, r.state.Version, r.state.Dtab, r.state.UpdatedAt = f.Dtab, f.Version, f.Dtab, now
		r.cfg.Logger.Info("dtab source: new dtab in force", "source", src, "version", f.Version, "dtab", dtab.String())
	}
}

func (r *Refresher) setDueLocked(t time.Time) {
	r.due.Store(t.UnixNano())
	r.state.NextFetch = t
}

// backoff is the wait after n failures in a row: TTL doubled n-1 times,
// capped at MaxBackoff, plus up to half of it again as jitter. It is
// never less than TTL, so failures never call the store more often.
func (r *Refresher) backoff(n int) time.Duration {
	d := r.cfg.TTL
	for i := 1; i < n && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return d + time.Duration(r.cfg.Rand()*float64(d/2))
}

// check parses text and delegates every name in use through the
// effective dtab it would make. It returns the parsed dtab, or a reason
// (ReasonParse, ReasonNegative) and why.
func (r *Refresher) check(ctx context.Context, text string) (name.Dtab, string, string) {
	d, err := name.ParseDtab(text)
	if err != nil {
		return nil, ReasonParse, err.Error()
	}
	eff := r.cfg.Base.Concat(d)
	var neg []string
	for _, p := range r.inUse(r.clk.Now()) {
		path, err := name.ParsePath(p)
		if err != nil {
			continue
		}
		res, _, err := r.cfg.Interpreter.Delegate(ctx, eff, path)
		if err == nil && res.Kind == name.Neg {
			neg = append(neg, p)
		}
	}
	if len(neg) > 0 {
		if len(neg) > 5 {
			neg = append(neg[:5], fmt.Sprintf("and %d more", len(neg)-5))
		}
		return nil, ReasonNegative, "it makes negative names in use: " + strings.Join(neg, ", ")
	}
	return d, "", ""
}

// noteBound remembers a name bound (not negative) by a request. It runs
// on the interpreter's cache misses only, not on every request.
func (r *Refresher) noteBound(path string, now time.Time) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if _, ok := r.recent[path]; !ok && len(r.recent) >= r.cfg.MaxRecent {
		for p, t := range r.recent {
			if now.Sub(t) > r.cfg.Window {
				delete(r.recent, p)
			}
		}
		if len(r.recent) >= r.cfg.MaxRecent {
			return // full of names in use: this one goes unchecked
		}
	}
	r.recent[path] = now
}

// inUse lists the names bound within Window of now, sorted.
func (r *Refresher) inUse(now time.Time) []string {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	var out []string
	for p, t := range r.recent {
		if now.Sub(t) <= r.cfg.Window {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// State returns what the operator sees.
func (r *Refresher) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Counts returns the fetches by result and the rejections by reason.
func (r *Refresher) Counts() (fetches, rejections map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fetches, rejections = map[string]uint64{}, map[string]uint64{}
	for _, k := range results {
		fetches[k] = r.fetches[k]
	}
	for _, k := range []string{ReasonParse, ReasonNegative} {
		rejections[k] = r.rejections[k]
	}
	return fetches, rejections
}
