package telemetry

import (
	"sync"
	"sync/atomic"
	"time"
)

// Failure sources: who made the failed response.
const (
	srcBackend = iota // a backend answered and the classifier said failure
	srcProxy          // slinkerd answered itself (l5d-err)
	numSources
)

var sourceNames = [numSources]string{"backend", "proxy"}

// numClasses is the number of status classes: 0 (none or unusual),
// 1xx … 5xx.
const numClasses = 6

var classNames = [numClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) int {
	c := status / 100
	if c < 1 || c >= numClasses {
		return 0
	}
	return c
}

// scope holds the counters of one service or one endpoint. The hot path
// touches three of its words per request: a success or failure counter, a
// histogram bucket and the histogram's sum. Requests are the sum of
// successes and failures, so they need no counter of their own.
type scope struct {
	succ     atomic.Uint64
	fail     [numSources][numClasses]atomic.Uint64
	retries  atomic.Uint64
	requeues atomic.Uint64
	lat      Histogram
	// last is the arrival of the latest request recorded (UnixNano):
	// the EMF Timestamp of a period flushed after it ended.
	last atomic.Int64

	// Read side, guarded by Telemetry.readMu: the histogram at the start
	// of the previous and the current quantile window, compact.
	winPrev, winCur *histBase
}

func (s *scope) record(ev eventView) {
	if ev.failed {
		src := srcBackend
		if ev.proxyError {
			src = srcProxy
		}
		s.fail[src][statusClass(ev.status)].Add(1)
	} else {
		s.succ.Add(1)
	}
	if ev.retries > 0 {
		s.retries.Add(uint64(ev.retries))
	}
	if ev.requeues > 0 {
		s.requeues.Add(uint64(ev.requeues))
	}
	s.lat.Record(ev.latency)
	if ev.start > s.last.Load() {
		s.last.Store(ev.start) // a concurrent later one may lose: close enough
	}
}

// eventView is what a scope needs from a request event.
type eventView struct {
	status            int
	failed            bool
	proxyError        bool
	latency           time.Duration
	retries, requeues int
	start             int64 // arrival, UnixNano; 0 when unknown
}

// counts is a consistent-enough copy of a scope's counters, summable.
type counts struct {
	Successes uint64
	Failures  [numSources][numClasses]uint64
	Retries   uint64
	Requeues  uint64
}

func (s *scope) counts() counts {
	var c counts
	c.Successes = s.succ.Load()
	for i := range s.fail {
		for j := range s.fail[i] {
			c.Failures[i][j] = s.fail[i][j].Load()
		}
	}
	c.Retries = s.retries.Load()
	c.Requeues = s.requeues.Load()
	return c
}

func (c *counts) add(o counts) {
	c.Successes += o.Successes
	for i := range c.Failures {
		for j := range c.Failures[i] {
			c.Failures[i][j] += o.Failures[i][j]
		}
	}
	c.Retries += o.Retries
	c.Requeues += o.Requeues
}

// sub returns c - base, clamped at zero.
func (c counts) sub(base counts) counts {
	d := c
	d.Successes -= min(d.Successes, base.Successes)
	for i := range d.Failures {
		for j := range d.Failures[i] {
			d.Failures[i][j] -= min(d.Failures[i][j], base.Failures[i][j])
		}
	}
	d.Retries -= min(d.Retries, base.Retries)
	d.Requeues -= min(d.Requeues, base.Requeues)
	return d
}

// failures returns the failures of one source, or of both with src < 0.
func (c counts) failures(src int) uint64 {
	var n uint64
	for i := range c.Failures {
		if src >= 0 && i != src {
			continue
		}
		for _, v := range c.Failures[i] {
			n += v
		}
	}
	return n
}

func (c counts) requests() uint64 { return c.Successes + c.failures(-1) }

// scopeMap maps names to scopes with lock-free reads: readers load an
// immutable map; a new name copies it under a mutex. Names are few (they
// are capped) and appear rarely, so the copies cost nothing that matters,
// and the per-request lookup is one plain map access with no allocation.
type scopeMap[T any] struct {
	m  atomic.Pointer[map[string]*T]
	mu sync.Mutex
}

func (sm *scopeMap[T]) load(k string) *T {
	if m := sm.m.Load(); m != nil {
		return (*m)[k]
	}
	return nil
}

// loadOrAdd returns k's value, adding newT() unless the map already holds
// limit names, in which case it returns nil.
func (sm *scopeMap[T]) loadOrAdd(k string, limit int, newT func() *T) *T {
	return sm.loadOrAddIf(k, func(n int) bool { return n < limit }, newT)
}

// loadOrAddIf returns k's value, adding newT() if admit, called with the
// map's size under the map's lock only when k is new, says yes; else it
// returns nil. An admit that reserves a slot in a count shared by several
// maps makes a cap across all of them exact.
func (sm *scopeMap[T]) loadOrAddIf(k string, admit func(size int) bool, newT func() *T) *T {
	if v := sm.load(k); v != nil {
		return v
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	old := sm.m.Load()
	if old != nil {
		if v := (*old)[k]; v != nil {
			return v
		}
	}
	if !admit(lenOf(old)) {
		return nil
	}
	next := make(map[string]*T, 1+lenOf(old))
	if old != nil {
		for kk, vv := range *old {
			next[kk] = vv
		}
	}
	v := newT()
	next[k] = v
	sm.m.Store(&next)
	return v
}

func lenOf[T any](m *map[string]*T) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// all returns the current map; do not modify it.
func (sm *scopeMap[T]) all() map[string]*T {
	if m := sm.m.Load(); m != nil {
		return *m
	}
	return nil
}

// clientScopes holds one client's endpoint scopes: while the endpoint cap
// (a total across all clients) has room each endpoint gets its own, the
// rest share other.
type clientScopes struct {
	endpoints scopeMap[scope]
	other     scope // endpoints past the cap, and requests with no endpoint
}
