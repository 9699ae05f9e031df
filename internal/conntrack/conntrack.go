// Package conntrack is the connection set of slinkerd's own servers
// (internal/h1, internal/h2): the connections being served, which a
// graceful shutdown waits for.
package conntrack

import (
	"sync"
	"sync/atomic"
)

// Set tracks connections of type C. The zero value is ready to use.
type Set[C comparable] struct {
	mu       sync.Mutex
	conns    map[C]struct{}
	shutdown atomic.Bool
	done     chan struct{} // closed when the last connection leaves after Shutdown
}

// Add tracks c. It reports false, and tracks nothing, once Shutdown or
// Close has begun: the caller then closes c.
func (s *Set[C]) Add(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[C]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

// Remove forgets c. The last connection to leave after Shutdown closes
// the channel Shutdown returned.
func (s *Set[C]) Remove(c C) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.shutdown.Load() && len(s.conns) == 0 && s.done != nil {
		close(s.done)
		s.done = nil
	}
}

// ShuttingDown reports whether Shutdown or Close has begun.
func (s *Set[C]) ShuttingDown() bool { return s.shutdown.Load() }

// Each calls f on every tracked connection, under the set's lock (f must
// not call the Set).
func (s *Set[C]) Each(f func(C)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		f(c)
	}
}

// Shutdown stops Add, calls f on every tracked connection (as Each), and
// returns a channel closed once none is left; nil when none is.
func (s *Set[C]) Shutdown(f func(C)) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	if len(s.conns) == 0 {
		return nil
	}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	for c := range s.conns {
		f(c)
	}
	return s.done
}

// Close stops Add and calls f on every tracked connection (as Each), to
// close them.
func (s *Set[C]) Close(f func(C)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for c := range s.conns {
		f(c)
	}
}
