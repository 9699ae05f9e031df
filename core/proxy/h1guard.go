package proxy

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
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
// a byte. On anything it does not follow (an upgraded connection, the h2c
// preface, framing so malformed that net/http refuses it and closes the
// connection) it stops looking and passes the rest of the connection
// through. TLS listeners are not guarded: net/http must see the *tls.Conn
// itself to negotiate HTTP/2.

// errFraming is the read error that makes net/http answer 400.
type errFraming struct{ msg string }

func (e *errFraming) Error() string { return "refused request head: " + e.msg }

var (
	errCLAndTE     = &errFraming{"both Content-Length and Transfer-Encoding"}
	errTEHTTP10    = &errFraming{"Transfer-Encoding in an HTTP/1.0 request"}
	errObsFold     = &errFraming{"obs-fold (a header line continued after white space)"}
	errCLConflict  = &errFraming{"Content-Length headers with different values"}
	errTrailerFold = &errFraming{"obs-fold in the trailer of a chunked body"}
)

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
	stChunkData        // remain bytes of chunk data, then CRLF
	stTrailer          // in a trailer line
	stPass             // not following any more
)

// Line limits beyond which net/http has certainly refused the message
// (and closed the connection): its header read limit plus what its 4 KiB
// read buffer may hold from before, and its 4 KiB chunk-line limit.
const (
	headSlack    = 16 << 10
	maxChunkLine = 8 << 10
	maxTrailer   = 16 << 10
)

// h1Framer follows the HTTP/1.x request framing of one connection.
type h1Framer struct {
	maxHead int // net/http's MaxHeaderBytes

	state  int
	line   []byte // the current line, without its LF
	size   int    // bytes of the current head, chunk line or trailer
	remain uint64 // body or chunk bytes still to skip (chunk data: +2 for CRLF)
	head   headInfo

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
// never sees the whole head.
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
				f.endChunkData()
			}
		default: // a line
			j := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if j >= 0 {
				end = i + j
			}
			f.size += end - i
			if f.size > f.lineLimit() {
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
			err := f.endLine(line)
			f.line = f.line[:0]
			if cap(f.line) > 4<<10 {
				f.line = nil // do not keep a large buffer for the connection's life
			}
			if err != nil {
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
		return maxTrailer
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
			// Not HTTP/1.x: an upgraded protocol, or garbage that
			// net/http refuses before closing the connection.
			f.state = stPass
			return nil
		}
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
		ext := bytes.IndexByte(line, ';')
		if ext >= 0 {
			line = line[:ext]
		}
		line = bytes.TrimRight(line, " \t")
		n, err := strconv.ParseUint(string(line), 16, 64)
		if err != nil || len(line) > 16 || n > 1<<62 {
			f.state = stPass // net/http fails the body and closes
			return nil
		}
		if n == 0 {
			f.state, f.size = stTrailer, 0
			return nil
		}
		f.state, f.remain = stChunkData, n+2
	case stTrailer:
		if len(line) == 0 {
			f.state = stStart
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errTrailerFold
		}
	}
	return nil
}

// endChunkData is reached after a chunk's data and the two bytes that
// must be its CRLF; net/http checks them, so the framer trusts them.
func (f *h1Framer) endChunkData() {
	f.state, f.size = stChunkSize, 0
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
		f.state = stChunkSize
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
