package h2

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h2meta"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bufferBeforeCommit is how much body the response holds before it sends
// its HEADERS, as net/http: a handler that writes a small body and returns
// gets a content-length, and HEADERS and DATA leave together.
const bufferBeforeCommit = 4 << 10

// ErrContentLength is returned by Write past the declared Content-Length.
var ErrContentLength = errors.New("h2: wrote more than the declared Content-Length")

// response is the http.ResponseWriter of one stream. It also offers what
// http.ResponseController looks for: FlushError, SetReadDeadline,
// SetWriteDeadline and EnableFullDuplex.
type response struct {
	st          *stream
	header      http.Header
	status      int
	wroteHeader bool
	committed   bool // HEADERS queued
	pending     []byte
	cl          int64 // the content-length sent, -1 none
	written     int64
	noBody      bool
	err         error
	// clValue is the content-length commit computed ("": none). It is
	// sent in place of the map's, never put in the map, which may be
	// adopted.
	clValue string
}

// init readies w for st, with the header map and body buffer of rs.
func (w *response) init(st *stream, rs *reqState) {
	if rs.respHdr == nil {
		rs.respHdr = make(http.Header)
	}
	*w = response{st: st, header: rs.respHdr, pending: rs.pending[:0], cl: -1}
}

// Header returns the response header map.
func (w *response) Header() http.Header { return w.header }

// AdoptHeader makes h the response's header map, in place of an empty
// one, so that a proxy passes an endpoint's response header on without
// copying it field by field. It refuses (false) once a field or the
// status is set. h then belongs to the writer until the response is
// written, which may be after the handler returns: the writer may change
// it (a bad Content-Length dropped) but never clears it, and the
// stream's pooled map stays the writer's own.
func (w *response) AdoptHeader(h http.Header) bool {
	if h == nil || w.wroteHeader || len(w.header) > 0 {
		return false
	}
	w.header = h
	return true
}

// WriteHeader sends an informational (1xx) answer at once, as its own
// HEADERS, or sets the final status, which goes out with the first body
// bytes that do not fit a small buffer, a Flush, or the handler's return.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.sendHeaders(code, false, true)
		return
	}
	w.wroteHeader, w.status = true, code
	if vv := w.header["Content-Length"]; len(vv) > 0 && vv[0] != "" {
		n, err := strconv.ParseInt(vv[0], 10, 64)
		if err != nil || n < 0 {
			w.header.Del("Content-Length") // as net/http: never send a bad one
		} else {
			w.cl = n
		}
	}
	if code == http.StatusNoContent || code == http.StatusNotModified || w.st.head {
		w.noBody = true
	}
}

// Write sends body bytes as DATA frames, split to the peer's frame size
// and windows; it blocks while they are empty. The first Write sets
// status 200 if none is set.
func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.st.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.pending)+len(p) <= bufferBeforeCommit {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		if err := w.commit(false, false); err != nil {
			return 0, err
		}
	}
	if err := w.st.sendData(p, false); err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (w *response) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Flush sends the HEADERS and what body is buffered.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, with the error that stopped it.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if !w.committed {
		return w.commit(false, false)
	}
	return nil
}

// SetReadDeadline sets the stream's read deadline, as net/http's HTTP/2
// server does: once it has passed, a Read of the request body that finds
// nothing buffered fails with os.ErrDeadlineExceeded. The zero time clears
// it.
func (w *response) SetReadDeadline(t time.Time) error {
	w.st.body.setDeadline(t)
	return nil
}

// SetWriteDeadline is not supported per stream: a zero time (no deadline)
// is accepted, others return http.ErrNotSupported.
func (w *response) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	return http.ErrNotSupported
}

// EnableFullDuplex is a no-op: an HTTP/2 handler may always read the
// request while it writes the response.
func (w *response) EnableFullDuplex() error { return nil }

// commit sends the HEADERS and the buffered body. final: the handler
// has returned, so the buffered body is all of it, and trailers says
// whether the handler set any (only then does it matter).
func (w *response) commit(final, trailers bool) error {
	w.committed = true
	if final && w.cl < 0 && !w.noBody && bodyAllowed(w.status) && !trailers {
		// As net/http, except for an answer with trailers: a gRPC answer
		// the proxy passes on whole gets no length its origin did not send.
		w.cl = int64(len(w.pending))
		w.clValue = strconv.Itoa(len(w.pending))
	}
	end := final && len(w.pending) == 0 && !trailers
	if err := w.sendHeaders(w.status, end, false); err != nil {
		w.err = err
		return err
	}
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = p[:0] // sendData copies it
		if err := w.st.sendData(p, final && !trailers); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// statusValue is the :status value of status, without allocating for
// the common ones.
func statusValue(status int) string {
	switch status {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(status)
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

// finish completes the response after the handler returned: the rest of
// the body, trailers, END_STREAM; and RST_STREAM NO_ERROR if the peer is
// still sending a body no one will read (as net/http).
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	st := w.st
	if w.err != nil {
		st.c.markDone(st)
		st.push(outFrame{kind: kRST, streamID: st.id, code: http2.ErrCodeInternal})
		return
	}
	trailers := w.hasTrailers()
	if !w.committed && !trailers {
		st.c.markDone(st)
		_ = w.commit(true, false)
	} else {
		if !w.committed {
			if w.commit(true, true) != nil {
				st.c.markDone(st)
				return
			}
		}
		st.c.markDone(st)
		if trailers {
			_ = w.sendHeaders(0, true, false)
		} else {
			_ = st.sendData(nil, true)
		}
	}
	if !st.body.remoteDone() {
		st.push(outFrame{kind: kRST, streamID: st.id, code: http2.ErrCodeNo})
	}
}

// hasTrailers says whether the handler set trailer values: keys declared
// in the Trailer header, or prefixed with http.TrailerPrefix.
func (w *response) hasTrailers() bool {
	for _, v := range w.header["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			if len(w.header[http.CanonicalHeaderKey(strings.TrimSpace(k))]) > 0 {
				return true
			}
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// sendHeaders encodes and queues a HEADERS frame: the status and header
// fields (status > 0), or the trailers (status 0).
func (w *response) sendHeaders(status int, end, interim bool) error {
	st := w.st
	wr := &st.c.w
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if st.wErr != nil {
		return st.wErr
	}
	if wr.closed || wr.finish {
		return errConnClosed
	}
	block := wr.encodeLocked(func(enc *h2meta.Encoder) {
		if status == 0 {
			w.encodeTrailers(enc)
			return
		}
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusValue(status)})
		w.encodeFields(enc, interim, status)
	})
	f := outFrame{kind: kHeaders, streamID: st.id, end: end, buf: block}
	if end {
		f.st = st
	}
	if !wr.pushLocked(f) {
		return errConnClosed
	}
	if !interim {
		st.finalSent = true
	}
	if end {
		st.wErr = errStreamDone
	}
	return nil
}

func (w *response) encodeFields(enc *h2meta.Encoder, interim bool, status int) {
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te":
			continue // connection-specific (RFC 9113 §8.2.2)
		case "Content-Length":
			if interim || w.clValue != "" || !bodyAllowed(status) && status != http.StatusNotModified {
				continue
			}
		}
		name := lower(k)
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			_ = enc.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
	if !interim {
		if w.clValue != "" {
			_ = enc.WriteField(hpack.HeaderField{Name: "content-length", Value: w.clValue})
		}
		if _, ok := w.header["Date"]; !ok {
			_ = enc.WriteField(hpack.HeaderField{Name: "date", Value: httpDate()})
		}
	}
}

func (w *response) encodeTrailers(enc *h2meta.Encoder) {
	for _, v := range w.header["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if !validTrailer(k) {
				continue
			}
			for _, v := range w.header[k] {
				if httpguts.ValidHeaderFieldValue(v) {
					_ = enc.WriteField(hpack.HeaderField{Name: lower(k), Value: v})
				}
			}
		}
	}
	for k, vv := range w.header {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !httpguts.ValidHeaderFieldName(name) || !validTrailer(http.CanonicalHeaderKey(name)) {
			continue
		}
		for _, v := range vv {
			if httpguts.ValidHeaderFieldValue(v) {
				_ = enc.WriteField(hpack.HeaderField{Name: lower(name), Value: v})
			}
		}
	}
}

// sendData queues p as DATA frames, waiting for window and queue room;
// end sets END_STREAM on the last (an empty frame when p is empty).
func (st *stream) sendData(p []byte, end bool) error {
	w := &st.c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(p) > 0 || end {
		var n int64
		for {
			if st.wErr != nil {
				return st.wErr
			}
			if w.closed || w.finish {
				return errConnClosed
			}
			n = min(int64(len(p)), int64(w.maxFrame), dataChunk, st.sendWindow, w.connSend, int64(maxQueuedData-w.queued))
			if n > 0 || len(p) == 0 {
				break
			}
			w.cond.Wait()
		}
		f := outFrame{kind: kData, streamID: st.id}
		if n > 0 {
			bp := dataPool.Get().(*[]byte)
			f.buf = (*bp)[:n]
			f.pool = bp
			copy(f.buf, p)
			st.sendWindow -= n
			w.connSend -= n
			p = p[n:]
		}
		f.end = end && len(p) == 0
		if f.end {
			f.st = st
		}
		if !w.pushLocked(f) {
			return errConnClosed
		}
		if f.end {
			st.wErr = errStreamDone
			return nil
		}
	}
	return nil
}

// lower returns a header name in lower case, without allocating for the
// common ones.
func lower(k string) string {
	if v, ok := commonLower[k]; ok {
		return v
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

var commonLower = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age", "Allow",
		"Authorization", "Cache-Control", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Type", "Cookie", "Date", "Etag", "Expires", "Last-Modified", "Link",
		"Location", "Server", "Set-Cookie", "Strict-Transport-Security", "Trailer",
		"Vary", "Via", "Www-Authenticate", "X-Content-Type-Options", "Grpc-Status",
		"Grpc-Message", "Grpc-Encoding", "Grpc-Accept-Encoding", "Grpc-Status-Details-Bin",
		"L5d-Err", "L5d-Success-Class", "Retry-After",
	} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// The date header's value, made once a second (as internal/h1).
type dateVal struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[dateVal]

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dateVal{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

// Interface guards.
var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)
