package cloudrun

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// inflight counts the requests in flight through the listeners it wraps
// and tells when they have been quiet for a while: the sidecar's signal
// that the app has stopped calling out during its own shutdown.
type inflight struct {
	mu      sync.Mutex
	n       int
	last    time.Time     // when the last request ended
	changed chan struct{} // closed and replaced on every change
}

func newInflight() *inflight {
	return &inflight{changed: make(chan struct{})}
}

// wrap counts the requests through h.
func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.add(1)
		defer f.add(-1)
		h.ServeHTTP(w, r)
	})
}

func (f *inflight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += d
	if d < 0 {
		f.last = time.Now()
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *inflight) state() (n int, last time.Time, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.last, f.changed
}

// waitQuiet returns nil once no request has been in flight for quiet,
// counting from since at the earliest, or ctx's error if ctx ends first.
// It waits on events and one timer, never polls.
func (f *inflight) waitQuiet(ctx context.Context, quiet time.Duration, since time.Time) error {
	for {
		n, last, changed := f.state()
		if n > 0 {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if last.Before(since) {
			last = since
		}
		rest := quiet - time.Since(last)
		if rest <= 0 {
			return nil
		}
		t := time.NewTimer(rest)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
