package h1

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeCommit is how much body the writer holds before it writes
// the head, as net/http: a handler that writes a small body and returns
// gets a Content-Length instead of chunked encoding.
const bufferBeforeCommit = 2048

// ErrContentLength is returned by Write past the declared Content-Length.
var ErrContentLength = errors.New("h1: wrote more than the declared Content-Length")

// response is the http.ResponseWriter of one request. It also offers
// what http.ResponseController looks for (FlushError, SetReadDeadline,
// SetWriteDeadline, EnableFullDuplex) and CloseAfterResponse.
type response struct {
	c   *conn
	req *http.Request

	header      http.Header // own, or one adopted for this response
	own         http.Header // the writer's map, kept from one request to the next
	status      int
	wroteHeader bool // a final status is set (WriteHeader or the first Write)
	committed   bool // the head is in the write buffer
	pending     []byte
	cl          int64 // the Content-Length sent, -1 none
	chunked     bool
	noBody      bool // HEAD, 1xx, 204 or 304: no body bytes go out
	written     int64
	closeAfter  bool // close the connection after this response
	closeLinger bool // and half-close first, letting the caller read it
	trailers    []string
	err         error
	scratch     [32]byte
}

func (w *response) reset(r *http.Request) {
	pending := w.pending[:0]
	h := w.own
	if h == nil {
		h = make(http.Header)
	} else {
		clear(h)
	}
	*w = response{c: w.c, req: r, header: h, own: h, pending: pending, cl: -1}
	if r.Close || (r.ProtoMajor == 1 && r.ProtoMinor == 0 && !keepAlive10(r.Header)) {
		w.closeAfter = true
	}
}

// keepAlive10 says whether an HTTP/1.0 request asks to keep the
// connection ("Connection: keep-alive").
func keepAlive10(h http.Header) bool {
	return httpguts.HeaderValuesContainsToken(h["Connection"], "keep-alive")
}

// Header returns the response header map.
func (w *response) Header() http.Header { return w.header }

// AdoptHeader makes h the response's header map, in place of an empty
// one, so that a proxy passes an endpoint's response header on without
// copying it field by field. It refuses (false) once a field is set or
// the status is. h then belongs to the writer until the response is
// written, which may be after the handler returns: the writer may change
// it (a Content-Length) but never clears it, and the next request gets
// the writer's own map back.
func (w *response) AdoptHeader(h http.Header) bool {
	if h == nil || w.wroteHeader || len(w.header) > 0 {
		return false
	}
	w.header = h
	return true
}

// WriteHeader sends an interim (1xx) response at once, or sets the final
// status; the head goes out with the first body bytes that do not fit
// the small buffer, a Flush, or the handler's return.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader, w.status = true, code
	if vv := w.header["Content-Length"]; len(vv) > 0 && vv[0] != "" { // Get, without canonicalising
		v := vv[0]
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			w.header.Del("Content-Length") // as net/http: never send a bad one
		} else {
			w.cl = n
		}
	}
	if code == http.StatusNoContent || code == http.StatusNotModified || (code >= 100 && code <= 199) || w.req.Method == http.MethodHead {
		w.noBody = true
	}
}

func (w *response) writeInterim(code int) {
	if w.err != nil {
		return
	}
	w.statusLine(code)
	w.writeFields(true)
	w.c.bw.WriteString("\r\n")
	w.err = w.c.bw.Flush()
}

// Write writes body bytes; the first one sets status 200 if none is set.
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
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.cl < 0 && len(w.pending)+len(p) <= bufferBeforeCommit {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (w *response) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

func (w *response) writeBody(p []byte) {
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		if len(p)+2 > bw.Available() {
			// Too large for the buffer: the chunk, its CRLF and what is
			// buffered before it go in one write.
			w.err = w.c.flushWith(p, crlf)
			return
		}
		bw.Write(p)
		_, w.err = bw.WriteString("\r\n")
		return
	}
	if len(p) > bw.Available() && bw.Buffered() > 0 {
		w.err = w.c.flushWith(p, nil)
		return
	}
	_, w.err = bw.Write(p)
}

var crlf = []byte("\r\n")

// Flush sends what is buffered, head included.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush that returns the write error.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if w.err != nil {
		return w.err
	}
	w.err = w.c.bw.Flush()
	return w.err
}

// SetReadDeadline sets the connection's read deadline (request body).
func (w *response) SetReadDeadline(t time.Time) error {
	err := w.c.nc.SetReadDeadline(t)
	if t.IsZero() {
		w.c.rdl.Store(0)
	} else {
		w.c.rdl.Store(t.UnixNano())
	}
	return err
}

// SetWriteDeadline sets the connection's write deadline.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex is a no-op: the loop always lets a handler read the
// request body while it writes the response.
func (w *response) EnableFullDuplex() error { return nil }

// CloseAfterResponse closes the connection once this response is
// complete, without reading what is left of the request body.
func (w *response) CloseAfterResponse() {
	w.closeAfter, w.closeLinger = true, true
	// Interrupt a read of the body that waits for the caller: the rest
	// is never read.
	w.c.setReadDeadline(aLongTimeAgo)
	w.c.body.abandon()
}

// commit writes the head. final: the handler has returned, so a body
// held in pending is all of it and gets a Content-Length.
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	if final && !w.c.body.finish(w.c.s.cfg.MaxDiscardBytes) {
		// As net/http: the body the handler left is read (up to a
		// bound) before the answer, or the answer closes the connection.
		w.closeAfter, w.closeLinger = true, true
	}
	if w.cl < 0 && !w.noBody && final {
		w.cl = int64(len(w.pending))
		h["Content-Length"] = []string{strconv.Itoa(len(w.pending))}
	}
	delete(h, "Transfer-Encoding")
	if w.cl < 0 && !w.noBody {
		if w.req.ProtoMajor == 1 && w.req.ProtoMinor >= 1 {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the body ends with the connection
		}
	}
	if t := h["Trailer"]; len(t) > 0 && w.chunked {
		for _, v := range t {
			for k := range strings.SplitSeq(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
				}
			}
		}
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if w.c.s.conns.ShuttingDown() {
		w.closeAfter = true
	}
	w.statusLine(w.status)
	w.writeFields(false)
	bw := w.c.bw
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter:
		if !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
			bw.WriteString("Connection: close\r\n")
		}
	case w.req.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	_, w.err = bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

func (w *response) statusLine(code int) {
	bw := w.c.bw
	if w.req.ProtoMinor == 0 {
		bw.WriteString("HTTP/1.0 ")
	} else {
		bw.WriteString("HTTP/1.1 ")
	}
	bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
}

// writeFields writes the header fields: never one with an invalid name,
// and with any CR or LF in a value turned into a space (no response
// splitting), as net/http. Trailer fields announced with TrailerPrefix
// wait for the end. interim: a 1xx, which carries no framing fields.
func (w *response) writeFields(interim bool) {
	bw := w.c.bw
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		if interim && (k == "Content-Length" || k == "Transfer-Encoding") {
			continue
		}
		if w.noBody && !interim && k == "Content-Length" && w.status != http.StatusNotModified && w.req.Method != http.MethodHead {
			continue // 204 and the like carry no Content-Length
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(w, v)
			bw.WriteString("\r\n")
		}
	}
}

func writeValue(w *response, v string) {
	bw := w.c.bw
	v = strings.TrimSpace(v)
	for {
		i := strings.IndexAny(v, "\r\n")
		if i < 0 {
			bw.WriteString(v)
			return
		}
		bw.WriteString(v[:i])
		bw.WriteByte(' ')
		v = v[i+1:]
	}
}

// finish completes the response after the handler returned and says
// whether the connection can take another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.err != nil {
		return false
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				bw.WriteString(k)
				bw.WriteString(": ")
				writeValue(w, v)
				bw.WriteString("\r\n")
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) {
				for _, v := range vv {
					bw.WriteString(name)
					bw.WriteString(": ")
					writeValue(w, v)
					bw.WriteString("\r\n")
				}
			}
		}
		_, w.err = bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.written < w.cl && !w.noBody {
		// A short body: the caller cannot tell where it ended otherwise.
		w.closeAfter = true
	}
	return w.err == nil && !w.closeAfter
}

// The Date header's value, made once a second.
type dateVal struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateVal]

func httpDate() []byte {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.b
	}
	d := &dateVal{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dateCache.Store(d)
	return d.b
}
