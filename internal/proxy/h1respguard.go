package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/slinkerd/slinkerd/internal/h1"
	"github.com/slinkerd/slinkerd/internal/h1client"
)

// net/http's HTTP/1.1 Transport hands a connection to a request waiting
// for one as soon as the previous response ends (a response without a
// body, or a body read to its end), without looking at what its reader
// holds beyond that end. When an origin sends more than its framing says
// (a body on a 204, 304 or HEAD answer, more bytes than Content-Length,
// bytes after the last chunk), the waiting request's response is read
// from those bytes: one caller gets an answer meant for another. Only a
// connection that nobody is waiting for is checked ("Unsolicited response
// received on idle HTTP channel").
//
// respGuardConn closes that gap under the Transport. It learns each
// request's method from the request lines the Transport writes, follows
// the response framing on the read side (RFC 9112 §6.3, as net/http reads
// it), and never lets a Read return a byte past the end of the final
// response to the last request written. Bytes beyond that end are
// unsolicited: the Read returns the bytes up to the end, and every later
// Read fails, so the Transport closes the connection and a request handed
// that connection gets an error, never the bytes. A response stream the
// guard cannot follow fails the same way. Bytes the origin sends on an
// idle connection are caught when the next request is written, even if
// the Transport's reader has not looked at them yet: the kernel's count
// of bytes received is checked against the bytes read (Linux), and a
// read that ends exactly at a response's end peeks for more. A request
// on such a connection is not written; the Transport sends it again on
// another. After a 101 that net/http takes as a protocol switch, the
// guard passes everything through.

// errOriginFraming is the read error of a guarded upstream connection:
// the origin sent bytes that no request asked for, or a response whose
// framing the guard cannot follow. The Transport closes the connection.
type errOriginFraming struct {
	msg   string
	cause error // what the framer refused, when it has a sentinel
}

func (e *errOriginFraming) Error() string { return "upstream connection: " + e.msg }

func (e *errOriginFraming) Unwrap() error { return e.cause }

// Response framer states.
const (
	rsIdle      = iota // between responses: a status line, if a request awaits one
	rsStatus           // in a status line
	rsHeader           // in a header line
	rsBody             // remain bytes of a Content-Length body
	rsChunkSize        // in a chunk-size line
	rsChunkData        // remain bytes of chunk data
	rsChunkEnd         // the CRLF after chunk data: remain bytes of it left
	rsTrailer          // in a trailer line
	rsClose            // a body delimited by the close: everything belongs
	rsPass             // switched protocols: not following any more
)

// respLineKeep is how much of a line the framer keeps: enough for a status
// line's version and code and for the header fields that frame a body.
const respLineKeep = 256

// methodKeep is how much of a request's method is kept for error
// messages. Only the method: the error may reach a caller other than the
// one who sent the request (the one handed the connection next), and a
// target can carry another caller's data.
const methodKeep = 16

// sentReq is what the response framer knows of a request written.
type sentReq struct {
	head   bool // a HEAD request: its response has no body
	n      int
	method [methodKeep]byte
}

func (r *sentReq) String() string { return string(r.method[:r.n]) }

// respFramer follows the HTTP/1.1 response framing of one connection, for
// the requests written on it, in order. With sent set it follows the
// other direction instead: the requests written, which have the same
// framing but a request line and a body only by Content-Length or chunked
// (the guard's write side; net/http writes them, so it only follows).
type respFramer struct {
	maxHead int // the response head limit; a head beyond it plus headSlack is refused
	// sent, if set, makes this a request framer: it receives each request
	// line, before the rest of the request is fed.
	sent func(requestLine []byte)

	state  int
	q      []sentReq // requests written whose final response has not ended
	last   sentReq   // the request whose final response ended last
	lastOK bool      // last is set

	line   [respLineKeep]byte // the start of the current line, without its LF
	nline  int                // bytes kept in line
	trunc  bool               // the line is longer than line
	size   int                // bytes of the current head, chunk line or trailer
	remain uint64             // body or chunk bytes left; in rsChunkEnd, CRLF bytes
	excess int64              // net/http's chunked reader's count of non-data bytes
	badEnd bool               // the CRLF after chunk data has a wrong byte
	resp   respHead
	n1xx   int // interim responses to the oldest request
}

// respHead is what the framer keeps of a response head (on the write
// side, of a request head).
type respHead struct {
	http10  bool
	code    int
	fold    bool // an obs-fold that the framer refuses
	nCL     int
	cl      uint64
	nTE     int
	chunked bool
	upgrade bool // an Upgrade field with a value
	connUpg bool // Connection lists "upgrade"
	framing bool // the last field is one of those above
	nfield  int  // fields seen
}

// push records a request written on the connection.
func (f *respFramer) push(requestLine []byte) {
	var r sentReq
	method, _, _ := bytes.Cut(requestLine, []byte(" "))
	r.head = string(method) == "HEAD"
	r.n = copy(r.method[:], method)
	f.q = append(f.q, r)
}

// pop ends the final response to the oldest request.
func (f *respFramer) pop() {
	if f.sent != nil {
		f.state = rsIdle
		return
	}
	f.last, f.lastOK, f.n1xx = f.q[0], true, 0
	copy(f.q, f.q[1:])
	f.q = f.q[:len(f.q)-1]
	f.state = rsIdle
}

// boundary says whether the framer stands exactly at the end of the final
// response to the last request written: any further byte is unsolicited.
func (f *respFramer) boundary() bool { return f.state == rsIdle && len(f.q) == 0 }

func (f *respFramer) unsolicited() error {
	if !f.lastOK {
		return &errOriginFraming{msg: "unsolicited bytes on an idle connection: the connection is not reused"}
	}
	return &errOriginFraming{msg: fmt.Sprintf("unsolicited bytes after the response to a %s request: the connection is not reused", f.last.String())}
}

func (f *respFramer) fail(what string) *errOriginFraming {
	req := "no request"
	if len(f.q) > 0 {
		req = "a " + f.q[0].String() + " request"
	}
	return &errOriginFraming{msg: fmt.Sprintf("malformed response to %s: %s", req, what)}
}

// feed advances over b, which the connection has just read. It returns how
// many bytes of b may be delivered and, when the stream is not to be
// followed any further, the error every later read returns: bytes past
// the end of the final response to the last request written (delivered
// up to that end), or framing the framer cannot follow (nothing of b is
// delivered). After a protocol switch it delivers everything.
func (f *respFramer) feed(b []byte) (int, error) {
	i := 0
	for i < len(b) {
		switch f.state {
		case rsPass, rsClose:
			return len(b), nil
		case rsIdle:
			if f.sent != nil {
				f.state, f.size, f.resp = rsStatus, 0, respHead{}
				f.nline, f.trunc = 0, false
				break
			}
			if len(f.q) == 0 {
				return i, f.unsolicited()
			}
			f.state, f.size, f.resp = rsStatus, 0, respHead{}
			f.nline, f.trunc = 0, false
		case rsBody:
			n := min(f.remain, uint64(len(b)-i))
			f.remain -= n
			i += int(n)
			if f.remain == 0 {
				f.pop()
			}
		case rsChunkData:
			n := min(f.remain, uint64(len(b)-i))
			f.remain -= n
			i += int(n)
			if f.remain == 0 {
				f.state, f.remain, f.badEnd = rsChunkEnd, 2, false
			}
		case rsChunkEnd:
			last := chunkCRLF(b[i], &f.remain, &f.badEnd)
			i++
			if last {
				if f.badEnd {
					return 0, f.fail("chunk data not followed by CRLF")
				}
				f.state, f.size, f.nline, f.trunc = rsChunkSize, 0, 0, false
			}
		default: // a line
			j := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if j >= 0 {
				end = i + j
			}
			f.size += end - i
			if f.size > f.lineLimit() {
				return 0, f.fail(f.tooLong())
			}
			k := copy(f.line[f.nline:], b[i:end])
			f.nline += k
			f.trunc = f.trunc || k < end-i
			i = end
			if j < 0 {
				break
			}
			i++ // the LF
			f.size++
			if err := f.endLine(); err != nil {
				return 0, err
			}
			f.nline, f.trunc = 0, false
		}
	}
	return i, nil
}

func (f *respFramer) lineLimit() int {
	switch f.state {
	case rsChunkSize:
		return maxChunkLine
	case rsTrailer:
		return maxTrailer - 1
	}
	return f.maxHead + headSlack
}

func (f *respFramer) tooLong() string {
	switch f.state {
	case rsChunkSize:
		return "chunk line of 4 KiB or more"
	case rsTrailer:
		return "trailer over 4 KiB"
	}
	return "response head over the limit"
}

// endLine handles the complete line in f.line.
func (f *respFramer) endLine() error {
	full := f.line[:f.nline]
	crlf := len(full) > 0 && full[len(full)-1] == '\r' && !f.trunc
	line := full
	if crlf {
		line = full[:len(full)-1]
	}
	if f.state != rsChunkSize && bytes.IndexByte(line, '\r') >= 0 {
		return f.fail("CR inside a line")
	}
	switch f.state {
	case rsStatus:
		if f.sent != nil {
			f.state = rsHeader
			f.sent(line)
			return nil
		}
		return f.statusLine(line)
	case rsHeader:
		if len(line) == 0 && !f.trunc {
			return f.endHead()
		}
		return f.headerLine(line)
	case rsChunkSize:
		// RFC 9112 §7.1 (erratum 7633), as net/http: a chunk line ends in
		// CRLF and has no other CR.
		if f.trunc {
			if i := bytes.IndexByte(full, ';'); i >= 0 {
				line = full[:i]
			} else {
				return f.fail("chunk line not understood")
			}
		} else if !crlf || bytes.IndexByte(line, '\r') >= 0 {
			return f.fail("chunk line not ended by CRLF, or with a CR inside")
		}
		f.excess += int64(f.size) // the whole line, CRLF included
		line = bytes.TrimRight(line, " \t")
		if ext := bytes.IndexByte(line, ';'); ext >= 0 {
			line = line[:ext]
		}
		n, ok := h1.ParseChunkSize(line)
		if !ok {
			return f.fail("chunk size not 1 to 16 hex digits")
		}
		f.excess = max(f.excess-(16+2*int64(n)), 0)
		if f.excess > maxChunkExcess && n != 0 {
			return f.fail("chunked encoding with too much non-data")
		}
		if n == 0 {
			f.state, f.size = rsTrailer, 0
			return nil
		}
		f.state, f.remain = rsChunkData, n
	case rsTrailer:
		if f.trunc {
			return f.fail("trailer line too long")
		}
		if len(line) == 0 {
			f.pop()
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return f.fail("obs-fold in the trailer")
		}
		if !validTrailerLine(line) {
			return f.fail("malformed trailer line")
		}
	}
	return nil
}

// statusLine parses "HTTP/1.x SSS[ reason]". It is stricter than net/http
// (one space, a status code from 100 to 599), never looser.
func (f *respFramer) statusLine(line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(line[7] != '0' && line[7] != '1') || (len(line) > 12 && line[12] != ' ') {
		return f.fail("malformed status line")
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return f.fail("malformed status line")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return f.fail("status code outside 100-599")
	}
	f.resp.http10 = line[7] == '0'
	f.resp.code = code
	f.state = rsHeader
	return nil
}

// headerLine records the fields that frame the body.
func (f *respFramer) headerLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold: net/http joins the lines, as the direct path does.
		// A field that frames the body must not be continued.
		if f.resp.framing || f.resp.nfield == 0 {
			f.resp.fold = true
		}
		return nil
	}
	k, v, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return f.fail("header line without a colon")
	}
	v = bytes.Trim(v, " \t")
	f.resp.framing = true
	f.resp.nfield++
	switch {
	case asciiEqualFold(k, "content-length"):
		n, ok := parseDecimal(v)
		if !ok || f.trunc {
			return f.fail("invalid Content-Length")
		}
		if f.resp.nCL > 0 && n != f.resp.cl {
			return f.fail("Content-Length headers with different values")
		}
		f.resp.nCL++
		f.resp.cl = n
	case asciiEqualFold(k, "transfer-encoding"):
		f.resp.nTE++
		f.resp.chunked = !f.trunc && asciiEqualFold(v, "chunked")
	case asciiEqualFold(k, "upgrade"):
		f.resp.upgrade = f.resp.upgrade || len(v) > 0
	case asciiEqualFold(k, "connection"):
		// A truncated line may list "upgrade" beyond what is kept; not
		// seeing it only makes a switch fail, never follows one net/http
		// does not make.
		for tok := range bytes.SplitSeq(v, []byte(",")) {
			if asciiEqualFold(bytes.Trim(tok, " \t"), "upgrade") {
				f.resp.connUpg = true
			}
		}
	default:
		f.resp.framing = false
	}
	return nil
}

// parseDecimal parses a Content-Length value as net/http does: 1 to 18
// decimal digits (it fits 63 bits), nothing else.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// endHead decides how the response that the head starts ends, the way
// net/http reads it (net/http/transfer.go readTransfer).
func (f *respFramer) endHead() error {
	h := &f.resp
	if h.fold {
		return f.fail("obs-fold in a field that frames the body, or before any field")
	}
	f.size = 0
	if f.sent != nil {
		return f.endRequestHead()
	}
	switch {
	case h.code == 101 && h.upgrade && h.connUpg:
		// net/http gives the caller the connection: pass everything.
		f.pop()
		f.state = rsPass
		return nil
	case h.code/100 == 1 && h.code != 101:
		// An interim response; the final one follows. As many as
		// slinkerd's own client takes.
		if f.n1xx++; f.n1xx > h1client.MaxInformational {
			err := f.fail(h1client.ErrTooManyInformational.Error())
			err.cause = h1client.ErrTooManyInformational
			return err
		}
		f.state = rsIdle
		return nil
	case f.q[0].head || h.code/100 == 1 || h.code == 204 || h.code == 304:
		f.pop() // no body, whatever the head says
		return nil
	case h.nTE > 0 && !h.http10:
		// net/http ignores Transfer-Encoding in HTTP/1.0, and accepts
		// one, "chunked", which overrides Content-Length.
		if h.nTE != 1 || !h.chunked {
			return f.fail("unsupported Transfer-Encoding")
		}
		f.state, f.excess, f.nline, f.trunc = rsChunkSize, 0, 0, false
	case h.nCL > 0:
		if h.cl == 0 {
			f.pop()
			return nil
		}
		f.state, f.remain = rsBody, h.cl
	default:
		// No length: the body ends when the origin closes.
		f.q = f.q[:0]
		f.state = rsClose
	}
	return nil
}

// endRequestHead follows a request's body: chunked, by Content-Length, or
// none (RFC 9112 §6.3).
func (f *respFramer) endRequestHead() error {
	h := &f.resp
	switch {
	case h.nTE > 0:
		if h.nTE != 1 || !h.chunked {
			return f.fail("unsupported Transfer-Encoding in a request")
		}
		f.state, f.excess, f.nline, f.trunc = rsChunkSize, 0, 0, false
	case h.cl > 0:
		f.state, f.remain = rsBody, h.cl
	default:
		f.state = rsIdle
	}
	return nil
}

// respGuardConn is an upstream HTTP/1.1 connection whose read side never
// returns bytes past the end of the final response to the last request
// written on it.
type respGuardConn struct {
	net.Conn

	wmu     sync.Mutex // serialises Writes through wf
	wf      respFramer // follows the requests written
	wfailed bool       // wf stopped following; the read side fails

	passing atomic.Bool // switched protocols: reads and writes pass through

	mu   sync.Mutex   // guards rf, read, rcv and err
	rcv  *recvCounter // nil where the kernel cannot be asked
	rf   respFramer
	read uint64 // bytes read from the connection, all fed to rf
	err  error  // sticky: once set, every read (and write) fails
}

// newRespGuardConn wraps an upstream connection; maxHead is the response
// head limit (the Transport's MaxResponseHeaderBytes).
func newRespGuardConn(c net.Conn, maxHead int) *respGuardConn {
	g := &respGuardConn{Conn: c, rcv: newRecvCounter(c)}
	g.rf.maxHead = maxHead
	// Requests are written by net/http, whose heads are at most a few
	// KiB over what the caller sent; the request framer only has to
	// follow them.
	g.wf = respFramer{maxHead: 1 << 30, sent: g.sent}
	return g
}

// sent records a request line the Transport is writing. When the
// connection is idle (every response ended), it first checks that the
// origin has sent nothing since: net/http's readLoop may not have read
// those bytes yet, or may hold them without having handed them to Read,
// and the request would take them for its response. The kernel's count of
// bytes received, against the bytes read, tells either way.
func (c *respGuardConn) sent(requestLine []byte) {
	c.mu.Lock()
	if c.err == nil && c.rf.boundary() {
		if n, ok := c.rcv.received(); ok && n > c.read {
			c.err = c.rf.unsolicited()
		}
	}
	c.rf.push(requestLine)
	c.mu.Unlock()
}

// Write learns the requests written, in order, before they leave: a
// response can then never arrive before its request is known. On a
// connection that has failed it writes nothing: a request written on a
// pooled connection that the origin spoke on unasked is not sent, and the
// Transport sends it again on another connection (nothing was written).
func (c *respGuardConn) Write(p []byte) (int, error) {
	if c.passing.Load() {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	if !c.wfailed {
		if _, err := c.wf.feed(p); err != nil {
			c.wfailed = true
			c.mu.Lock()
			if c.err == nil {
				c.err = &errOriginFraming{msg: "request stream not followed: the connection is not reused"}
			}
			c.mu.Unlock()
		}
	}
	c.wmu.Unlock()
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Read delivers the response stream up to the end of the final response
// to the last request written.
func (c *respGuardConn) Read(p []byte) (int, error) {
	if c.passing.Load() {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, rerr := c.Conn.Read(p)
	if n == 0 {
		return 0, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read += uint64(n)
	if c.err != nil { // the write side gave up meanwhile
		return 0, c.err
	}
	at, ferr := c.rf.feed(p[:n])
	if c.rf.state == rsPass {
		c.passing.Store(true)
	}
	if ferr != nil {
		c.err = ferr
		if at > 0 {
			return at, nil
		}
		return 0, ferr
	}
	if n == len(p) && c.rf.boundary() && !h1client.ConnAlive(c.Conn) {
		// The read filled p and ended exactly at the boundary, as it does
		// when the Transport reads the rest of a Content-Length body: the
		// origin may have sent more that is still unread. Data there now,
		// before any next request, is unsolicited (a close is harmless,
		// but the connection is not reused either way).
		c.err = c.rf.unsolicited()
	}
	return n, rerr
}

// CloseWrite half-closes the connection, as on a bare *net.TCPConn.
func (c *respGuardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// guardDial wraps a dialer so that every connection it makes is guarded
// by a respGuardConn (cleartext HTTP/1.1 only: the h1 Transport).
func guardDial(dial func(ctx context.Context, network, addr string) (net.Conn, error), maxHead int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newRespGuardConn(c, int(min(maxHead, 1<<30))), nil
	}
}

var _ net.Conn = (*respGuardConn)(nil)
