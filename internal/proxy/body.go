package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/ready"
)

// callerBody wraps the caller's request body. Its read errors come back
// to the proxy from the transport as the attempt's error; callerBody tags
// them as the caller's (a *bodyError), so that the caller gets 400, 408
// or 413 rather than a 502 that blames the endpoint.
//
// With a timeout it also bounds the wait for each read: a Read that gets
// nothing for d is interrupted by moving the read deadline (through the
// ResponseController: the connection's on HTTP/1.x, the stream's on
// HTTP/2) to now. The deadline is touched only then, and left in the
// past: net/http's own reads of what is left of the body then fail too,
// so it closes the connection after the 408 instead of waiting for a
// client that stopped sending.
//
// It also remembers how the body ended, for settle: on HTTP/1 any error
// about the caller's body closes the connection after the answer (RFC
// 9112 §7.1: what follows a broken chunked body is not a request).
type callerBody struct {
	io.ReadCloser
	// ready is the caller's body as the server made it, under any
	// http.MaxBytesReader (which has no Ready method): whether a Read
	// would wait is its to say.
	ready io.Reader
	rc    readDeadliner // nil: no timeout
	d     time.Duration

	// How the body ended, for settle and callerError: reads may run on
	// the transport's goroutine, and settle runs on the handler's.
	eof       atomic.Bool
	failed    atomic.Bool
	malformed atomic.Bool // failed, and not for a lost connection, a limit or a timeout

	mu       sync.Mutex
	timer    *time.Timer
	reading  bool
	due      time.Time // when the pending read times out
	timedOut bool
}

// Ready reports whether a Read would return at once, when the caller's
// body can tell (slinkerd's HTTP/2 server's can); false otherwise.
func (b *callerBody) Ready() bool { return ready.Now(b.ready) }

func (b *callerBody) Read(p []byte) (int, error) {
	if b.rc == nil {
		return b.readUntimed(p)
	}
	b.mu.Lock()
	if b.timedOut {
		b.mu.Unlock()
		return 0, b.tag(os.ErrDeadlineExceeded, true)
	}
	if ready.Now(b.ready) {
		// The read returns at once (a small body came with its head):
		// no wait to time, no timer to arm.
		b.mu.Unlock()
		return b.readUntimed(p)
	}
	b.reading, b.due = true, time.Now().Add(b.d)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.d, b.expire)
	} else {
		b.timer.Reset(b.d)
	}
	b.mu.Unlock()

	n, err := b.ReadCloser.Read(p)

	b.mu.Lock()
	b.reading = false
	b.timer.Stop()
	timedOut := b.timedOut
	if timedOut && err == nil {
		// Bytes came just as the timer fired: that is progress.
		b.timedOut = false
		_ = b.rc.SetReadDeadline(time.Time{})
		timedOut = false
	}
	b.mu.Unlock()
	return n, b.tag(err, timedOut)
}

// readUntimed reads without a timeout.
func (b *callerBody) readUntimed(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	return n, b.tag(err, false)
}

// readDeadliner sets the read deadline of the caller's connection (on
// HTTP/1) or stream (on HTTP/2).
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// deadlinerOf finds what sets w's read deadline, through the writers that
// wrap it, as http.ResponseController does but without allocating one
// per request; else it returns a ResponseController, whose calls then
// say they are not supported.
func deadlinerOf(w http.ResponseWriter) readDeadliner {
	for u := w; ; {
		if d, ok := u.(readDeadliner); ok {
			return d
		}
		uw, ok := u.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return http.NewResponseController(w)
		}
		u = uw.Unwrap()
	}
}

// expire interrupts a read that has waited for d.
func (b *callerBody) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.reading || b.timedOut || time.Now().Before(b.due) {
		return // the read ended, or a later one began
	}
	b.timedOut = true
	_ = b.rc.SetReadDeadline(time.Now())
}

func (b *callerBody) tag(err error, timeout bool) error {
	if err == nil {
		return nil
	}
	if err == io.EOF {
		b.eof.Store(true)
		return err
	}
	b.failed.Store(true)
	var mbe *http.MaxBytesError
	if !timeout && !errors.As(err, &mbe) && !retry.ConnectionLost(err) &&
		!errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.Canceled) {
		b.malformed.Store(true)
	}
	return &bodyError{timeout: timeout, d: b.d, err: err}
}

func (b *callerBody) Close() error {
	if b.rc != nil {
		b.mu.Lock()
		if b.timer != nil {
			b.timer.Stop()
		}
		b.mu.Unlock()
	}
	return b.ReadCloser.Close()
}

// callerError returns the 408 for a body that timed out, the 400 for an
// HTTP/1 body that broke its framing, or nil. The attempt may have
// failed for another reason first: on HTTP/1 net/http also cancels the
// request's context when the connection read fails, as both of these do
// (the guard fails every read after a framing error, h1guard.go).
func (b *callerBody) callerError(r *http.Request) *Error {
	b.mu.Lock()
	timedOut := b.timedOut
	b.mu.Unlock()
	if timedOut {
		return asProxyError(context.Background(), &bodyError{timeout: true, d: b.d, err: os.ErrDeadlineExceeded})
	}
	if r.ProtoMajor == 1 && b.malformed.Load() {
		return asProxyError(context.Background(), &bodyError{err: errors.New("broken framing (refused by the guard, or by net/http's chunked reader)")})
	}
	return nil
}

// settle runs before the handler of an HTTP/1 request in full-duplex mode
// returns. net/http then skips its own check of the body the handler
// left ("close after a corrupt chunked body") and would read the next
// request from what follows it. settle closes the connection after the
// answer when the body failed, or when a chunked body did not reach its
// end (its framing is unknown past that point, and the answer may not
// wait for it). b may be nil (no body).
func (b *callerBody) settle(w http.ResponseWriter, r *http.Request) {
	if b == nil || r.ProtoMajor != 1 {
		return
	}
	if b.failed.Load() || (r.ContentLength < 0 && !b.eof.Load()) {
		closeAfterAnswer(w)
	}
}

// aLongTimeAgo is a deadline that has passed: setting it makes blocked
// reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// closeAfterAnswer makes net/http close an HTTP/1 connection once the
// current response is complete, whether or not its header is written,
// without first reading what is left of the request body: after a
// framing error nothing left is a body, and a caller waiting for a 100
// Continue sends none. net/http offers no direct call for that, but a
// MaxBytesReader that goes over its limit does exactly this ("it tells
// the ResponseWriter to close the connection after the limit has been
// reached"), and then closes gracefully (half-close, then a short wait)
// so the caller reads the answer rather than a reset; a read deadline in
// the past ends its read of the rest of the body at once.
func closeAfterAnswer(w http.ResponseWriter) {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	if ca, ok := w.(interface{ CloseAfterResponse() }); ok {
		ca.CloseAfterResponse() // the own loop's writer (internal/h1)
		return
	}
	var one [1]byte
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(one[:])
	_ = http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
}

// bodyError is an error reading the caller's request body: too large
// (it wraps *http.MaxBytesError), too slow (timeout), or broken.
type bodyError struct {
	timeout bool
	d       time.Duration
	err     error
}

func (e *bodyError) Error() string {
	if e.timeout {
		return "request body: no bytes for " + e.d.String() + ": " + e.err.Error()
	}
	return "request body: " + e.err.Error()
}

func (e *bodyError) Unwrap() error { return e.err }

// maxInline is the most of a chunked request body that inlineArrived
// takes into memory.
const maxInline = 16 << 10

// inlineArrived takes a chunked request body from an HTTP/1 caller into
// memory when all of it has arrived already (it is in the server's read
// buffer: nothing waits for the caller) and it is at most maxInline
// bytes, so that the request goes out with a Content-Length on the
// direct path, as nginx's request buffering sends it. A body still
// arriving, larger, or broken goes on as before: what was read of it,
// then the rest as it comes (a broken one's error again: the server's
// body and http.MaxBytesReader keep theirs). cb is r's body.
func inlineArrived(r *http.Request, cb *callerBody) {
	if !cb.Ready() {
		return
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxInline {
				break
			}
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := cb.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			r.TransferEncoding = nil
			r.ContentLength = int64(len(buf))
			r.Body = http.NoBody
			if len(buf) > 0 {
				r.Body = &inlineBody{Reader: bytes.NewReader(buf), cb: cb, whole: true}
			}
			return
		}
		if err != nil || !cb.Ready() {
			break
		}
	}
	r.Body = &inlineBody{Reader: io.MultiReader(bytes.NewReader(buf), cb), cb: cb}
}

// inlineBody is a request body that inlineArrived read, whole or in
// part; closing it closes the caller's.
type inlineBody struct {
	io.Reader
	cb    *callerBody
	whole bool // all of it is in memory
}

func (b *inlineBody) Close() error { return b.cb.Close() }

// Ready says whether a Read would return at once: always for a body
// that is all in memory.
func (b *inlineBody) Ready() bool { return b.whole }
