package h2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h2meta"
	"github.com/slinkerd/slinkerd/internal/reqctx"
	"github.com/slinkerd/slinkerd/internal/target"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// stream is one request and its response. Fields marked "reader" belong
// to the connection's reader goroutine; sendWindow and wErr are guarded
// by the writer's mutex.
type stream struct {
	c  *conn
	id uint32

	// reader
	remoteClosed bool
	declLen      int64 // content-length, -1 none
	received     int64

	inflow atomic.Int64 // what the peer may still send on this stream
	// flushedAt is 1 + the count of socket reads when the stream's last
	// frame was flushed; 0 until then.
	flushedAt atomic.Uint64

	req    *http.Request // rs.req until the handler returns, then nil
	rs     *reqState
	head   bool // the method is HEAD
	ctx    *reqctx.Context
	body   reqBody
	rw     response
	marked bool // markDone ran

	sendWindow int64 // the peer's window for this stream
	wErr       error // set once the stream is reset or the connection closed
	finalSent  bool  // the final response head is queued; under the writer's mutex
}

// reqState holds what a stream's request and response are built in: the
// request, its URL, its header map and the map's values, and the response
// header map and its small-body buffer. It is reused once the handler has
// returned, as the HTTP/1 loop reuses its request: nothing keeps a
// request's or response's header past the handler (the proxy copies what
// it forwards), and response headers are encoded while the handler runs.
type reqState struct {
	req     http.Request
	url     url.URL
	header  http.Header
	vals    []string
	respHdr http.Header
	pending []byte
	body    []byte // the request body's buffer
}

// reqStateKeep bounds what a pooled reqState keeps: a header map or body
// buffer grown past it by one large request is dropped.
const reqStateKeep = 64

// reqBodyKeep is the largest request body buffer a pooled reqState keeps.
const reqBodyKeep = 64 << 10

var reqStates = sync.Pool{New: func() any { return new(reqState) }}

// getReqState returns a cleared reqState.
func getReqState() *reqState { return reqStates.Get().(*reqState) }

// put clears rs and returns it to the pool.
func (rs *reqState) put() {
	if len(rs.header) > reqStateKeep {
		rs.header = nil
	}
	if len(rs.respHdr) > reqStateKeep {
		rs.respHdr = nil
	}
	clear(rs.header)
	clear(rs.respHdr)
	clear(rs.vals) // drop references to the last request's strings
	if cap(rs.vals) > reqStateKeep {
		rs.vals = nil
	}
	if cap(rs.pending) > bufferBeforeCommit {
		rs.pending = nil
	}
	if cap(rs.body) > reqBodyKeep {
		rs.body = nil
	}
	*rs = reqState{header: rs.header, vals: rs.vals[:0], respHdr: rs.respHdr, pending: rs.pending[:0], body: rs.body[:0]}
	reqStates.Put(rs)
}

// release returns st's request state to the pool once its handler has
// returned; the reader's endRemote then no longer sees the request.
func (st *stream) release() {
	rs := st.rs
	if rs == nil {
		return
	}
	b := &st.body
	b.mu.Lock()
	st.req, st.rs = nil, nil
	if b.closed { // (serve closed it: the reader's put no longer appends)
		rs.body, b.buf, b.off = b.buf, nil, 0
	}
	b.mu.Unlock()
	rs.pending = st.rw.pending // the buffer, grown or not; sendData copied its bytes
	st.rw.header, st.rw.pending = nil, nil
	rs.put()
}

// errBodyClosed is what a Read of a request body after Close returns.
var errBodyClosed = errors.New("h2: read on closed request body")

// validPseudoPath reports whether v is a valid :path (RFC 9113 §8.3.1).
func validPseudoPath(v string) bool {
	return (len(v) > 0 && v[0] == '/') || v == "*"
}

func validTrailer(key string) bool { return httpguts.ValidTrailerHeader(key) }

// newStream builds a stream and its request from a request HEADERS
// frame, or returns the stream error code that refuses it.
func (c *conn) newStream(f *http2.MetaHeadersFrame) (*stream, http2.ErrCode) {
	method := f.PseudoValue("method")
	path := f.PseudoValue("path")
	scheme := f.PseudoValue("scheme")
	authority := f.PseudoValue("authority")
	if f.PseudoValue("status") != "" || f.PseudoValue("protocol") != "" {
		return nil, http2.ErrCodeProtocol
	}
	isConnect := method == http.MethodConnect
	if isConnect {
		if path != "" || scheme != "" || authority == "" {
			return nil, http2.ErrCodeProtocol
		}
	} else if method == "" || scheme == "" || !validPseudoPath(path) || (path == "*" && method != http.MethodOptions) {
		return nil, http2.ErrCodeProtocol
	}
	if !httpguts.ValidHostHeader(authority) && authority != "" {
		return nil, http2.ErrCodeProtocol
	}
	st := &stream{c: c, id: f.StreamID, declLen: -1, head: method == http.MethodHead}
	rs := getReqState()
	if rs.header == nil {
		rs.header = make(http.Header, len(f.Fields))
	}
	header := rs.header
	var cookies []string
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
			return nil, http2.ErrCodeProtocol // connection-specific (RFC 9113 §8.2.2)
		case "te":
			if hf.Value != "trailers" {
				return nil, http2.ErrCodeProtocol
			}
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		case "content-length":
			n, err := strconv.ParseUint(hf.Value, 10, 63)
			if err != nil || (st.declLen >= 0 && int64(n) != st.declLen) {
				return nil, http2.ErrCodeProtocol
			}
			st.declLen = int64(n)
		}
		key := c.canon.Get(hf.Name)
		if vv, ok := header[key]; ok {
			header[key] = append(vv, hf.Value)
			continue
		}
		// One backing array for the values, as the HTTP/1 loop's; an
		// append that grows it leaves the slices made so far valid.
		rs.vals = append(rs.vals, hf.Value)
		n := len(rs.vals)
		header[key] = rs.vals[n-1 : n : n]
	}
	if len(cookies) > 0 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	end := f.StreamEnded()
	if end && st.declLen > 0 {
		return nil, http2.ErrCodeProtocol
	}

	u := &rs.url
	requestURI := path
	if isConnect {
		*u = url.URL{Host: authority}
		requestURI = authority
	} else if err := target.Parse(u, path); err != nil {
		rs.put()
		return nil, http2.ErrCodeProtocol
	}
	var trailer http.Header
	for _, v := range header["Trailer"] {
		for key := range strings.SplitSeq(v, ",") {
			key = http.CanonicalHeaderKey(strings.TrimSpace(key))
			switch key {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
				// Bogus, as net/http.
			default:
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[key] = nil
			}
		}
	}
	delete(header, "Trailer")

	st.ctx = reqctx.New(c.values)
	st.inflow.Store(int64(c.s.cfg.MaxReceiveBufferPerStream))
	// initSend is written only by onSettings, on this goroutine (the
	// reader's), which also adjusts the windows of the streams already
	// open: read here without the writer's lock, which handlers contend
	// for. The stream is not shared until start hands it to a worker.
	st.sendWindow = c.w.initSend
	st.body.st = st
	st.body.buf = rs.body
	// As net/http: "Expect: 100-continue" gets a 100 when the handler
	// first reads the body, unless its answer went out first.
	st.body.needsContinue = !end && httpguts.HeaderValuesContainsToken(header["Expect"], "100-continue")
	st.body.cond.L = &st.body.mu
	st.rs = rs
	req := &rs.req
	*req = *(&http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     header,
		Host:       authority,
		RemoteAddr: c.remote,
		RequestURI: requestURI,
		Trailer:    trailer,
	}).WithContext(st.ctx) // inlined: the copy is req's, not a new allocation
	if end {
		st.remoteClosed = true
		st.body.eof = true
		req.Body = http.NoBody
	} else {
		req.Body = &st.body
		req.ContentLength = st.declLen
	}
	st.req = req
	st.rw.init(st, rs)
	return st, http2.ErrCodeNo
}

// abort ends the stream from the reader's side: its context is cancelled,
// its body fails with err and its writes stop.
func (st *stream) abort(err error) {
	// Writes stop first: a handler the cancel wakes must not get its own
	// RST_STREAM (NO_ERROR, from finish) out before the reset's.
	w := &st.c.w
	w.mu.Lock()
	if st.wErr == nil {
		st.wErr = err
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	if st.ctx != nil {
		st.ctx.Cancel()
	}
	st.body.fail(err)
}

// endRemote records the peer's END_STREAM, with trailers if any.
func (st *stream) endRemote(tr http.Header) {
	st.remoteClosed = true
	b := &st.body
	b.mu.Lock()
	if st.req != nil && st.req.Trailer != nil {
		for k, vv := range tr {
			st.req.Trailer[k] = vv
		}
	}
	b.eof = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// serve runs the handler and completes the stream.
func (st *stream) serve() {
	if st.ctx.Err() != nil {
		// Reset while it waited for a handler slot.
		st.c.markDone(st)
		st.release()
		return
	}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				st.c.s.cfg.Logger.Error("h2: panic serving request", "remote", st.c.remote, "stream", st.id, "panic", fmt.Sprint(p), "stack", string(buf))
			}
			st.c.markDone(st)
			st.push(outFrame{kind: kRST, streamID: st.id, code: http2.ErrCodeInternal})
		}
		st.ctx.Cancel()
		st.body.Close()
		st.release()
	}()
	st.c.s.cfg.Handler.ServeHTTP(&st.rw, st.req)
	st.rw.finish()
}

// push queues f for st unless the stream was reset; false if not queued.
func (st *stream) push(f outFrame) bool {
	w := &st.c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if st.wErr != nil && (f.kind != kRST || st.wErr != errStreamDone) {
		return false // reset, or ended (only a RST_STREAM may follow END_STREAM)
	}
	if f.kind == kRST {
		st.wErr = errStreamDone
		f.st = st
	}
	return w.pushLocked(f)
}

// errStreamDone is what writes after the stream ended return.
var errStreamDone = errors.New("h2: stream closed")

// reqBody is a request body: the bytes the reader received and the
// handler has not read yet, at most the stream window.
type reqBody struct {
	st      *stream
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	off     int
	eof     bool  // END_STREAM received
	err     error // reset or connection closed
	closed  bool  // closed by the handler
	unacked int64 // read and not yet announced with WINDOW_UPDATE

	// The handler's read deadline (response.SetReadDeadline): once it has
	// passed, a Read that finds nothing buffered fails with
	// os.ErrDeadlineExceeded, as on net/http's HTTP/2 server.
	timedOut bool
	timer    *time.Timer
	gen      uint64 // deadlines set; an expiry of an older one does nothing

	needsContinue bool // a 100 Continue is owed at the first Read
}

// setDeadline sets the read deadline; the zero time clears it.
func (b *reqBody) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.timedOut = false
	if t.IsZero() {
		return
	}
	d := time.Until(t)
	if d <= 0 {
		b.timedOut = true
		b.cond.Broadcast()
		return
	}
	gen := b.gen
	b.timer = time.AfterFunc(d, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.gen == gen {
			b.timedOut = true
			b.cond.Broadcast()
		}
	})
}

// put appends p (reader); false if the handler closed the body.
func (b *reqBody) put(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.err != nil {
		return false
	}
	if len(b.buf)+len(p) > cap(b.buf) && b.off > 0 {
		n := copy(b.buf, b.buf[b.off:])
		b.buf, b.off = b.buf[:n], 0
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return true
}

func (b *reqBody) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Ready reports whether a Read would return at once: body bytes are
// buffered, or the body has ended or failed. (internal/h2client reads a
// ready body before it opens its stream, to send it with the HEADERS.)
func (b *reqBody) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) > b.off || b.eof || b.err != nil || b.closed || b.timedOut
}

// Read reads the request body; what it takes is given back to the peer
// with WINDOW_UPDATE once a quarter of a window is due.
func (b *reqBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.needsContinue {
		b.needsContinue = false
		b.mu.Unlock() // (the writer's lock is never taken under the body's)
		b.st.sendContinue()
		b.mu.Lock()
	}
	for len(b.buf) == b.off && !b.eof && b.err == nil && !b.closed && !b.timedOut {
		b.cond.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, errBodyClosed
	}
	if len(b.buf) == b.off {
		err := b.err
		if b.eof {
			err = io.EOF
		} else if err == nil {
			err = os.ErrDeadlineExceeded
		}
		b.mu.Unlock()
		return 0, err
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	if b.off == len(b.buf) {
		b.buf, b.off = b.buf[:0], 0
	}
	b.unacked += int64(n)
	var upd int64
	st := b.st
	if !b.eof && b.err == nil && b.unacked >= int64(st.c.s.cfg.MaxReceiveBufferPerStream)/4 {
		upd, b.unacked = b.unacked, 0
	}
	b.mu.Unlock()
	c := st.c
	c.credit(int64(n))
	if upd > 0 {
		st.inflow.Add(upd)
		st.push(outFrame{kind: kWindowUpdate, streamID: st.id, n: uint32(upd)})
	}
	return n, nil
}

// Close drops what is buffered and what still arrives, giving the
// connection window back.
func (b *reqBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	drop := len(b.buf) - b.off
	b.buf, b.off = b.buf[:0], 0 // kept for the next stream (release)
	b.cond.Broadcast()
	b.mu.Unlock()
	if drop > 0 {
		b.st.c.credit(int64(drop))
	}
	return nil
}

// remoteDone says whether the peer has ended its side (handler).
func (b *reqBody) remoteDone() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// markDone tells the reader st's handler has ended (before its last frame
// is queued, so that the peer never sees the end of a stream the reader
// still counts).
func (c *conn) markDone(st *stream) {
	if st.marked {
		return
	}
	st.marked = true
	c.mu.Lock()
	c.active--
	c.done = append(c.done, st)
	c.mu.Unlock()
}

// sendContinue queues a 100 Continue head, unless the final head is
// queued already or the stream has ended.
func (st *stream) sendContinue() {
	wr := &st.c.w
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if st.wErr != nil || st.finalSent || wr.closed || wr.finish {
		return
	}
	block := wr.encodeLocked(func(enc *h2meta.Encoder) {
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
	})
	wr.pushLocked(outFrame{kind: kHeaders, streamID: st.id, buf: block})
}
