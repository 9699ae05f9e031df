package h1

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// watchDelay is how long a request may wait for its answer before the
// loop starts watching its connection for the caller going away. A
// caller that closes its connection then cancels the request's context,
// as with net/http, whose server reads in the background during every
// request; the loop does it only for requests still running after
// watchDelay, so fast ones pay nothing for it. The watch costs a
// goroutine, a read and two deadline changes: at 2 ms it ran for a third
// of the requests of a saturated proxy (64 connections, about 4.5 ms per
// request), at 25 ms for 0.1% of them. A caller that hangs up is noticed
// within watchDelay; the endpoint's work it asked for is cancelled then.
const watchDelay = 25 * time.Millisecond

// aLongTimeAgo is a read deadline in the past: it interrupts a read.
var aLongTimeAgo = time.Unix(1, 0)

// connReader is what the connection's bufio.Reader reads: the byte a
// background read took, then the connection.
type connReader struct {
	c *conn

	mu       sync.Mutex
	watching bool // the handler runs and the request's bytes are all read
	bg       bool // a background read runs
	bgDone   chan struct{}
	has      bool
	b        [1]byte
	gone     bool // the background read found the connection closed
	timer    *time.Timer
}

func (r *connReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if r.has && len(p) > 0 {
		p[0], r.has = r.b[0], false
		r.mu.Unlock()
		return 1, nil
	}
	r.mu.Unlock()
	return r.c.nc.Read(p)
}

// watch starts watching once the request's bytes are all read and no
// next request is buffered (nothing left to read would tell).
func (r *connReader) watch() {
	if r.c.br.Buffered() > 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watching {
		return
	}
	r.watching = true
	if r.timer == nil {
		r.timer = time.AfterFunc(r.c.s.cfg.watchDelay, r.background)
		return
	}
	r.timer.Reset(r.c.s.cfg.watchDelay)
}

// background reads one byte while the handler runs: EOF or an error
// means the caller is gone, and cancels the request.
func (r *connReader) background() {
	r.mu.Lock()
	if !r.watching || r.bg || r.has {
		r.mu.Unlock()
		return
	}
	r.bg = true
	r.bgDone = make(chan struct{})
	r.mu.Unlock()
	go func() {
		n, err := r.c.nc.Read(r.b[:])
		r.mu.Lock()
		r.has = n == 1
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				r.gone = true
				r.c.abort()
			}
		}
		r.bg = false
		close(r.bgDone)
		r.mu.Unlock()
	}()
}

// stop ends the watch when the handler returned; it waits for a
// background read to end. It says whether the caller is still there.
func (r *connReader) stop() bool {
	r.mu.Lock()
	if !r.watching {
		gone := r.gone
		r.mu.Unlock()
		return !gone
	}
	r.watching = false
	r.timer.Stop()
	bg, done := r.bg, r.bgDone
	r.mu.Unlock()
	if bg {
		r.c.setReadDeadline(aLongTimeAgo)
		<-done
		r.c.setReadDeadline(time.Time{})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.gone
}
