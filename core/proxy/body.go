package proxy

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
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
type callerBody struct {
	io.ReadCloser
	rc *http.ResponseController // nil: no timeout
	d  time.Duration

	mu       sync.Mutex
	timer    *time.Timer
	reading  bool
	due      time.Time // when the pending read times out
	timedOut bool
}

func (b *callerBody) Read(p []byte) (int, error) {
	if b.rc == nil {
		n, err := b.ReadCloser.Read(p)
		return n, b.tag(err, false)
	}
	b.mu.Lock()
	if b.timedOut {
		b.mu.Unlock()
		return 0, b.tag(os.ErrDeadlineExceeded, true)
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
	if err == nil || err == io.EOF {
		return err
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

// timeoutError returns the 408 for a body that timed out, or nil. The
// attempt may have failed for another reason first: on HTTP/1 net/http
// also cancels the request's context when the connection read fails.
func (b *callerBody) timeoutError() *Error {
	b.mu.Lock()
	timedOut := b.timedOut
	b.mu.Unlock()
	if !timedOut {
		return nil
	}
	return asProxyError(context.Background(), &bodyError{timeout: true, d: b.d, err: os.ErrDeadlineExceeded})
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
