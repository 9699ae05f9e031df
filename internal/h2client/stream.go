package h2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/ready"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// stream is one request and its response. Its state is guarded by its
// connection's mu.
type stream struct {
	cc   *conn
	id   uint32
	req  *http.Request
	cond sync.Cond // the response head, body bytes, the end; L is &cc.mu

	sendWindow int32 // what the endpoint lets us send on it
	recvAvail  int32 // receive window left
	readUnack  int32 // bytes read by the body's reader, not yet given back

	interim    []interim // 1xx answers for the RoundTrip goroutine to pass on
	n1xx       int
	resp       *http.Response // &respv once the head arrived
	respv      http.Response
	vals       [8]string // backs the response's and trailer's header values
	nvals      int       // of vals, how many the response head used
	bodyless   bool      // the response has no body (HEAD, 204, 304)
	length     int64     // declared content-length, or -1
	got        int64     // DATA bytes received
	buf        []byte
	bufp       *[]byte // buf's first array, from bodyBuffers; back to it on Close
	off        int
	remoteDone bool // END_STREAM received
	localDone  bool // END_STREAM or RST_STREAM sent
	reset      bool // RST_STREAM sent or received
	closed     bool // the response body was closed
	err        error
	// unprocessed: the endpoint did not process the request (REFUSED_STREAM,
	// above a GOAWAY's last stream ID).
	unprocessed bool

	hook      cancelHooker // the context's hook, when watch set it
	afterStop func() bool  // ends the context.AfterFunc watch, when watch set one

	// The response-head timeout (armHead): the stream waits for a head
	// until headBy, its timeout headD from when it was armed.
	waitHead bool
	headBy   time.Time
	headD    time.Duration

	// body is the request body, closed once: by its writer when it is
	// sent, or when the stream ends first (a Read in progress then ends).
	body     io.ReadCloser
	bodyDone atomic.Bool
}

// closeBody closes the request body, once.
func (s *stream) closeBody() {
	if s.bodyDone.CompareAndSwap(false, true) {
		_ = s.body.Close()
	}
}

// endBody closes the request body, if its writer still runs, on another
// goroutine: the stream ended first. As in x/net's transport, the close
// ends a Read in progress, and must not block the caller here.
func (s *stream) endBody() {
	if s.body != nil && !s.bodyDone.Load() {
		go s.closeBody()
	}
}

type interim struct {
	code int
	h    http.Header
}

// failLocked ends the stream with err, waking whoever waits on it.
func (s *stream) failLocked(err error) {
	if s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
	s.cc.sendCond.Broadcast()
}

// abort resets the stream from our side with code and fails it with err,
// unless it has ended already.
func (s *stream) abort(code http2.ErrCode, err error) {
	cc := s.cc
	cc.mu.Lock()
	live := cc.streams[s.id] == s
	if live {
		s.failLocked(err)
		s.localDone, s.reset = true, true
		cc.removeLocked(s)
	} else if s.err == nil && !s.remoteDone {
		s.failLocked(err)
	}
	cc.mu.Unlock()
	if live {
		cc.writeRST(s.id, code)
		s.endBody()
	}
}

// endLocalLocked records that END_STREAM was sent, and forgets the
// stream if its response has ended too.
func (s *stream) endLocalLocked() {
	s.localDone = true
	if s.remoteDone {
		s.cc.removeLocked(s)
	}
}

// roundTrip sends req on cc. early is what RoundTrip read of the body
// already: sent with the HEADERS if it fits, else by the body's writer;
// roundTrip gives its buffer back, unless the connection turns out
// unusable before the stream opens (errConnUnusable), when RoundTrip
// tries another with it.
func (cc *conn) roundTrip(ctx context.Context, req *http.Request, early *earlyBody, info Informer, headTimeout time.Duration) (*http.Response, bool, error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	auth, path := authority(req), req.URL.RequestURI()
	sizeBound, err := checkRequest(req, auth, path)
	if err != nil {
		cc.unreserve()
		early.release()
		if hasBody {
			_ = req.Body.Close()
		}
		return nil, false, err
	}
	s := &stream{cc: cc, req: req, recvAvail: cc.h.c.cfg.StreamWindow, length: -1}
	s.cond.L = &cc.mu
	if hasBody {
		s.body = req.Body
	}
	trailers := len(req.Trailer) > 0

	// Open the stream: its ID is taken under the write lock, so IDs go out
	// in the order they are taken (RFC 9113 §5.1.1).
	cc.lockWrite()
	cc.mu.Lock()
	cc.reserved--
	if cc.err != nil || cc.goingAway || cc.nextID > maxStreamID {
		cc.goingAway = true
		drained := cc.err == nil && len(cc.streams) == 0 && cc.reserved == 0
		cc.mu.Unlock()
		_ = cc.unlockWrite(nil) // (flushes what writers before left for it)
		if drained {
			// Nothing more will use it (removeLocked does the same when
			// a stream ends).
			go cc.fail(errDrained)
		}
		// RoundTrip tries another connection, with the same body.
		return nil, false, errConnUnusable
	}
	s.id = cc.nextID
	cc.nextID += 2
	s.sendWindow = cc.initWindow
	cc.streams[s.id] = s
	if cc.idleTimer != nil && len(cc.streams) == 1 {
		cc.idleTimer.Stop()
	}
	maxFrame, maxHeaders := cc.maxFrame, cc.maxHeaders
	// A body known to be empty ends the stream with the HEADERS.
	endStream := (!hasBody || early.eof && len(early.data) == 0) && !trailers
	if endStream {
		s.localDone = true
	}
	// The early body is sent now if the windows and the frame size take
	// it whole; END_STREAM with it if it is the whole body.
	n := len(early.data)
	sendEarly := n > 0 && n <= int(maxFrame) && int64(n) <= int64(s.sendWindow) && int64(n) <= int64(cc.sendWindow)
	bodyDone := sendEarly && early.eof && !trailers
	if sendEarly {
		s.sendWindow -= int32(n)
		cc.sendWindow -= int32(n)
	}
	if bodyDone {
		s.localDone = true
	}
	cc.mu.Unlock()
	err = cc.encodeRequestHeaders(req, auth, path, maxHeaders, sizeBound)
	if err == nil {
		err = cc.writeHeaderBlock(s.id, endStream, maxFrame)
		if err == nil && sendEarly {
			err = cc.fr.WriteData(s.id, bodyDone, early.data)
		}
	} else {
		// Nothing was encoded or written: forget the stream.
		cc.hbuf.Reset()
		_ = cc.unlockWrite(nil)
		cc.mu.Lock()
		cc.removeLocked(s)
		cc.mu.Unlock()
		early.release()
		if hasBody {
			_ = req.Body.Close()
		}
		return nil, false, err
	}
	if err = cc.unlockWrite(err); err != nil {
		early.release()
		if hasBody {
			_ = req.Body.Close()
		}
		return nil, true, connError(cc.h.addr, err)
	}

	s.watch(ctx)
	switch {
	case bodyDone || hasBody && endStream:
		early.release()
		s.closeBody()
		if r, ok := req.Body.(interface{ Released() }); ok {
			r.Released()
		}
		if headTimeout > 0 {
			s.armHead(headTimeout)
		}
	case hasBody:
		if sendEarly {
			early.data = early.data[:0] // sent
		}
		go s.writeBody(*early, trailers, headTimeout) // which releases it
		*early = earlyBody{}
	case headTimeout > 0:
		s.armHead(headTimeout)
	}
	return s.awaitHead(info)
}

// earlyBody is what RoundTrip reads of a request body before it opens the
// stream: only what the body's Ready method says is there.
type earlyBody struct {
	bp   *[]byte // from bodyBuffers; data is in it
	data []byte
	eof  bool // data is the whole body
}

// maxEarly is the most an early read takes: one default-sized DATA frame.
const maxEarly = 16 << 10

// read reads body while a Read would not block: body has a Ready method
// (the proxy's bodies over slinkerd's HTTP/2 server do) that says so.
// It stops at the end of the body, at maxEarly bytes, or when Ready is
// false; the error is a failed Read.
func (e *earlyBody) read(body io.Reader) error {
	for !e.eof && ready.Now(body) {
		if e.bp == nil {
			e.bp = bodyBuffers.Get().(*[]byte)
			e.data = (*e.bp)[:0]
		}
		free := (*e.bp)[len(e.data):maxEarly]
		if len(free) == 0 {
			break
		}
		n, err := body.Read(free)
		e.data = e.data[:len(e.data)+n]
		switch {
		case err == io.EOF:
			e.eof = true
		case err != nil:
			return err
		case n == 0:
			return nil // a Ready that said yes to nothing: the writer reads on
		}
	}
	return nil
}

// release gives the buffer back; data is not used after.
func (e *earlyBody) release() {
	if e.bp != nil {
		bodyBuffers.Put(e.bp)
		*e = earlyBody{}
	}
}

// unreserve gives back a reserved stream that will not be opened.
func (cc *conn) unreserve() {
	cc.mu.Lock()
	cc.reserved--
	cc.mu.Unlock()
}

// armHead starts the response-head timeout d. There is no timer per
// stream: the connection's head watch (checkHeads) looks at the streams
// waiting for a head every eighth of the shortest timeout among them, so
// a stream times out between 7/8 and all of d (as the HTTP/1 loop's
// deadlines), and a stream whose head arrives costs no timer operation.
func (s *stream) armHead(d time.Duration) {
	now := time.Now()
	cc := s.cc
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if s.resp != nil || s.err != nil || cc.err != nil {
		return
	}
	s.waitHead, s.headBy, s.headD = true, now.Add(d), d
	if every := watchPeriod(d); cc.headEvery == 0 || every < cc.headEvery {
		cc.headEvery = every
		if cc.headTimer == nil {
			cc.headTimer = time.AfterFunc(every, cc.checkHeads)
		} else {
			cc.headTimer.Reset(every)
		}
	}
}

// watchPeriod is how often the head watch looks at a stream whose
// timeout is d: an eighth of it, at least a millisecond.
func watchPeriod(d time.Duration) time.Duration { return max(d/8, time.Millisecond) }

// checkHeads is the connection's head watch: it fails the streams that
// have waited for a head for 7/8 of their timeout or more, and looks
// again while any stream waits.
func (cc *conn) checkHeads() {
	type late struct {
		s *stream
		d time.Duration
	}
	var lates []late
	var next time.Duration // the period the streams still waiting need
	now := time.Now()
	cc.mu.Lock()
	for _, s := range cc.streams {
		if !s.waitHead {
			continue
		}
		if !now.Before(s.headBy.Add(-s.headD / 8)) {
			s.waitHead = false
			lates = append(lates, late{s, s.headD})
			continue
		}
		if every := watchPeriod(s.headD); next == 0 || every < next {
			next = every
		}
	}
	if cc.err != nil {
		next = 0
	}
	cc.headEvery = next
	if next > 0 {
		cc.headTimer.Reset(next)
	}
	cc.mu.Unlock()
	for _, l := range lates {
		l.s.abort(http2.ErrCodeCancel, fmt.Errorf("%w: no response head within %s", ErrResponseHeaderTimeout, l.d))
	}
}

// awaitHead waits for the response head, passing interim responses on.
func (s *stream) awaitHead(info Informer) (*http.Response, bool, error) {
	cc := s.cc
	cc.mu.Lock()
	for {
		for len(s.interim) > 0 && s.err == nil {
			in := s.interim[0]
			s.interim = s.interim[1:]
			if info == nil {
				continue
			}
			cc.mu.Unlock()
			err := info.Informational(in.code, in.h)
			if err != nil {
				s.abort(http2.ErrCodeCancel, err)
			}
			cc.mu.Lock()
		}
		if s.err != nil || s.resp != nil {
			break
		}
		s.cond.Wait()
	}
	s.waitHead = false
	if s.err != nil && s.resp == nil || s.err != nil && s.bodyless {
		err, unprocessed := s.err, s.unprocessed
		cc.mu.Unlock()
		s.stop()
		s.abort(http2.ErrCodeCancel, err)
		return nil, !unprocessed, err
	}
	resp := s.resp
	if s.bodyless || (s.remoteDone && s.off == len(s.buf) && s.err == nil) {
		// Nothing to read: the exchange is over.
		if !s.bodyless {
			resp.Body = http.NoBody
		}
		cc.mu.Unlock()
		s.stop()
		if !s.remoteDone {
			s.abort(http2.ErrCodeCancel, errBodyClosed)
		}
		return resp, true, nil
	}
	resp.Body = s
	cc.mu.Unlock()
	return resp, true, nil
}

// errBodyClosed is a Read of a response body after its Close.
var errBodyClosed = errors.New("http2: response body closed")

// Ready reports whether a Read of the response body would return at
// once: bytes are buffered, or the body has ended, failed or been closed.
func (s *stream) Ready() bool {
	s.cc.mu.Lock()
	defer s.cc.mu.Unlock()
	return s.off < len(s.buf) || s.remoteDone || s.err != nil || s.closed
}

// Read reads the response body; io.EOF at its end, with the trailer set.
func (s *stream) Read(p []byte) (int, error) {
	cc := s.cc
	cc.mu.Lock()
	for s.off == len(s.buf) && !s.remoteDone && s.err == nil && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		cc.mu.Unlock()
		return 0, errBodyClosed
	}
	if s.off < len(s.buf) {
		n := copy(p, s.buf[s.off:])
		s.off += n
		if s.off == len(s.buf) {
			s.buf, s.off = s.buf[:0], 0
		}
		var back int32
		if !s.remoteDone && s.err == nil {
			s.readUnack += int32(n)
			if s.readUnack >= cc.h.c.cfg.StreamWindow/4 {
				back, s.readUnack = s.readUnack, 0
				s.recvAvail += back
			}
		}
		cc.mu.Unlock()
		if back > 0 {
			cc.writeWindowUpdate(s.id, back)
		}
		return n, nil
	}
	err := s.err
	cc.mu.Unlock()
	if err == nil {
		err = io.EOF
	}
	s.stop()
	return 0, err
}

// Close ends the response body; a stream still running is reset.
func (s *stream) Close() error {
	cc := s.cc
	cc.mu.Lock()
	if s.closed {
		cc.mu.Unlock()
		return nil
	}
	s.closed = true
	s.buf = nil
	if s.bufp != nil {
		// Nothing reads or appends to the buffer once the body is closed
		// (Read and onDataLocked check closed under the same lock).
		bodyBuffers.Put(s.bufp)
		s.bufp = nil
	}
	done := s.remoteDone || s.err != nil
	s.cond.Broadcast()
	cc.mu.Unlock()
	s.stop()
	if !done {
		s.abort(http2.ErrCodeCancel, errBodyClosed)
	}
	return nil
}

// writeBody sends the request body, and the trailer if any, then starts
// the head timeout.
func (s *stream) writeBody(early earlyBody, trailers bool, headTimeout time.Duration) {
	defer s.closeBody()
	defer early.release()
	cc, body := s.cc, s.body
	bp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bp)
	buf := *bp
	first := true
	for {
		var n int
		var rerr error
		var data []byte
		if first && (len(early.data) > 0 || early.eof) {
			// What roundTrip read and could not send with the HEADERS.
			data = early.data
			if early.eof {
				rerr = io.EOF
			}
		} else {
			n, rerr = body.Read(buf)
			if rerr != nil && rerr != io.EOF {
				s.abort(http2.ErrCodeCancel, &bodyReadError{rerr})
				return
			}
			data = buf[:n]
		}
		first = false
		last := rerr == io.EOF
		for len(data) > 0 || (last && !trailers) {
			k, maxFrame, ok := s.awaitSendWindow(len(data))
			if !ok {
				return
			}
			k = min(k, int(maxFrame))
			end := last && !trailers && k == len(data)
			cc.lockWrite()
			err := cc.fr.WriteData(s.id, end, data[:k])
			if end {
				cc.mu.Lock()
				s.endLocalLocked()
				cc.mu.Unlock()
			}
			if cc.unlockWrite(err) != nil {
				return
			}
			data = data[k:]
			if end {
				break
			}
		}
		if last {
			break
		}
	}
	if trailers {
		cc.lockWrite()
		cc.mu.Lock()
		maxFrame, maxHeaders := cc.maxFrame, cc.maxHeaders
		cc.mu.Unlock()
		err := cc.encodeTrailer(s.req.Trailer, maxHeaders)
		if err != nil {
			cc.hbuf.Reset()
			_ = cc.unlockWrite(nil)
			s.abort(http2.ErrCodeCancel, err)
			return
		}
		err = cc.writeHeaderBlock(s.id, true, maxFrame)
		cc.mu.Lock()
		s.endLocalLocked()
		cc.mu.Unlock()
		if cc.unlockWrite(err) != nil {
			return
		}
	}
	if headTimeout > 0 {
		s.armHead(headTimeout)
	}
}

// bodyReadError is a failure to read the request body.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// awaitSendWindow waits until n bytes (or as many as 0 when n is 0) may
// be sent on the stream, and takes up to n of them from its window and
// the connection's. ok is false when the stream has ended.
func (s *stream) awaitSendWindow(n int) (k int, maxFrame uint32, ok bool) {
	cc := s.cc
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for {
		if s.err != nil || s.reset || cc.streams[s.id] != s {
			return 0, 0, false
		}
		if n == 0 {
			return 0, cc.maxFrame, true
		}
		if s.sendWindow > 0 && cc.sendWindow > 0 {
			k = min(n, int(s.sendWindow), int(cc.sendWindow), int(cc.maxFrame))
			s.sendWindow -= int32(k)
			cc.sendWindow -= int32(k)
			return k, cc.maxFrame, true
		}
		cc.sendCond.Wait()
	}
}

// onHeadersLocked takes a response head, an interim response or the
// trailer.
func (s *stream) onHeadersLocked(f *http2.MetaHeadersFrame) error {
	if f.Truncated {
		return fmt.Errorf("endpoint's response header list is over the proxy's limit (%d bytes)", s.cc.h.c.cfg.MaxHeaderListSize)
	}
	if s.remoteDone {
		return errors.New("endpoint sent HEADERS after END_STREAM")
	}
	if s.resp != nil {
		// The trailer.
		if !f.StreamEnded() {
			return errors.New("endpoint sent a second HEADERS without END_STREAM")
		}
		if len(f.PseudoFields()) > 0 {
			return errors.New("endpoint sent pseudo-header fields in a trailer")
		}
		if s.resp.Trailer == nil {
			s.resp.Trailer = s.cc.header(f.RegularFields(), s.vals[min(s.nvals, len(s.vals)):])
			return s.endRemoteLocked()
		}
		for _, hf := range f.RegularFields() {
			k := s.cc.canon.Get(hf.Name)
			s.resp.Trailer[k] = append(s.resp.Trailer[k], hf.Value)
		}
		return s.endRemoteLocked()
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if len(status) != 3 || err != nil || code < 100 {
		return fmt.Errorf("endpoint sent a malformed :status %q", status)
	}
	for _, hf := range f.PseudoFields() {
		if hf.Name != ":status" {
			return fmt.Errorf("endpoint sent the request pseudo-header %s in a response", hf.Name)
		}
	}
	regular := f.RegularFields()
	for _, hf := range regular {
		if connectionHeader(hf.Name) {
			return fmt.Errorf("endpoint sent the connection-specific header %q (RFC 9113 §8.2.2)", hf.Name)
		}
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			return errors.New("endpoint sent 101 Switching Protocols over HTTP/2")
		}
		if f.StreamEnded() {
			return errors.New("endpoint ended the stream with an interim response")
		}
		if s.n1xx++; s.n1xx > MaxInformational {
			return ErrTooManyInformational
		}
		s.interim = append(s.interim, interim{code: code, h: s.cc.header(regular, nil)})
		s.cond.Broadcast()
		return nil
	}
	h := s.cc.header(regular, s.vals[:])
	s.nvals = len(regular)
	resp := &s.respv
	*resp = http.Response{
		Status:        statusLine(code, status),
		StatusCode:    code,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		ContentLength: -1,
		Request:       s.req,
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, ok := parseContentLength(cl)
		if !ok {
			return fmt.Errorf("endpoint sent a malformed Content-Length %q", cl)
		}
		resp.ContentLength, s.length = n, n
	}
	if vv := h["Trailer"]; len(vv) > 0 {
		resp.Trailer = make(http.Header)
		for _, v := range vv {
			for k := range strings.SplitSeq(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					resp.Trailer[k] = nil
				}
			}
		}
	}
	if s.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		s.bodyless = true
		resp.Body = http.NoBody
		if code == http.StatusNoContent {
			resp.ContentLength = 0
		}
	}
	s.resp = resp
	if f.StreamEnded() {
		if s.length > 0 && !s.bodyless {
			return fmt.Errorf("endpoint ended the stream with no body after Content-Length %d", s.length)
		}
		if resp.ContentLength == -1 && !s.bodyless {
			resp.ContentLength = 0
		}
		if err := s.endRemoteLocked(); err != nil {
			return err
		}
	}
	s.cond.Broadcast()
	return nil
}

// endRemoteLocked records the endpoint's END_STREAM.
func (s *stream) endRemoteLocked() error {
	s.remoteDone = true
	if s.localDone {
		s.cc.removeLocked(s)
	}
	s.cond.Broadcast()
	return nil
}

// onDataLocked buffers a DATA frame's payload. It returns the stream
// window to give back at once (padding, bytes nobody will read) and the
// code to reset the stream with, if it must be.
func (s *stream) onDataLocked(f *http2.DataFrame) (rst http2.ErrCode, back int32, err error) {
	n := int32(f.Length)
	s.recvAvail -= n
	if s.recvAvail < 0 {
		return http2.ErrCodeFlowControl, 0, errors.New("endpoint sent DATA beyond the stream's window")
	}
	if s.resp == nil {
		return http2.ErrCodeProtocol, 0, errors.New("endpoint sent DATA before a response head")
	}
	if s.remoteDone {
		return http2.ErrCodeStreamClosed, 0, errors.New("endpoint sent DATA after END_STREAM")
	}
	data := f.Data()
	s.got += int64(len(data))
	if s.bodyless && len(data) > 0 {
		return http2.ErrCodeProtocol, 0, fmt.Errorf("endpoint sent a body with a %d response", s.resp.StatusCode)
	}
	if s.length >= 0 && (s.got > s.length || f.StreamEnded() && s.got != s.length) {
		return http2.ErrCodeProtocol, 0, fmt.Errorf("endpoint sent %d body bytes after Content-Length %d", s.got, s.length)
	}
	if pad := n - int32(len(data)); pad > 0 {
		back += pad
	}
	if s.closed {
		back += int32(len(data))
	} else if len(data) > 0 {
		if s.bufp == nil && cap(s.buf) == 0 {
			s.bufp = bodyBuffers.Get().(*[]byte)
			s.buf = (*s.bufp)[:0]
		}
		s.buf = append(s.buf, data...)
	}
	if back > 0 && !f.StreamEnded() {
		s.recvAvail += back
	} else {
		back = 0
	}
	if f.StreamEnded() {
		_ = s.endRemoteLocked()
	}
	s.cond.Broadcast()
	return 0, back, nil
}

// onResetLocked takes the endpoint's RST_STREAM.
func (s *stream) onResetLocked(code http2.ErrCode) {
	s.reset, s.localDone = true, true
	if code == http2.ErrCodeNo && s.remoteDone {
		// The response is complete; the endpoint wants no more of the
		// request (RFC 9113 §8.1).
		s.cond.Broadcast()
		s.cc.sendCond.Broadcast()
		return
	}
	err := error(http2.StreamError{StreamID: s.id, Code: code})
	if code == http2.ErrCodeRefusedStream && s.resp == nil {
		s.unprocessed = true
		err = &unprocessedError{err: err}
	}
	s.failLocked(fmt.Errorf("endpoint %s reset the stream: %w", s.cc.h.addr, err))
}

// connectionHeader says whether the lower-case field name is one of the
// connection-specific ones HTTP/2 forbids (RFC 9113 §8.2.2).
func connectionHeader(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// parseContentLength parses Content-Length values, which must agree.
func parseContentLength(vv []string) (int64, bool) {
	var n int64 = -1
	for _, v := range vv {
		v = strings.TrimSpace(v)
		m, err := strconv.ParseUint(v, 10, 63)
		if err != nil || v == "" || v[0] == '+' || (n >= 0 && int64(m) != n) {
			return 0, false
		}
		n = int64(m)
	}
	return n, true
}

// header builds an http.Header from decoded fields, with one backing
// array for the values.
func (cc *conn) header(fields []hpack.HeaderField, spare []string) http.Header {
	h := make(http.Header, len(fields))
	vals := spare
	if len(fields) > len(vals) {
		vals = make([]string, len(fields))
	}
	for i, hf := range fields {
		k := cc.canon.Get(hf.Name)
		vals[i] = hf.Value
		if old, ok := h[k]; ok {
			h[k] = append(old, hf.Value)
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	return h
}

// statusLines are the Status strings of the codes net/http knows.
var statusLines = func() (a [600]string) {
	for code := range a {
		if t := http.StatusText(code); t != "" {
			a[code] = strconv.Itoa(code) + " " + t
		}
	}
	return a
}()

// statusLine is an http.Response's Status for code, whose three digits
// are status.
func statusLine(code int, status string) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return status + " " + http.StatusText(code)
}

// checkRequest refuses what cannot be sent over HTTP/2. It returns a
// bound on the size of the header list encodeRequestHeaders sends (RFC
// 9113 §6.5.2), counted in the same pass over the header: the fields
// sent are among these, names lowered keep their length. auth and path
// are the request's :authority and :path.
func checkRequest(req *http.Request, auth, path string) (sizeBound int, err error) {
	if req.Method == http.MethodConnect {
		return 0, errors.New("h2client: CONNECT is not supported")
	}
	if !httpguts.ValidHostHeader(auth) {
		return 0, fmt.Errorf("h2client: invalid Host %q", auth)
	}
	size := len(req.Method) + len(auth) + len(path) + 4*32 + len(":method:scheme:authority:path") + len("http") + len("content-length") + 20 + 32
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return 0, fmt.Errorf("h2client: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return 0, fmt.Errorf("h2client: invalid value of header field %q", k)
			}
			size += len(k) + len(v) + 32
		}
	}
	if len(req.Trailer) > 0 {
		size += len("trailer") + 32
		for k := range req.Trailer {
			size += len(k) + 1
		}
	}
	return size, nil
}

func authority(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// cancelHooker is a context with one synchronous on-end hook: the
// request context of slinkerd's own servers (internal/reqctx). Setting it
// costs no allocation, where context.AfterFunc costs several.
type cancelHooker interface {
	// SetCancelHook sets f to run when the context ends; false means it
	// ended already or has a hook.
	SetCancelHook(f func()) bool
	// ClearCancelHook removes the hook; false means it ran.
	ClearCancelHook() bool
}

// watch resets the stream when ctx ends, until stop: through the
// context's hook when it has a free one, else context.AfterFunc.
func (s *stream) watch(ctx context.Context) {
	// The hook first: asking a request context for Done makes its channel.
	if h, ok := ctx.(cancelHooker); ok {
		// The hook runs on the goroutine that ends the context (a server's
		// reader, or the timer of its deadline): the reset, which writes,
		// goes on its own, with the context's error.
		if h.SetCancelHook(func() { err := ctx.Err(); go s.abort(http2.ErrCodeCancel, err) }) {
			s.hook = h
			return
		}
	}
	if ctx.Done() == nil {
		return // it never ends
	}
	s.afterStop = context.AfterFunc(ctx, func() { s.abort(http2.ErrCodeCancel, context.Cause(ctx)) })
}

// stop ends the context watch; it reports whether that kept the reset
// from running.
func (s *stream) stop() bool {
	switch {
	case s.hook != nil:
		return s.hook.ClearCancelHook()
	case s.afterStop != nil:
		return s.afterStop()
	}
	return true
}
