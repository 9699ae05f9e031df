package proxy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/slinkerd/slinkerd/internal/h1"
)

// net/http's HTTP/1.1 server normalises three kinds of request head that
// nginx and Envoy refuse, because a proxy that forwards them can disagree
// with another hop about where a request ends (request smuggling):
//
//   - Content-Length together with Transfer-Encoding (net/http drops
//     Content-Length and reads the body chunked);
//   - Transfer-Encoding on an HTTP/1.0 request (net/http ignores it);
//   - obs-fold, a header line continued on the next line after white
//     space (net/http joins the lines).
//
// By the time a Handler runs, the evidence is gone, so the check sits
// under the server. guardConn follows the request framing of a cleartext
// HTTP/1.x connection the way net/http reads it (request line, headers,
// then a Content-Length or chunked body), and fails the read that would
// deliver such a head: net/http answers "400 Bad Request", closes the
// connection, and the request is never forwarded. guardConn never changes
// a byte. On anything it does not follow (an upgraded connection, a head
// so malformed that net/http refuses it and closes the connection) it
// stops looking and passes the rest of the connection through. After the
// h2c preface it follows HTTP/2 frame headers, only to count the client's
// SETTINGS frames (maxPeerSettings). TLS listeners are not guarded:
// net/http must see the *tls.Conn itself to negotiate HTTP/2.
//
// A chunked body is checked as net/http's chunked reader checks it (chunk
// lines, the CRLF after each chunk's data, the trailer). A body that
// breaks its framing is delivered up to and including the bytes that
// break it, so that net/http finds the error itself, and every later read
// fails: nothing after a framing error is ever parsed as a request, even
// when net/http would go on (in full-duplex mode it does not close the
// connection after a corrupt chunked body; the handler side closes it
// too, see callerBody.settle).

// errFraming is the read error that makes net/http answer 400 (a head),
// that fails a request body and every read after it (body), or that ends
// an HTTP/2 connection (h2).
type errFraming struct {
	msg  string
	body bool
	h2   bool
}

func (e *errFraming) Error() string {
	switch {
	case e.body:
		return "refused request body: " + e.msg
	case e.h2:
		return "refused HTTP/2 connection: " + e.msg
	}
	return "refused request head: " + e.msg
}

var (
	errCLAndTE     = &errFraming{msg: "both Content-Length and Transfer-Encoding"}
	errTEHTTP10    = &errFraming{msg: "Transfer-Encoding in an HTTP/1.0 request"}
	errObsFold     = &errFraming{msg: "obs-fold (a header line continued after white space)"}
	errCLConflict  = &errFraming{msg: "Content-Length headers with different values"}
	errTrailerFold = &errFraming{msg: "obs-fold in the trailer of a chunked body", body: true}

	// What net/http's chunked reader refuses (net/http/internal/chunked.go).
	errChunkCRLF     = &errFraming{msg: "chunk data not followed by CRLF", body: true}
	errChunkLineEnd  = &errFraming{msg: "chunk line not ended by CRLF, or with a CR inside", body: true}
	errChunkLineLong = &errFraming{msg: "chunk line of 4 KiB or more", body: true}
	errChunkSize     = &errFraming{msg: "chunk size not 1 to 16 hex digits", body: true}
	errChunkExcess   = &errFraming{msg: "chunked encoding with too much non-data", body: true}
	errTrailerLine   = &errFraming{msg: "malformed trailer line", body: true}
	errTrailerLong   = &errFraming{msg: "trailer over 4 KiB", body: true}

	errSettingsFlood = &errFraming{msg: fmt.Sprintf("more than %d SETTINGS frames on one HTTP/2 connection (CVE-2019-9515)", maxPeerSettings), h2: true}
)

// maxPeerSettings caps the SETTINGS frames (ACKs aside) a client may send
// on one cleartext HTTP/2 connection. net/http's HTTP/2 server answers
// every one of them, folding the ACKs of those that arrive while it is
// writing into one, so a flood from a client that never reads costs no
// memory but keeps the connection busy for as long as the client
// pleases; whether it stops depends on TCP buffers and timing. Envoy caps
// the control frames it owes a peer (max_outbound_control_frames, 1000);
// this is the same bound on the one control frame net/http does not
// queue. Clients send one SETTINGS frame at the start and a few updates
// later (grpc-go's BDP estimator: a few dozen at most over a
// connection's life). Past the cap every read fails: net/http closes the
// connection.
const maxPeerSettings = 1000

// guardListener wraps each accepted connection in a guardConn.
type guardListener struct {
	net.Listener
	maxHead int
	log     *slog.Logger
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, f: h1Framer{maxHead: l.maxHead}, log: l.log}, nil
}

// guardConn is a connection whose read side is checked by an h1Framer.
type guardConn struct {
	net.Conn
	f   h1Framer
	err error // sticky: once a head is refused, every read fails
	log *slog.Logger
}

func (c *guardConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.f.state != stPass {
		if at, ferr := c.f.feed(p[:n]); ferr != nil {
			c.err = ferr
			if c.log != nil {
				c.log.Debug("refused a request", "remote", c.Conn.RemoteAddr().String(), "err", ferr.Error())
			}
			// Deliver what came before the refused head's headers; the
			// next read fails.
			if at > 0 {
				return at, nil
			}
			return 0, ferr
		}
	}
	return n, err
}

// CloseWrite lets net/http half-close the connection after an error
// response, as it does with a bare *net.TCPConn, so that the client reads
// the response instead of a reset.
func (c *guardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Framer states.
const (
	stStart     = iota // before a request line: skipping CR and LF
	stReqLine          // in the request line
	stHeader           // in a header line
	stBody             // remain bytes of a Content-Length body
	stChunkSize        // in a chunk-size line
	stChunkData        // remain bytes of chunk data
	stChunkEnd         // the CRLF after chunk data: remain bytes of it left
	stTrailer          // in a trailer line
	stH2Preface        // the last CRLF of the h2c preface: remain bytes of it left
	stH2Head           // in an HTTP/2 frame header
	stH2Payload        // remain bytes of an HTTP/2 frame payload
	stPass             // not following any more
)

// Limits. A head line beyond headSlack over the header limit has
// certainly been refused by net/http (and the connection closed): its
// header read limit plus what its 4 KiB read buffer may hold from before.
// The chunked reader's limits are exact: it refuses a chunk line of 4096
// bytes or more before its CRLF (maxChunkLine counts the CR), more than
// 16 KiB of chunk lines and extensions beyond 16 bytes a chunk plus twice
// the data (maxChunkExcess), and a trailer that does not end within its
// 4 KiB read buffer (maxTrailer).
const (
	headSlack      = 16 << 10
	maxChunkLine   = 4095
	maxChunkExcess = 16 << 10
	maxTrailer     = 4 << 10
)

// h1Framer follows the HTTP/1.x request framing of one connection.
type h1Framer struct {
	maxHead int // net/http's MaxHeaderBytes

	state  int
	line   []byte // the current line, without its LF
	size   int    // bytes of the current head, chunk line or trailer
	remain uint64 // body or chunk bytes still to skip; in stChunkEnd, CRLF bytes
	excess int64  // the chunked reader's count of non-data bytes
	badEnd bool   // the CRLF after chunk data has a wrong byte
	head   headInfo

	reqs     int     // request lines followed
	priFirst bool    // the first request was "PRI * HTTP/2.0": the h2c preface may follow
	h2hdr    [9]byte // the HTTP/2 frame header being read
	h2n      int     // bytes of h2hdr read
	settings int     // SETTINGS frames (ACKs aside) the client sent

	// seen, if set, receives each request line the framer follows (tests).
	seen func(requestLine []byte)
}

// headInfo is what the framer keeps of a request head.
type headInfo struct {
	http10   bool
	fold     bool
	nCL      int
	cl       string
	conflict bool
	nTE      int
	te       string
}

// feed advances over b. When b completes a head that must be refused it
// returns the error and how many bytes of b to deliver: up to the end of
// that head's request line (0 if it ended in an earlier read). net/http
// then reads the request line, fails on the headers and answers 400; it
// never sees the whole head. When b breaks the framing of a chunked body,
// it returns the error and how many bytes of b to deliver: up to and
// including those that break it, which net/http then refuses itself.
func (f *h1Framer) feed(b []byte) (int, error) {
	cut := 0 // where to cut b if the current head is refused
	i := 0
	for i < len(b) && f.state != stPass {
		switch f.state {
		case stStart:
			for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				i++
			}
			if i < len(b) {
				cut = i
				f.state, f.size, f.head = stReqLine, 0, headInfo{}
				f.line = f.line[:0]
			}
		case stBody:
			n := min(f.remain, uint64(len(b)-i))
			f.remain -= n
			i += int(n)
			if f.remain == 0 {
				f.state = stStart
			}
		case stChunkData:
			n := min(f.remain, uint64(len(b)-i))
			f.remain -= n
			i += int(n)
			if f.remain == 0 {
				f.state, f.remain, f.badEnd = stChunkEnd, 2, false
			}
		case stH2Preface:
			if b[i] != "\r\n"[2-f.remain] {
				f.state = stPass // net/http refuses it
				break
			}
			i++
			f.remain--
			if f.remain == 0 {
				f.state, f.h2n = stH2Head, 0
			}
		case stH2Head:
			n := copy(f.h2hdr[f.h2n:], b[i:])
			f.h2n += n
			i += n
			if f.h2n < len(f.h2hdr) {
				break
			}
			const typeSettings, flagAck = 0x4, 0x1
			if f.h2hdr[3] == typeSettings && f.h2hdr[4]&flagAck == 0 {
				f.settings++
				if f.settings > maxPeerSettings {
					return i, errSettingsFlood
				}
			}
			f.remain = uint64(f.h2hdr[0])<<16 | uint64(f.h2hdr[1])<<8 | uint64(f.h2hdr[2])
			f.state, f.h2n = stH2Payload, 0
			if f.remain == 0 {
				f.state = stH2Head
			}
		case stH2Payload:
			n := min(f.remain, uint64(len(b)-i))
			f.remain -= n
			i += int(n)
			if f.remain == 0 {
				f.state = stH2Head
			}
		case stChunkEnd:
			last := chunkCRLF(b[i], &f.remain, &f.badEnd)
			i++
			if last {
				if f.badEnd {
					return i, errChunkCRLF
				}
				f.state, f.size = stChunkSize, 0
			}
		default: // a line
			j := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if j >= 0 {
				end = i + j
			}
			f.size += end - i
			if f.size > f.lineLimit() {
				switch f.state {
				case stChunkSize:
					return end, errChunkLineLong
				case stTrailer:
					return end, errTrailerLong
				}
				f.state = stPass
				break
			}
			f.line = append(f.line, b[i:end]...)
			i = end
			if j < 0 {
				break
			}
			i++ // the LF
			f.size++
			if f.state == stReqLine {
				cut = i
			}
			line := bytes.TrimSuffix(f.line, []byte("\r"))
			var err error
			if f.state == stChunkSize && (len(line) == len(f.line) || bytes.IndexByte(line, '\r') >= 0) {
				// RFC 9112 §7.1 (erratum 7633), as net/http: a chunk line
				// ends in CRLF, and has no other CR.
				err = errChunkLineEnd
			} else {
				err = f.endLine(line)
			}
			f.line = f.line[:0]
			if cap(f.line) > 4<<10 {
				f.line = nil // do not keep a large buffer for the connection's life
			}
			if err != nil {
				if err.(*errFraming).body {
					return i, err
				}
				return cut, err
			}
		}
	}
	return 0, nil
}

func (f *h1Framer) lineLimit() int {
	switch f.state {
	case stChunkSize:
		return maxChunkLine
	case stTrailer:
		return maxTrailer - 1 // the whole trailer, its last LF included
	}
	return f.maxHead + headSlack
}

// endLine handles one complete line (CRLF or LF removed).
func (f *h1Framer) endLine(line []byte) error {
	switch f.state {
	case stReqLine:
		method, rest, ok1 := bytes.Cut(line, []byte(" "))
		target, proto, ok2 := bytes.Cut(rest, []byte(" "))
		major, minor, ok3 := http.ParseHTTPVersion(string(proto))
		// net/http serves "PRI * HTTP/2.0" as a request without a body
		// when it is not the start of the h2c preface; the "SM" line of a
		// real preface then stops the framer.
		pri := major == 2 && minor == 0 && string(method) == "PRI" && string(target) == "*"
		if !ok1 || !ok2 || !ok3 || (major != 1 && !pri) {
			if f.priFirst && f.reqs == 1 && string(line) == "SM" {
				// The h2c preface (RFC 9113 §3.4), which net/http serves
				// as HTTP/2 when it starts the connection: follow its
				// frames.
				f.state, f.remain = stH2Preface, 2
				return nil
			}
			// Not HTTP/1.x: an upgraded protocol, or garbage that
			// net/http refuses before closing the connection.
			f.state = stPass
			return nil
		}
		f.reqs++
		f.priFirst = pri && f.reqs == 1
		f.head.http10 = major == 1 && minor == 0
		f.state = stHeader
		if f.seen != nil {
			f.seen(line)
		}
	case stHeader:
		if len(line) == 0 {
			return f.endHead()
		}
		if line[0] == ' ' || line[0] == '\t' {
			f.head.fold = true
			return nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil // net/http refuses the head
		}
		switch {
		case asciiEqualFold(k, "content-length"):
			v := textproto.TrimString(string(v))
			if f.head.nCL > 0 && v != f.head.cl {
				f.head.conflict = true
			}
			if f.head.nCL == 0 {
				f.head.cl = v
			}
			f.head.nCL++
		case asciiEqualFold(k, "transfer-encoding"):
			f.head.nTE++
			f.head.te = textproto.TrimString(string(v))
		}
	case stChunkSize:
		// As net/http: white space is trimmed from the end of the line
		// before the extension is cut off, not after.
		f.excess += int64(len(line)) + 2
		line = bytes.TrimRight(line, " \t")
		if ext := bytes.IndexByte(line, ';'); ext >= 0 {
			line = line[:ext]
		}
		n, ok := h1.ParseChunkSize(line)
		if !ok {
			return errChunkSize
		}
		// The same arithmetic as net/http, overflow included; it does not
		// check the last chunk's line.
		f.excess = max(f.excess-(16+2*int64(n)), 0)
		if f.excess > maxChunkExcess && n != 0 {
			return errChunkExcess
		}
		if n == 0 {
			f.state, f.size = stTrailer, 0
			return nil
		}
		f.state, f.remain = stChunkData, n
	case stTrailer:
		if len(line) == 0 {
			f.state = stStart
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errTrailerFold
		}
		if !validTrailerLine(line) {
			return errTrailerLine
		}
	}
	return nil
}

// chunkCRLF takes c, one byte of the CRLF that must end a chunk's data,
// of which *left bytes were due, and says whether it was the last; *bad
// records a wrong byte, judged once both are read, as net/http reads
// them. The request and the response framers share it.
func chunkCRLF(c byte, left *uint64, bad *bool) bool {
	want := byte('\r')
	if *left == 1 {
		want = '\n'
	}
	*bad = *bad || c != want
	*left--
	return *left == 0
}

// validTrailerLine says whether net/http's MIME header reader accepts
// line (not a continuation) as a trailer field: a non-empty name of token
// characters (or spaces, which it tolerates before the colon), a colon,
// and a value without control characters other than tab.
func validTrailerLine(line []byte) bool {
	k, v, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c != ' ' && !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// endHead decides a complete head: refuse it, or follow its body the way
// net/http reads it.
func (f *h1Framer) endHead() error {
	h := &f.head
	switch {
	case h.fold:
		return errObsFold
	case h.nTE > 0 && h.http10:
		return errTEHTTP10
	case h.nTE > 0 && h.nCL > 0:
		return errCLAndTE
	case h.conflict:
		return errCLConflict
	}
	f.size = 0
	switch {
	case h.nTE > 0:
		if h.nTE != 1 || !asciiEqualFold([]byte(h.te), "chunked") {
			f.state = stPass // net/http answers 501 and closes
			return nil
		}
		f.state, f.excess = stChunkSize, 0
	case h.nCL > 0:
		n, err := strconv.ParseUint(h.cl, 10, 63)
		if err != nil {
			f.state = stPass // net/http answers 400 and closes
			return nil
		}
		f.state, f.remain = stBody, n
		if n == 0 {
			f.state = stStart
		}
	default:
		f.state = stStart // a request without either has no body
	}
	return nil
}

// asciiEqualFold reports whether b equals the lower-case ASCII s, ignoring
// ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

var _ interface{ CloseWrite() error } = (*guardConn)(nil)
