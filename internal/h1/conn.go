package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/reqctx"
	"github.com/slinkerd/slinkerd/internal/target"
)

// Connection states, for Shutdown.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// h2Preface is the start of HTTP/2 with prior knowledge (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// bufferSize is the read and write buffer of a connection; a head that
// does not fit in the read buffer moves the connection to one of
// MaxHeaderBytes (and a little more).
const bufferSize = 4 << 10

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferSize) }}
)

// vecWriter is what a connection's bufio.Writer writes to: the
// connection, and, while tail is set, tail after what the buffer
// flushes, in one writev (net.Buffers). A body write too large for the
// buffer then goes out with the head and whatever else came before it in
// one system call, not two or three.
type vecWriter struct {
	nc   net.Conn
	tail [2][]byte
	bufs net.Buffers
	arr  [3][]byte
}

func (v *vecWriter) Write(p []byte) (int, error) {
	if v.tail[0] == nil {
		return v.nc.Write(p)
	}
	v.arr = [3][]byte{p, v.tail[0], v.tail[1]}
	v.tail = [2][]byte{}
	v.bufs = v.arr[:]
	if v.arr[2] == nil {
		v.bufs = v.arr[:2]
	}
	n, err := v.bufs.WriteTo(v.nc)
	v.arr = [3][]byte{} // (WriteTo consumed bufs; keep no body bytes)
	if err != nil {
		return int(min(n, int64(len(p)))), err
	}
	return len(p), nil
}

// flushWith flushes the write buffer followed by a and b (b may be nil)
// in one write; the buffer must hold something.
func (c *conn) flushWith(a, b []byte) error {
	c.vw.tail = [2][]byte{a, b}
	err := c.bw.Flush()
	c.vw.tail = [2][]byte{}
	return err
}

// chunkedTE is the TransferEncoding of a chunked request (never changed).
var chunkedTE = []string{"chunked"}

// conn is one caller connection and the state its loop reuses.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer // writes to vw
	vw     vecWriter
	remote string
	state  atomic.Int32
	// values holds what every request's context carries (the local
	// address); cur is the running request's context, which abort ends.
	values context.Context
	cur    atomic.Pointer[reqctx.Context]

	tmpl http.Request // the request every one starts from (TLS state)
	req  http.Request
	url  url.URL
	head Head
	w    response
	body body
	cl   io.LimitedReader
	cr   ChunkedReader
	rd   connReader

	dlSet bool // a read deadline may be set on nc (the loop's own)
	// rdl is the read deadline last set on nc (UnixNano; 0: none), so
	// that the idle deadline is not set again while the one set is
	// recent enough (armIdle). Any goroutine may set it (a handler's
	// http.ResponseController.SetReadDeadline).
	rdl       atomic.Int64
	headArmed bool // the read-header deadline is set for this head
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.values = context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr())
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		c.tmpl.TLS = &cs
	}
	c.w.c = c
	c.body.c = c
	c.rd.c = c
	return c
}

// abort ends the running request's context: the caller is gone or the
// connection ends.
func (c *conn) abort() {
	if ctx := c.cur.Load(); ctx != nil {
		ctx.Cancel()
	}
}

// closeIfIdle closes the connection if it waits for a request (Shutdown).
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		_ = c.nc.Close()
	}
}

// serve runs the loop until the connection ends or is handed off.
func (c *conn) serve() {
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(&c.rd)
	c.bw = writers.Get().(*bufio.Writer)
	c.vw.nc = c.nc
	c.bw.Reset(&c.vw)
	handedOff := false
	defer func() {
		c.abort()
		if handedOff {
			return
		}
		c.state.Store(stateClosed)
		_ = c.nc.Close()
		c.release()
		if c.s.cfg.ConnState != nil {
			c.s.cfg.ConnState(c.nc, http.StateClosed)
		}
	}()
	cfg := &c.s.cfg
	for first := true; ; first = false {
		if !c.state.CompareAndSwap(stateActive, stateIdle) && !first {
			return // closed by Shutdown
		}
		if c.s.conns.ShuttingDown() {
			return
		}
		if !first && cfg.ConnState != nil {
			cfg.ConnState(c.nc, http.StateIdle)
		}
		// Deadlines cost a timer update each, so the loop sets only those
		// that can fire: the idle one unless a pipelined request is here
		// already, the head one unless the whole head is.
		idleArmed := false
		if c.br.Buffered() == 0 {
			if cfg.IdleTimeout > 0 {
				c.armIdle()
				idleArmed, c.dlSet = true, true
			} else if c.dlSet {
				c.setReadDeadline(time.Time{})
				c.dlSet = false
			}
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // Shutdown closed it as idle
		}
		if cfg.ConnState != nil {
			cfg.ConnState(c.nc, http.StateActive)
		}
		c.headArmed = false // armHead sets it before the head's first blocking read
		if first {
			if c.isH2Preface() {
				handedOff = c.handOff(c.s.cfg.HTTP2)
				return
			}
		}
		n, err := c.readHead()
		if err != nil {
			var he *Error
			if errors.As(err, &he) {
				c.refuse(he)
			}
			return
		}
		if err := ParseHead(c.head0(n), &c.head, cfg.MaxHeaders); err != nil {
			var he *Error
			if errors.As(err, &he) {
				c.refuse(he)
			}
			return
		}
		// Upgrades, and any Expect (net/http sends 100 Continue, or 417
		// for an expectation it does not know), go to the fallback.
		if c.head.Upgrade || c.head.Expect100 || len(c.head.Header["Expect"]) > 0 {
			handedOff = c.handOff(nil)
			return
		}
		if _, err := c.br.Discard(n); err != nil {
			return
		}
		// The body's reads (and the watch's) run without a deadline; a
		// bodiless request keeps the idle one set this round, which only a
		// watch read past IdleTimeout would meet (and take for a caller
		// still there). One left from an earlier request is cleared: it
		// may have passed.
		if c.dlSet && (c.headArmed || !idleArmed || c.head.Chunked || c.head.ContentLength > 0) {
			c.setReadDeadline(time.Time{})
			c.dlSet = false
		}
		keep, err := c.serveRequest()
		if err != nil || !keep {
			return
		}
	}
}

// isH2Preface says whether the connection starts with the HTTP/2
// preface, reading no more than it needs to tell.
func (c *conn) isH2Preface() bool {
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		n := min(len(b), len(h2Preface))
		if string(b[:n]) != h2Preface[:n] {
			return false
		}
		if n == len(h2Preface) {
			return true
		}
		c.armHead()
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return false
		}
	}
}

// setReadDeadline sets nc's read deadline and remembers it.
func (c *conn) setReadDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if t.IsZero() {
		c.rdl.Store(0)
	} else {
		c.rdl.Store(t.UnixNano())
	}
}

// armIdle sets the idle deadline, IdleTimeout from now, unless the
// deadline set already ends no more than IdleTimeout/8 before that (it
// was set by a recent request on this connection): a deadline costs a
// timer update, and kept-alive requests come far more often. The idle
// timeout is thus between 7/8 of IdleTimeout and IdleTimeout.
func (c *conn) armIdle() {
	d := c.s.cfg.IdleTimeout
	now := time.Now()
	want := now.Add(d)
	if set := c.rdl.Load(); set > now.UnixNano() && set >= want.Add(-d/8).UnixNano() && set <= want.UnixNano() {
		return
	}
	c.setReadDeadline(want)
}

// armHead sets the read-header deadline before the head's first read
// that may block: a head already in the buffer costs no timer update.
func (c *conn) armHead() {
	if !c.headArmed && c.s.cfg.ReadHeaderTimeout > 0 {
		c.setReadDeadline(time.Now().Add(c.s.cfg.ReadHeaderTimeout))
		c.headArmed, c.dlSet = true, true
	}
}

// head0 returns the first n buffered bytes (the head).
func (c *conn) head0(n int) []byte {
	b, _ := c.br.Peek(n)
	return b
}

// readHead waits until the buffer holds a whole head and returns its
// length. A head longer than MaxHeaderBytes is an *Error (431).
func (c *conn) readHead() (int, error) {
	tooLarge := func() error {
		return &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head over " + strconv.Itoa(c.s.cfg.MaxHeaderBytes) + " bytes"}
	}
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if n := HeadEnd(buf); n >= 0 {
			if n > c.s.cfg.MaxHeaderBytes+2 {
				return 0, tooLarge()
			}
			return n, nil
		}
		if len(buf) > c.s.cfg.MaxHeaderBytes {
			return 0, tooLarge()
		}
		if len(buf) == c.br.Size() {
			// Move to a reader that can hold the longest head allowed.
			rest := bytes.Clone(buf)
			big := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), c.nc), c.s.cfg.MaxHeaderBytes+bufferSize)
			readers.Put(c.br)
			c.br = big
			c.armHead()
			if _, err := c.br.Peek(len(rest)); err != nil {
				return 0, err
			}
			continue
		}
		c.armHead()
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// refuse answers a head that cannot be served, as net/http does, and
// the connection closes.
func (c *conn) refuse(e *Error) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	text := strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	c.bw.WriteString("HTTP/1.1 " + text + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + text)
	if e.Reason != "" {
		c.bw.WriteString(": " + e.Reason)
	}
	_ = c.bw.Flush()
	c.s.cfg.Logger.Debug("refused a request", "remote", c.remote, "status", e.Status, "reason", e.Reason)
	c.closeWriteAndLinger()
}

// closeWriteAndLinger half-closes the connection and gives the caller a
// moment to read the answer, so it reads it instead of a reset (as
// net/http's closeWriteAndWait).
func (c *conn) closeWriteAndLinger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.setReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 256<<10))
}

// handOff gives the connection to to, or when it is nil to Fallback,
// with what was read replayed.
func (c *conn) handOff(to func(net.Conn)) bool {
	c.setReadDeadline(time.Time{})
	if to == nil {
		to = c.s.cfg.Fallback
	}
	if to == nil {
		return false
	}
	buffered, _ := c.br.Peek(c.br.Buffered())
	rc := &replayConn{Conn: c.nc, buf: bytes.Clone(buffered)}
	c.release()
	to(rc)
	return true
}

// release returns the buffers to their pools.
func (c *conn) release() {
	if c.br != nil && c.br.Size() == bufferSize {
		c.br.Reset(nil)
		readers.Put(c.br)
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writers.Put(c.bw)
	}
	c.br, c.bw = nil, nil
}

// serveRequest builds the request from the parsed head, runs the
// handler and finishes the response. It says whether the connection can
// take another request.
func (c *conn) serveRequest() (bool, error) {
	h := &c.head
	r := &c.req
	// As net/http: the request's context ends when the handler returns
	// (or, before that, when the connection does). What waits on it —
	// spans, child contexts, AfterFuncs — must not wait for the caller
	// to hang up, nor pile up on a kept-alive connection.
	ctx := reqctx.New(c.values)
	c.cur.Store(ctx)
	defer ctx.Cancel()
	*r = *c.tmpl.WithContext(ctx)
	r.Method = h.Method
	r.RequestURI = h.Target
	r.ProtoMajor, r.ProtoMinor = h.ProtoMajor, h.ProtoMinor
	r.Proto = "HTTP/1.1"
	if h.ProtoMinor == 0 {
		r.Proto = "HTTP/1.0"
	}
	// The map (and its value slices) is refilled by the next head: the
	// handler has returned by then, and nothing keeps a request's header
	// past it (the proxy copies what it forwards).
	r.Header = h.Header // without Host: that is h.Host (ParseHead)
	r.RemoteAddr = c.remote
	r.Close = h.Close
	if err := c.parseTarget(h.Target); err != nil {
		c.refuse(&Error{Status: http.StatusBadRequest, Reason: "malformed request target"})
		return false, err
	}
	r.URL = &c.url
	r.Host = c.url.Host
	if r.Host == "" {
		r.Host = h.Host
	}
	c.url.Host = ""
	if c.url.Scheme != "" {
		c.url.Host = r.Host
	}
	switch {
	case h.Chunked:
		r.ContentLength = -1
		r.TransferEncoding = chunkedTE
		c.cr.Reset(c.br, nil)
		c.body.reset(&c.cr, true)
		r.Body = &c.body
	case h.ContentLength > 0:
		r.ContentLength = h.ContentLength
		c.cl = io.LimitedReader{R: c.br, N: h.ContentLength}
		c.body.reset(&c.cl, false)
		r.Body = &c.body
	default:
		r.ContentLength = 0
		c.body.reset(nil, false)
		r.Body = http.NoBody
		c.rd.watch()
	}
	c.w.reset(r)
	ok := c.runHandler(r)
	if !c.rd.stop() || !ok {
		return false, nil
	}
	keep := c.w.finish()
	if !c.body.finish(c.s.cfg.MaxDiscardBytes) {
		keep = false
	}
	if err := c.bw.Flush(); err != nil {
		return false, err
	}
	if !keep {
		if c.w.closeLinger {
			c.closeWriteAndLinger()
		}
		return false, nil
	}
	return true, nil
}

// runHandler calls the handler. A panic ends the connection without an
// answer, as in net/http: silently for http.ErrAbortHandler, else with
// the panic and stack logged.
func (c *conn) runHandler(r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			c.body.finish(0)
			// As net/http: what the handler wrote goes out (an aborted
			// body then ends short, which the caller sees), then the
			// connection closes.
			_ = c.bw.Flush()
			if v == http.ErrAbortHandler {
				return
			}
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.cfg.Logger.Error("panic serving a request", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
		}
	}()
	c.s.cfg.Handler.ServeHTTP(&c.w, r)
	return true
}

// parseTarget fills c.url from the request-target as net/http's server
// does (url.ParseRequestURI), without allocating for a plain origin-form
// target (internal/target).
func (c *conn) parseTarget(t string) error { return target.Parse(&c.url, t) }

// replayConn is a handed-off connection: its reads return the bytes the
// loop had read but not consumed, then the connection's.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection, as a *net.TCPConn.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// HandedOff says whether nc is a connection the loop handed off (its
// StateNew has been reported already).
func HandedOff(nc net.Conn) bool {
	_, ok := nc.(*replayConn)
	return ok
}
