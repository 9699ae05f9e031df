package proxy

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/slinkerd/slinkerd/internal/ready"
)

// errSuperseded is returned to an attempt's body reader after a newer
// attempt took over the body (the old transport goroutine may still be
// writing).
var errSuperseded = errors.New("request body taken over by a retry")

// replayBody lets a request body be sent again while it fits in a bounded
// buffer. The first attempt reads the caller's body directly and keeps a
// copy of at most limit bytes; a retry replays the copy and then continues
// with the unread rest. Once more than limit bytes have been read the body
// can no longer be replayed, and only a request that provably sent nothing
// could be retried — which then cannot happen, since bytes were read.
type replayBody struct {
	mu       sync.Mutex
	src      io.ReadCloser
	limit    int
	buf      []byte
	overflow bool // read past limit: the copy is incomplete
	eof      bool
	srcErr   error
	gen      int // generation of the current attempt's reader
	// begun is set before the first read of the caller's body; unlike
	// the fields above it can be read while a Read blocks.
	begun atomic.Bool

	first replayReader // the reader of attempt 1 (reader)
}

// reader returns the body for the next attempt and retires older ones.
func (b *replayBody) reader() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	if b.gen == 1 {
		// The first attempt's reader lives in the body (no allocation
		// for a request that is not retried).
		b.first = replayReader{b: b, gen: 1}
		return &b.first
	}
	return &replayReader{b: b, gen: b.gen}
}

// consumed reports whether any byte was taken from the caller's body.
func (b *replayBody) consumed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) > 0 || b.overflow || b.eof
}

// started reports, without waiting for a Read in progress, whether a
// read of the caller's body has begun (on HTTP/1 it makes net/http send
// the caller a 100 Continue).
func (b *replayBody) started() bool { return b.begun.Load() }

// replayable reports whether a new attempt can send the whole body again.
func (b *replayBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow && b.srcErr == nil
}

type replayReader struct {
	b      *replayBody
	gen    int
	off    int  // bytes of b.buf already replayed by this reader
	direct bool // the copy is replayed: read the caller's body now
	// released: the transport said, before its RoundTrip returned, that
	// it sent the body whole and holds neither it nor the request
	// (h2client's Released).
	released bool
}

// Released is how slinkerd's HTTP/2 client says it is done with the
// reader, on the attempt's goroutine (see h2client.Client.RoundTrip).
func (r *replayReader) Released() { r.released = true }

// released reports whether the transport an attempt handed body to has
// released it (Released) by the time its RoundTrip returned.
func released(body io.ReadCloser) bool {
	r, ok := body.(*replayReader)
	return ok && r.released
}

func (r *replayReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.gen != b.gen {
		return 0, errSuperseded
	}
	if !r.direct {
		if b.overflow {
			// Only the first reader may go on past the limit; it is
			// direct from its first read.
			if r.gen != 1 {
				return 0, errSuperseded
			}
			r.direct = true
		} else if r.off < len(b.buf) {
			n := copy(p, b.buf[r.off:])
			r.off += n
			return n, nil
		} else {
			r.direct = true
		}
	}
	if b.srcErr != nil {
		return 0, b.srcErr
	}
	if b.eof {
		return 0, io.EOF
	}
	b.begun.Store(true)
	n, err := b.src.Read(p)
	if n > 0 && !b.overflow {
		if len(b.buf)+n <= b.limit {
			b.buf = append(b.buf, p[:n]...)
		} else {
			b.overflow = true
			b.buf = nil
		}
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.srcErr = err
	}
	return n, err
}

// Ready reports whether a Read would return at once: it has replayed
// bytes to give, the body has ended or failed, the reader is superseded,
// or the caller's body says a Read would not block.
func (r *replayReader) Ready() bool {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case r.gen != b.gen, b.srcErr != nil, b.eof:
		return true
	case !r.direct && !b.overflow && r.off < len(b.buf):
		return true
	case !r.direct && b.overflow && r.gen != 1:
		return true // superseded
	}
	return ready.Now(b.src)
}

// Close does not close the caller's body: the proxy closes it when the
// whole exchange ends, so a retry can still read it.
func (r *replayReader) Close() error { return nil }
