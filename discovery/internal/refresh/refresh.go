// Package refresh is the serverless-friendly refresh machinery that the
// pull-style discovery namers (io.l5d.dnssrv, io.l5d.cloudmap,
// io.l5d.cloudrun) share.
//
// A Cache holds one Entry per name. Each Entry owns the name's name.Var and
// a Source that asks the discovery service for the name's complete
// endpoint set. Refreshes are driven by use: the Var's onUse hook starts a
// refresh in the background when the data is older than its TTL, and the
// stale set is served meanwhile. A refresh is single-flight per name, so
// however much traffic a name gets it costs at most one discovery call per
// TTL. Optionally (container mode) a background loop also refreshes names
// that were used recently, so that the first request after a quiet period
// does not see stale data; in Lambda and Cloud Run, where timers may not
// run between requests, nothing here depends on a timer.
//
// An Entry never lets go of a good set lightly:
//   - on any error (outage, throttling) it keeps the last good set and
//     retries with exponential backoff and jitter;
//   - an empty answer (or "no such name") replaces a non-empty set only
//     once discovery has kept saying so for Config.EmptyGrace.
package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
)

// Defaults for Config.
const (
	// DefaultTTL is how long a result is served before the next use
	// refreshes it.
	DefaultTTL = 30 * time.Second
	// DefaultErrorTTL is the first retry delay after a failed refresh.
	DefaultErrorTTL = 5 * time.Second
	// DefaultMaxBackoff caps the retry delay after repeated failures.
	DefaultMaxBackoff = 60 * time.Second
	// DefaultEmptyGrace is how long discovery must keep answering "empty"
	// before a non-empty set is given up.
	DefaultEmptyGrace = 60 * time.Second
	// DefaultTimeout bounds one refresh.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxEntries caps the names a Cache holds.
	DefaultMaxEntries = 10000
	// DefaultForgetAfter is how long an unused name stays in a Cache.
	DefaultForgetAfter = time.Hour
)

// ErrThrottled marks a Fetch error as throttling by the discovery service
// (RequestLimitExceeded, ThrottlingException, RESOURCE_EXHAUSTED). Wrap it
// with Throttled; the Entry then backs off from at least the TTL.
var ErrThrottled = errors.New("throttled")

// Throttled wraps err so that errors.Is(err, ErrThrottled) holds, keeping
// err's text and chain.
func Throttled(err error) error {
	if err == nil {
		return nil
	}
	return throttledError{err}
}

type throttledError struct{ err error }

func (e throttledError) Error() string        { return e.err.Error() }
func (e throttledError) Unwrap() error        { return e.err }
func (e throttledError) Is(target error) bool { return target == ErrThrottled }

// Result is one answer of a Source.
type Result struct {
	// Addrs is the complete endpoint set (possibly empty). Ignored when
	// Neg or Unchanged is set.
	Addrs []name.Address
	// Neg says the name does not exist (e.g. Cloud Map ServiceNotFound).
	Neg bool
	// Unchanged says the source confirmed, cheaply, that the set it last
	// returned is still current (e.g. an unchanged Cloud Map revision).
	Unchanged bool
	// TTL, when positive, replaces Config.TTL for this result (e.g. a DNS
	// record's TTL).
	TTL time.Duration
}

// Source fetches the complete state of one name. Fetch is never called
// concurrently for the same Source, so it may keep state between calls
// (a revision, the time of its last full fetch).
type Source interface {
	// Fetch asks the discovery service. ctx carries the refresh timeout.
	Fetch(ctx context.Context) (Result, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Result, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context) (Result, error) { return f(ctx) }

// Config configures a Cache. The zero value is ready to use.
type Config struct {
	// Namer names the namer in errors and logs, e.g. "cloudmap".
	Namer string
	// TTL is how long a result is served before the next use of the name
	// refreshes it in the background (the stale set is served meanwhile).
	// Defaults to 30s.
	TTL time.Duration
	// ErrorTTL is the delay before the first retry after a failed
	// refresh; each further consecutive failure doubles it (equal jitter),
	// up to MaxBackoff. Throttling errors start from at least TTL.
	// Defaults to 5s, or TTL when that is shorter.
	ErrorTTL time.Duration
	// MaxBackoff caps the retry delay. Defaults to 60s, or TTL when that
	// is longer.
	MaxBackoff time.Duration
	// EmptyGrace is how long discovery must keep answering with an empty
	// set (or "no such name") before it replaces a non-empty set; until
	// then the last non-empty set is served. Defaults to 60s; negative
	// means no grace (an empty answer replaces the set at once).
	EmptyGrace time.Duration
	// Timeout bounds one refresh. Defaults to 10s.
	Timeout time.Duration
	// Background also refreshes, from a timer, every name used within
	// IdleAfter, so that data is fresh before it is needed. Use it only
	// where timers run between requests (container mode). Defaults to
	// false (refresh on use only).
	Background bool
	// IdleAfter stops background refresh of a name that has not been used
	// this long (it is refreshed on its next use instead). Defaults to
	// 10×TTL, at least 5m.
	IdleAfter time.Duration
	// MaxEntries caps the names the Cache holds. Past it, the least
	// recently used names are forgotten, down to 90% of it. Names come from
	// the dtab but also from callers (a Host header under a namer's
	// dentry) and admin visitors (/delegator.json), so the cap bounds what
	// they can make slinkerd keep. Defaults to 10000.
	MaxEntries int
	// ForgetAfter forgets a name that has not been used (looked up or
	// sampled) for this long. A forgotten name's Var keeps working, and
	// refreshing on use, for whoever holds it; the next Lookup of the name
	// asks discovery afresh and waits for its answer. Defaults to 1h, and
	// at least IdleAfter.
	ForgetAfter time.Duration
	// Clock tells the time. Defaults to the system clock.
	Clock clock.Clock
	// Rand returns a number in [0, 1) for jitter. Defaults to math/rand/v2.
	Rand func() float64
	// Logger receives refresh failures. Defaults to slog.Default().
	Logger *slog.Logger
}

// Cache holds the Entries of one namer. It is safe for concurrent use.
type Cache struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	mu        sync.Mutex
	entries   map[string]*Entry
	lastSweep time.Time // when unused names were last forgotten
	closed    bool

	stop chan struct{}
	done chan struct{}
}

// New returns a Cache. With cfg.Background it starts the background
// loop; Close stops it.
func New(cfg Config) (*Cache, error) {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"TTL", cfg.TTL}, {"ErrorTTL", cfg.ErrorTTL}, {"MaxBackoff", cfg.MaxBackoff}, {"Timeout", cfg.Timeout}, {"IdleAfter", cfg.IdleAfter}, {"ForgetAfter", cfg.ForgetAfter}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s: Config.%s is %s: must not be negative", cmp.Or(cfg.Namer, "refresh"), d.field, d.v)
		}
	}
	cfg.Namer = cmp.Or(cfg.Namer, "discovery")
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
	cfg.ErrorTTL = cmp.Or(cfg.ErrorTTL, min(DefaultErrorTTL, cfg.TTL))
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, max(DefaultMaxBackoff, cfg.TTL))
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.ErrorTTL)
	if cfg.EmptyGrace == 0 {
		cfg.EmptyGrace = DefaultEmptyGrace
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.IdleAfter = cmp.Or(cfg.IdleAfter, max(10*cfg.TTL, 5*time.Minute))
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("%s: Config.MaxEntries is %d: must not be negative", cfg.Namer, cfg.MaxEntries)
	}
	cfg.MaxEntries = cmp.Or(cfg.MaxEntries, DefaultMaxEntries)
	cfg.ForgetAfter = max(cmp.Or(cfg.ForgetAfter, DefaultForgetAfter), cfg.IdleAfter)
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	c := &Cache{
		cfg:     cfg,
		clk:     clock.Or(cfg.Clock),
		log:     cfg.Logger,
		entries: map[string]*Entry{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if cfg.Background {
		go c.loop()
	} else {
		close(c.done)
	}
	return c, nil
}

// TTL returns the effective TTL.
func (c *Cache) TTL() time.Duration { return c.cfg.TTL }

// loop refreshes due, recently used names until Close. The tick is a
// quarter of the TTL (at most 1s, at least 50ms), so a name is refreshed
// within a tick of its expiry.
func (c *Cache) loop() {
	defer close(c.done)
	tick := min(max(c.cfg.TTL/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.RefreshDue()
		}
	}
}

// RefreshDue starts a refresh of every name that is due and was used
// within IdleAfter. The background loop calls it; tests call it directly.
func (c *Cache) RefreshDue() {
	now := c.clk.Now()
	for _, e := range c.list() {
		if now.Sub(time.Unix(0, e.lastUsed.Load())) < c.cfg.IdleAfter {
			e.maybeRefresh(now)
		}
	}
}

// Close stops the background loop and waits for refreshes in progress
// (each is bounded by Timeout). Entries keep serving their last state.
func (c *Cache) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	<-c.done
	for _, e := range c.list() {
		<-e.flight.Idle()
	}
	return nil
}

// WaitIdle waits until no refresh is running (tests use it after a use
// that may have started one), or ctx is done.
func (c *Cache) WaitIdle(ctx context.Context) error {
	for _, e := range c.list() {
		select {
		case <-e.flight.Idle():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *Cache) list() []*Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	return out
}

// Entry returns the entry of key, creating it with the Source that
// newSource returns. key identifies the name within the namer (it is also
// the name shown by State).
func (c *Cache) Entry(key string, newSource func() Source) *Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		now := c.clk.Now()
		e = &Entry{c: c, key: key, src: newSource()}
		e.v = name.NewVar(name.Addr{}, e.onUse)
		e.lastUsed.Store(now.UnixNano())
		c.entries[key] = e
		c.trimLocked(now)
	}
	return e
}

// trimLocked forgets names unused for ForgetAfter (checking at most twice
// per ForgetAfter) and, past MaxEntries, the least recently used ones.
// c.mu must be held.
func (c *Cache) trimLocked(now time.Time) {
	var idleBefore int64
	if now.Sub(c.lastSweep) >= c.cfg.ForgetAfter/2 {
		c.lastSweep = now
		idleBefore = now.Add(-c.cfg.ForgetAfter).UnixNano()
	}
	if idleBefore == 0 && len(c.entries) <= c.cfg.MaxEntries {
		return
	}
	namerkit.Trim(c.entries, len(c.entries), c.cfg.MaxEntries, idleBefore,
		func(e *Entry) int64 { return e.lastUsed.Load() },
		func(*Entry) int { return 1 })
}

// Entry is one name's refresh state and its Var.
type Entry struct {
	c      *Cache
	key    string
	src    Source
	v      *name.Var
	flight namerkit.Flight

	expires  atomic.Int64 // unix ns when the next use refreshes; 0: at once
	lastUsed atomic.Int64 // unix ns of the last use

	mu          sync.Mutex
	addrs       []name.Address // last published good set
	good        bool           // a Bound snapshot has been published
	lastRefresh time.Time      // when the last refresh ended
	lastSuccess time.Time      // when the last successful refresh ended
	lastErr     error
	failures    int                 // consecutive failed refreshes
	empty       namerkit.EmptyGrace // an empty answer while addrs is not
	fetches     uint64
}

// Var returns the name's Var.
func (e *Entry) Var() *name.Var { return e.v }

// Key returns the entry's key.
func (e *Entry) Key() string { return e.key }

// Idle returns a channel that is closed once no refresh of the entry is
// running (at once when none is).
func (e *Entry) Idle() <-chan struct{} { return e.flight.Idle() }

// Lookup returns the entry of key (creating it with newSource) once it has
// an answer, as Entry and Wait.
func (c *Cache) Lookup(ctx context.Context, key string, newSource func() Source) (*Entry, name.Addr, error) {
	e := c.Entry(key, newSource)
	a, err := e.Wait(ctx)
	return e, a, err
}

// onUse is the Var's hook: note the use and refresh if due. It never
// blocks and takes no lock on the hot path.
func (e *Entry) onUse() {
	now := e.c.clk.Now()
	e.lastUsed.Store(now.UnixNano())
	e.maybeRefresh(now)
}

// maybeRefresh starts a refresh if the data is due and none is running,
// and reports whether it started one.
func (e *Entry) maybeRefresh(now time.Time) bool {
	if now.UnixNano() < e.expires.Load() {
		return false
	}
	return e.flight.Start(e.refresh)
}

// Wait starts a refresh if one is due and waits until the name has an
// answer (the Var leaves AddrPending) or ctx is done. Namers call it from
// Lookup, so that the first request for a name waits for its first
// answer and later ones never wait.
func (e *Entry) Wait(ctx context.Context) (name.Addr, error) {
	now := e.c.clk.Now()
	e.lastUsed.Store(now.UnixNano())
	e.maybeRefresh(now)
	for {
		a := e.v.Peek()
		if a.State != name.AddrPending {
			return a, nil
		}
		select {
		case <-e.flight.Idle():
		case <-ctx.Done():
			return a, fmt.Errorf("%s: %s: waiting for the first answer: %w", e.c.cfg.Namer, e.key, ctx.Err())
		}
		if e.v.Peek().State == name.AddrPending && !e.maybeRefresh(e.c.clk.Now()) {
			return a, fmt.Errorf("%s: %s: no answer", e.c.cfg.Namer, e.key)
		}
	}
}

// refresh runs one Fetch and applies its result. It runs in the Entry's
// Flight, so never concurrently with itself.
func (e *Entry) refresh() {
	// Detached from any caller: every user of the name shares it.
	ctx, cancel := context.WithTimeout(context.Background(), e.c.cfg.Timeout)
	res, err := e.src.Fetch(ctx)
	cancel()
	now := e.c.clk.Now()

	e.mu.Lock()
	defer e.mu.Unlock()
	e.fetches++
	e.lastRefresh = now
	if err != nil {
		e.failLocked(now, err)
		return
	}
	e.failures, e.lastErr, e.lastSuccess = 0, nil, now
	ttl := e.c.cfg.TTL
	if res.TTL > 0 {
		ttl = res.TTL
	}
	next := now.Add(ttl)
	defer func() { e.expires.Store(next.UnixNano()) }()

	switch {
	case res.Unchanged:
		if e.good && len(e.addrs) > 0 {
			// Discovery itself still says the set is current.
			e.empty.Clear()
		}
		return
	case !res.Neg && len(res.Addrs) > 0:
		e.empty.Clear()
		e.publishLocked(name.Addr{State: name.AddrBound, Addresses: res.Addrs})
		e.addrs, e.good = res.Addrs, true
		return
	}
	// Empty or negative.
	if left := e.empty.Empty(now, e.c.cfg.EmptyGrace, e.good && len(e.addrs) > 0); left > 0 {
		// Keep serving; look again no later than when the grace ends.
		next = now.Add(min(ttl, left))
		e.c.log.Warn(e.c.cfg.Namer+": discovery answered with no endpoints; serving the last good set during the grace period",
			"name", e.key, "endpoints", len(e.addrs), "grace_left", left)
		return
	}
	if res.Neg {
		e.publishLocked(name.Addr{State: name.AddrNeg, Err: fmt.Errorf("%s: %s: no such name", e.c.cfg.Namer, e.key)})
		e.addrs, e.good = nil, false
		return
	}
	e.publishLocked(name.Addr{State: name.AddrBound, Addresses: []name.Address{}})
	e.addrs, e.good = nil, true
}

// failLocked records a failed refresh: keep the last answer, back off.
func (e *Entry) failLocked(now time.Time, err error) {
	e.failures++
	e.lastErr = err
	throttled := errors.Is(err, ErrThrottled)
	delay := e.backoff(e.failures, throttled)
	e.expires.Store(now.Add(delay).UnixNano())
	if cur := e.v.Peek(); cur.State == name.AddrPending || cur.State == name.AddrFailed {
		// Nothing good to keep.
		e.publishLocked(name.Addr{State: name.AddrFailed, Err: err})
		e.c.log.Warn(e.c.cfg.Namer+": refresh failed", "name", e.key, "retry_in", delay, "throttled", throttled, "error", err)
		return
	}
	e.c.log.Warn(e.c.cfg.Namer+": refresh failed; serving the last good answer",
		"name", e.key, "endpoints", len(e.addrs), "retry_in", delay, "throttled", throttled, "error", err)
}

// backoff is the delay before retry n (n ≥ 1): ErrorTTL (at least TTL
// when throttled) doubled per consecutive failure, capped at MaxBackoff
// (at least TTL when throttled), with equal jitter (between half and all
// of it).
func (e *Entry) backoff(n int, throttled bool) time.Duration {
	base := e.c.cfg.ErrorTTL
	if throttled {
		base = max(base, e.c.cfg.TTL)
	}
	limit := max(e.c.cfg.MaxBackoff, base)
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + time.Duration(e.c.cfg.Rand()*float64(d/2))
}

func (e *Entry) publishLocked(a name.Addr) { namerkit.Publish(e.v, a) }

// State is a snapshot of one name, for /admin/discovery.json.
type State struct {
	// Name is the entry's key, e.g. "ns/svc" or "_http._tcp.example.com".
	Name string `json:"name"`
	// State is the Var's state: bound, neg, failed or pending.
	State string `json:"state"`
	// Endpoints is the set being served.
	Endpoints []name.Address `json:"endpoints"`
	// LastRefresh is when the last refresh ended, successful or not; zero
	// before the first.
	LastRefresh time.Time `json:"lastRefresh"`
	// LastSuccess is when discovery last answered.
	LastSuccess time.Time `json:"lastSuccess"`
	// Age is how old the data served is: the time since LastSuccess.
	Age time.Duration `json:"age"`
	// NextRefresh is when the next use (or the background loop) refreshes.
	NextRefresh time.Time `json:"nextRefresh,omitzero"`
	// LastError is the error of the last refresh; empty if it succeeded.
	LastError string `json:"lastError,omitempty"`
	// Failures counts consecutive failed refreshes.
	Failures int `json:"failures,omitempty"`
	// EmptySince is when discovery started answering empty while a
	// non-empty set is kept (the grace period's start); zero otherwise.
	EmptySince time.Time `json:"emptySince,omitzero"`
	// Fetches counts refreshes since start.
	Fetches uint64 `json:"fetches"`
}

// State returns a snapshot of every entry, sorted by name.
func (c *Cache) State() []State {
	entries := c.list()
	slices.SortFunc(entries, func(a, b *Entry) int { return cmp.Compare(a.key, b.key) })
	now := c.clk.Now()
	out := make([]State, 0, len(entries))
	for _, e := range entries {
		a := e.v.Peek()
		e.mu.Lock()
		s := State{
			Name:        e.key,
			State:       a.State.String(),
			Endpoints:   slices.Clone(a.Addresses),
			LastRefresh: e.lastRefresh,
			LastSuccess: e.lastSuccess,
			Failures:    e.failures,
			EmptySince:  e.empty.Since(),
			Fetches:     e.fetches,
		}
		if !e.lastSuccess.IsZero() {
			s.Age = now.Sub(e.lastSuccess)
		}
		if ns := e.expires.Load(); ns != 0 {
			s.NextRefresh = time.Unix(0, ns)
		}
		if e.lastErr != nil {
			s.LastError = e.lastErr.Error()
		}
		e.mu.Unlock()
		if s.Endpoints == nil {
			s.Endpoints = []name.Address{}
		}
		out = append(out, s)
	}
	return out
}
