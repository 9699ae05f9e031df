package h1

import (
	"io"
	"net/http"
	"sync"
)

// body is a request body: Content-Length bytes or a chunked body read
// from the connection's buffer. It may be read from another goroutine
// than the handler's (the proxy's transports do); once the handler has
// returned, reads fail with http.ErrBodyReadAfterClose, so nothing reads
// the connection while the loop reads the next request.
type body struct {
	c       *conn
	mu      sync.Mutex
	r       io.Reader // nil: no body
	chunked bool
	closed  bool // the handler returned
	done    bool // finish ran: clean is its answer
	clean   bool
	eof     bool
	err     error // sticky
}

func (b *body) reset(r io.Reader, chunked bool) {
	b.mu.Lock()
	b.r, b.chunked, b.closed, b.eof, b.err, b.done = r, chunked, false, false, nil, false
	b.mu.Unlock()
}

// Read reads the body.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.eof || b.r == nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		if !b.chunked && b.c.cl.N > 0 {
			err = io.ErrUnexpectedEOF // the connection ended first
		} else {
			b.eof = true
			b.c.rd.watch()
			return n, io.EOF
		}
	}
	if !b.chunked && err == nil && b.c.cl.N == 0 {
		b.eof = true
		b.c.rd.watch()
		return n, io.EOF
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Ready reports whether a Read would return without reading the
// connection (for a chunked body, ChunkedReader.Ready).
func (b *body) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed || b.err != nil || b.eof || b.r == nil:
		return true
	case b.chunked:
		cr, ok := b.r.(*ChunkedReader)
		return ok && cr.Ready()
	}
	return b.c.cl.N == 0 || b.c.br.Buffered() > 0
}

// Close is a no-op for the handler: what is left is dealt with when the
// handler returns (finish).
func (b *body) Close() error { return nil }

// abandon makes the body unreadable at once and leaves its rest unread:
// the connection closes after the response.
func (b *body) abandon() {
	b.mu.Lock()
	if b.err == nil && !b.eof && b.r != nil {
		b.err = http.ErrBodyReadAfterClose
	}
	b.mu.Unlock()
}

// finish closes the body after the handler returned. It reads and drops
// up to max bytes the handler left, and says whether the connection is
// still at a request boundary (body read to its end, without error).
func (b *body) finish(max int64) bool {
	if !b.mu.TryLock() {
		// A read is blocked on the caller (another goroutine's, after
		// the handler returned): interrupt it; the body is then broken.
		b.c.setReadDeadline(aLongTimeAgo)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if !b.done {
		b.closed, b.done = true, true
		b.clean = b.drain(max)
	}
	return b.clean
}

func (b *body) drain(max int64) bool {
	if b.r == nil || b.eof {
		return b.err == nil
	}
	if b.err != nil {
		return false
	}
	if !b.chunked && b.c.cl.N > max {
		return false
	}
	_, err := io.CopyN(io.Discard, b.r, max+1)
	return err == io.EOF && (b.chunked || b.c.cl.N == 0)
}
