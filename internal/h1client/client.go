// Package h1client is slinkerd's own HTTP/1.1 client for the data path's
// fast path: one exchange at a time on a pooled keep-alive connection, on
// the calling goroutine, with the safety rules of docs/security.md (no
// connection pooled with bytes past a response, a liveness peek before
// every reuse, status codes checked, interim responses capped, a response
// head timeout). internal/proxy's direct path and attempt loop use it through
// Client.RoundTrip; Eligible says which requests it may send.
package h1client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/ready"
)

// Client sends the most common requests — HTTP/1.1 without a body, or
// with a small body of known length, no upgrade, no Expect — to a
// cleartext endpoint on the calling goroutine: it writes the request to a
// pooled keep-alive connection and reads the response from it, with no
// other goroutine involved. A body is written in full before the response
// is read, which is why it must be small (h1MaxBody): it then fits in the
// socket buffers even if the endpoint answers before reading it. net/http's Transport hands every request to a
// writer and a reader goroutine per connection; on a 2-core machine those
// handoffs took about a quarter of the proxy's CPU. Every other request
// (bodies, upgrades, TLS, h2c) still goes through net/http's Transport.
// The response is read by the connection's own reader (resp.go), with
// the *http.Response semantics of net/http's ReadResponse in fewer
// allocations.
type Client struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	idleTimeout time.Duration
	maxIdle     int
	maxHeader   int64
	hosts       sync.Map // host:port -> *h1Host
}

// Config configures a Client.
type Config struct {
	// Dial opens a connection to an endpoint. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IdleTimeout closes a pooled connection idle this long. Zero: never.
	IdleTimeout time.Duration
	// MaxIdle caps the idle connections kept per endpoint.
	MaxIdle int
	// MaxHeader caps a response head, in bytes.
	MaxHeader int64
}

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{dial: cfg.Dial, idleTimeout: cfg.IdleTimeout, maxIdle: cfg.MaxIdle, maxHeader: cfg.MaxHeader}
}

// h1MaxBody is the largest request body the synchronous client sends.
const h1MaxBody = 64 << 10

// Eligible says whether the synchronous client may send req.
func Eligible(req *http.Request) bool {
	if HasBody(req) {
		if req.ContentLength <= 0 || req.ContentLength > h1MaxBody {
			return false // chunked, or too large to write before reading
		}
		if _, ok := req.Header["Expect"]; ok {
			return false // 100-continue: net/http's Transport waits for it
		}
	}
	if req.Method == http.MethodConnect {
		return false
	}
	// The ReverseProxy keeps Upgrade only for upgrade requests.
	_, up := req.Header["Upgrade"]
	return !up
}

// HasBody says whether req has a body to send (not nil, not http.NoBody).
func HasBody(req *http.Request) bool { return req.Body != nil && req.Body != http.NoBody }

// idempotent says whether req may be sent twice, as net/http's Transport
// decides it: safe methods and PUT/DELETE are not enough for it, so
// neither are they here.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// Informer receives informational (1xx) responses.
type Informer interface {
	// Informational is given each interim response's code and header;
	// an error ends the exchange with it.
	Informational(code int, h http.Header) error
}

// MaxInformational bounds the 1xx responses read before the final one.
const MaxInformational = 10

// ErrResponseHeaderTimeout is the cause of an exchange whose endpoint
// sent no complete response head within the head timeout (RoundTrip's
// headTimeout; net/http's transports in internal/proxy use it too).
var ErrResponseHeaderTimeout = errors.New("response head timeout")

// ErrTooManyInformational is an endpoint's answer of more than
// MaxInformational interim (1xx) responses.
var ErrTooManyInformational = fmt.Errorf("endpoint sent more than %d informational (1xx) responses", MaxInformational)

// roundTrip sends req to addr under ctx (req's own context is not read)
// and returns its response, whose body must
// be read to its end or closed. written reports whether the request head
// may have reached a server.
//
// Informational (1xx) responses go to info when it is not nil, and else
// to the client trace in ctx, if any. headTimeout, if positive, bounds
// the wait for the response head once the request is written; its
// expiry is an error that wraps ErrResponseHeaderTimeout.
func (c *Client) RoundTrip(ctx context.Context, req *http.Request, addr string, info Informer, headTimeout time.Duration) (*http.Response, bool, error) {
	h := c.host(addr)
	for {
		pc, err := h.get(ctx)
		if err != nil {
			return nil, false, err
		}
		resp, written, err := pc.roundTrip(ctx, req, info, headTimeout)
		if err == nil {
			return resp, true, nil
		}
		pc.close()
		if pc.reused && pc.nread == 0 && retry.ConnectionLost(err) && ctx.Err() == nil && !HasBody(req) && (!written || idempotent(req)) {
			// A kept-alive connection the server closed while it sat in
			// the pool, found out on the first read: the server saw
			// nothing it answered. Try the next one, or a new one; a new
			// connection is never reused, so this ends. (A body cannot be
			// sent again from here: the attempt loop decides that.)
			continue
		}
		return nil, written, err
	}
}

func (c *Client) host(addr string) *h1Host {
	if v, ok := c.hosts.Load(addr); ok {
		return v.(*h1Host)
	}
	v, _ := c.hosts.LoadOrStore(addr, &h1Host{c: c, addr: addr})
	return v.(*h1Host)
}

// closeIdle closes every idle connection.
func (c *Client) CloseIdle() {
	c.hosts.Range(func(_, v any) bool {
		h := v.(*h1Host)
		h.mu.Lock()
		for i, pc := range h.idle {
			_ = pc.nc.Close()
			h.idle[i] = nil
		}
		h.idle = h.idle[:0]
		h.mu.Unlock()
		return true
	})
}

// h1Host is the idle connections to one endpoint, newest last.
type h1Host struct {
	c     *Client
	addr  string
	mu    sync.Mutex
	idle  []*h1Conn
	sweep *time.Timer // set while idle connections exist
}

// get returns an idle connection, or dials one. An idle connection is
// used only if nothing arrived on it while it was idle: a close by the
// server, or bytes no request asked for (an origin that sent more than
// its framing said). Those bytes would otherwise be read as the answer to
// the next request, and every later answer on the connection would go to
// the caller after the one it belongs to; net/http's Transport closes
// such a connection too ("Unsolicited response received on idle HTTP
// channel").
func (h *h1Host) get(ctx context.Context) (*h1Conn, error) {
	h.mu.Lock()
	for n := len(h.idle); n > 0; n = len(h.idle) {
		pc := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		if time.Since(pc.idleAt) < h.c.idleTimeout {
			h.mu.Unlock()
			if !pc.live.check() {
				_ = pc.nc.Close()
				h.mu.Lock()
				continue
			}
			pc.reused = true
			return pc, nil
		}
		_ = pc.nc.Close()
	}
	h.mu.Unlock()
	nc, err := h.c.dial(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{host: h, nc: nc}
	pc.unblock = func() { _ = pc.nc.SetDeadline(aLongTimeAgo) }
	pc.live.init(nc)
	pc.br = bufio.NewReaderSize(pc, 4<<10)
	pc.bw = bufio.NewWriterSize(nc, 4<<10)
	return pc, nil
}

// put pools a connection whose exchange ended cleanly, unless its reader
// holds bytes past the end of the response: those answer no request, and
// the connection's framing can no longer be trusted.
func (h *h1Host) put(pc *h1Conn) {
	if pc.br.Buffered() > 0 {
		_ = pc.nc.Close()
		return
	}
	pc.idleAt = time.Now()
	h.mu.Lock()
	if len(h.idle) >= h.c.maxIdle {
		h.mu.Unlock()
		_ = pc.nc.Close()
		return
	}
	h.idle = append(h.idle, pc)
	if h.sweep == nil {
		h.sweep = time.AfterFunc(h.c.idleTimeout, h.sweepIdle)
	}
	h.mu.Unlock()
}

// sweepIdle closes connections idle for IdleConnTimeout and runs again
// when the oldest left would expire.
func (h *h1Host) sweepIdle() {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := h.idle[:0]
	for _, pc := range h.idle {
		if now.Sub(pc.idleAt) >= h.c.idleTimeout {
			_ = pc.nc.Close()
		} else {
			keep = append(keep, pc)
		}
	}
	clear(h.idle[len(keep):])
	h.idle = keep
	if len(keep) == 0 {
		h.sweep = nil
		// Forget the endpoint, so that endpoints that come and go (a
		// discovery refresh) do not pile up. A request holding h may
		// still pool a connection in it; its own sweep closes it.
		h.c.hosts.CompareAndDelete(h.addr, h)
		return
	}
	h.sweep.Reset(keep[0].idleAt.Add(h.c.idleTimeout).Sub(now))
}

// h1Conn is one keep-alive connection to an endpoint. Its bufio.Reader
// reads through it (Read), which enforces the response header limit; its
// parser reads the responses from that reader (resp.go).
type h1Conn struct {
	host  *h1Host
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	limit int64 // bytes Read may still return
	nread int64 // bytes read for the current exchange
	// wroteAny says whether a Flush of the current request's body went
	// through before the last write error.
	wroteAny bool
	idleAt   time.Time
	// rdl is the read deadline set on nc (zero: none): the response head
	// deadline is left in place after a response read whole from the
	// buffer, and not set again while it is recent enough (armHead).
	rdl    time.Time
	reused bool
	rerr   error    // the last read error
	live   liveness // checks the connection before each reuse
	parser respParser
	// unblock makes blocked reads and writes return: the exchange's
	// context watch, made once per connection rather than per request.
	unblock func()
}

var errHeadersTooLarge = errors.New("response headers are over the proxy's limit for an endpoint's response head")

func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	n, err := pc.nc.Read(p)
	pc.limit -= int64(n)
	pc.nread += int64(n)
	if err != nil {
		pc.rerr = err
	}
	return n, err
}

func (pc *h1Conn) close() { _ = pc.nc.Close() }

// aLongTimeAgo is a deadline that has passed: setting it makes blocked
// reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip makes one exchange on pc. On error the caller closes pc.
func (pc *h1Conn) roundTrip(ctx context.Context, req *http.Request, info Informer, headTimeout time.Duration) (*http.Response, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	// The request's end — the caller gone, a deadline, an attempt timeout
	// — unblocks the connection; the error is then the context's.
	stop := watchCtx(ctx, pc.unblock)
	pc.nread, pc.wroteAny = 0, false
	if err := writeHead(pc.bw, req); err != nil {
		// A head cut short by a bad field, even one that partly went out,
		// ends without its blank line: no server can have acted on it.
		pc.bw.Reset(pc.nc)
		return nil, false, stopFailed(ctx, stop, err)
	}
	if HasBody(req) {
		// The head goes out before any read of the body that may wait, as
		// net/http's Transport sends it first, so that the endpoint sees
		// the request while a slow body still arrives (and a stalled or
		// abandoned one is seen cut short). A body that is there already
		// goes with it in one write.
		if err := pc.writeBody(req); err != nil {
			var be *bodyReadError
			if errors.As(err, &be) {
				// The caller's body failed: its error, unwrapped, says why.
				return nil, true, stopFailed(ctx, stop, be.err)
			}
			// The endpoint may have answered early and closed (413, 401):
			// net/http's Transport returns that answer, and so do we.
			if resp, rerr := pc.readEarlyResponse(ctx, req); rerr == nil {
				return pc.finish(resp, req, stop, false)
			}
			return nil, pc.wroteAny, stopFailed(ctx, stop, err)
		}
	}
	n0 := pc.bw.Buffered()
	if err := pc.bw.Flush(); err != nil {
		// A head the server did not get in full cannot have been acted on.
		written := pc.wroteAny || pc.bw.Buffered() != n0
		return nil, written, stopFailed(ctx, stop, err)
	}

	pc.limit = pc.host.c.maxHeader
	if headTimeout > 0 {
		pc.armHead(headTimeout)
	} else if !pc.rdl.IsZero() {
		// A head deadline an earlier exchange left: this one has none.
		pc.setReadDeadline(time.Time{})
	}
	var resp *http.Response
	for i := 0; ; i++ {
		var err error
		resp, err = pc.parser.readResponse(pc.br, req)
		if err != nil {
			// (The reader returns the read's own error, but a timeout
			// is recognised by the last read error in any case.)
			if headTimeout > 0 && errors.Is(pc.rerr, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("%w (%s): %v", ErrResponseHeaderTimeout, headTimeout, err)
			}
			return nil, true, stopFailed(ctx, stop, err)
		}
		code := resp.StatusCode
		if err := CheckStatus(code); err != nil {
			return nil, true, stopFailed(ctx, stop, err)
		}
		if code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		if i >= MaxInformational {
			return nil, true, stopFailed(ctx, stop, ErrTooManyInformational)
		}
		if info != nil {
			if err := info.Informational(code, resp.Header); err != nil {
				return nil, true, stopFailed(ctx, stop, err)
			}
		} else if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, true, stopFailed(ctx, stop, err)
			}
		}
	}
	pc.limit = math.MaxInt64
	if headTimeout > 0 && !pc.bodyBuffered(resp) {
		// The body may take longer than the head: no deadline for it.
		pc.setReadDeadline(time.Time{})
		if ctx.Err() != nil {
			// The context's watch may have set its deadline just before
			// the line above cleared it: set it again.
			_ = pc.nc.SetDeadline(aLongTimeAgo)
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, true, stopFailed(ctx, stop, errors.New("endpoint switched protocols without an upgrade request"))
	}
	return pc.finish(resp, req, stop, true)
}

// ErrBadStatus is an endpoint's status code outside 100–599.
var ErrBadStatus = errors.New("endpoint sent a status code outside 100-599")

// CheckStatus refuses a status code outside 100–599, as Envoy does:
// RFC 9110 §15 defines no others, and net/http's ResponseWriter panics on
// a code below 100.
func CheckStatus(code int) error {
	if code < 100 || code > 599 {
		return fmt.Errorf("%w: %d", ErrBadStatus, code)
	}
	return nil
}

// finish hands resp out with its body tied to pc; reuse says whether the
// connection may be pooled once the body ends.
func (pc *h1Conn) finish(resp *http.Response, req *http.Request, stop ctxWatch, reuse bool) (*http.Response, bool, error) {
	reuse = reuse && !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		if stop.end() && reuse {
			pc.host.put(pc)
		} else {
			pc.close()
		}
		return resp, true, nil
	}
	// The body is the parser's (respBody), which holds the connection
	// until the body's end.
	b := resp.Body.(*respBody)
	b.pc, b.stop, b.reuse = pc, stop, reuse
	return resp, true, nil
}

// bodyReadError is a failure to read the caller's body while writing it.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// errBodyShort is a request body that ended before its Content-Length.
var errBodyShort = errors.New("request body is shorter than its Content-Length")

// writeBody writes req's body, of req.ContentLength bytes, after the
// head. Reading errors come back as *bodyReadError.
func (pc *h1Conn) writeBody(req *http.Request) error {
	left := req.ContentLength
	for left > 0 {
		if pc.bw.Available() == 0 || pc.bw.Buffered() > 0 && !ready.Now(req.Body) {
			// Full, or the next read may wait: what is written goes now.
			n0 := pc.bw.Buffered()
			err := pc.bw.Flush()
			if pc.bw.Buffered() != n0 {
				pc.wroteAny = true
			}
			if err != nil {
				return err
			}
		}
		buf := pc.bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), left)]
		n, err := req.Body.Read(buf)
		if n > 0 {
			_, _ = pc.bw.Write(buf[:n])
			left -= int64(n)
		}
		if err == io.EOF && left > 0 {
			return &bodyReadError{err: errBodyShort}
		}
		if err != nil && err != io.EOF {
			return &bodyReadError{err: err}
		}
		if err == io.EOF {
			break
		}
	}
	return nil
}

// setReadDeadline sets nc's read deadline and remembers it.
func (pc *h1Conn) setReadDeadline(t time.Time) {
	_ = pc.nc.SetReadDeadline(t)
	pc.rdl = t
}

// armHead sets the response head deadline, d from now, unless the one
// set already ends no more than d/8 before that (it was set for a recent
// exchange on this connection): a deadline costs a timer update, and a
// kept-alive connection's exchanges come far more often. The head timeout
// is thus between 7/8 of d and d.
func (pc *h1Conn) armHead(d time.Duration) {
	now := time.Now()
	want := now.Add(d)
	if pc.rdl.After(now) && !pc.rdl.Before(want.Add(-d/8)) && !pc.rdl.After(want) {
		return
	}
	pc.setReadDeadline(want)
}

// bodyBuffered says whether resp's body, if any, is all in the reader's
// buffer already, so that reading it never reads the connection.
func (pc *h1Conn) bodyBuffered(resp *http.Response) bool {
	if resp.Body == http.NoBody {
		return true
	}
	return resp.ContentLength >= 0 && int64(pc.br.Buffered()) >= resp.ContentLength
}

// readEarlyResponse reads a response the endpoint sent before it stopped
// reading the request, waiting at most a moment for it.
func (pc *h1Conn) readEarlyResponse(ctx context.Context, req *http.Request) (*http.Response, error) {
	pc.setReadDeadline(time.Now().Add(50 * time.Millisecond))
	pc.limit = pc.host.c.maxHeader
	resp, err := pc.parser.readResponse(pc.br, req)
	pc.limit = math.MaxInt64
	if err != nil {
		return nil, err
	}
	pc.setReadDeadline(time.Time{})
	if err := ctx.Err(); err != nil {
		return nil, err // the deadline just cleared may have been the context's
	}
	if err := CheckStatus(resp.StatusCode); err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 {
		return nil, errors.New("informational response to a request not sent in full")
	}
	return resp, nil
}

// stopFailed stops the exchange's context watch and returns err, or the
// context's error when the watch had already fired (the deadline it set
// is what failed).
func stopFailed(ctx context.Context, stop ctxWatch, err error) error {
	if !stop.end() {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (%v)", cerr, err)
		}
	}
	return err
}

// writeHead writes req's head in HTTP/1.1 form, as net/http's Transport
// would, refusing what it refuses. A body has its Content-Length.
func writeHead(w *bufio.Writer, req *http.Request) error {
	uri := req.URL.RequestURI()
	if strings.ContainsAny(uri, "\x00\r\n\t ") {
		return errors.New("net/http: can't write control character in Request.URL")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return errors.New("http: invalid Host header")
	}
	_, _ = w.WriteString(req.Method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(uri)
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(host)
	_, _ = w.WriteString("\r\n")
	// Fields are checked as they are written, in one pass over the map:
	// on a bad one the head is left unfinished, and the caller resets the
	// writer and closes the connection (a part that overflowed the buffer
	// is a head no server can take for a request).
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue
		case "User-Agent":
			// As net/http: the first value, and none when it is empty
			// (the ReverseProxy sets "" to send none).
			if len(vv) > 0 && vv[0] != "" {
				writeField(w, k, vv[0])
			}
			continue
		}
		for _, v := range vv {
			writeField(w, k, v)
		}
	}
	if HasBody(req) || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		// As net/http: a length for a body, and 0 for the methods that
		// usually have one.
		n := req.ContentLength
		if !HasBody(req) {
			n = 0
		}
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), n, 10))
		_, _ = w.WriteString("\r\n")
	}
	if req.Close {
		_, _ = w.WriteString("Connection: close\r\n")
	}
	_, err := w.WriteString("\r\n")
	return err
}

func writeField(w *bufio.Writer, k, v string) {
	_, _ = w.WriteString(k)
	_, _ = w.WriteString(": ")
	_, _ = w.WriteString(textproto.TrimString(v))
	_, _ = w.WriteString("\r\n")
}

// cancelHooker is a context with one synchronous on-end hook: the request
// context of slinkerd's own servers (internal/reqctx). Setting it costs no
// allocation, where context.AfterFunc costs several.
type cancelHooker interface {
	// SetCancelHook sets f to run when the context ends; false means it
	// ended already or has a hook.
	SetCancelHook(f func()) bool
	// ClearCancelHook removes the hook; false means it ran.
	ClearCancelHook() bool
}

// ctxWatch ties an exchange to its context's end: the context's own
// hook when it has a free one, else context.AfterFunc.
type ctxWatch struct {
	hook cancelHooker
	stop func() bool
}

// watchCtx runs f when ctx ends, until the watch ends.
func watchCtx(ctx context.Context, f func()) ctxWatch {
	if h, ok := ctx.(cancelHooker); ok && h.SetCancelHook(f) {
		return ctxWatch{hook: h}
	}
	return ctxWatch{stop: context.AfterFunc(ctx, f)}
}

// end stops the watch. It reports whether that kept f from running.
func (w ctxWatch) end() bool {
	if w.hook != nil {
		return w.hook.ClearCancelHook()
	}
	return w.stop()
}
