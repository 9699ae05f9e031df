package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
)

// The chunked body reader, with the limits of net/http's chunked reader
// (net/http/internal/chunked.go) and of internal/proxy's framing guard:
//
//   - a chunk line ends in CRLF and has no other CR (RFC 9112 §7.1,
//     erratum 7633); with its CRLF it fits in 4096 bytes (net/http's
//     4 KiB read buffer);
//   - a chunk size is 1 to 16 hex digits; an extension after ';' is
//     skipped, white space before it trimmed, as net/http does;
//   - chunk data is followed by CRLF;
//   - non-data (chunk lines and extensions beyond 16 bytes a chunk plus
//     twice the data) over 16 KiB is refused, with net/http's arithmetic;
//   - the trailer, its final empty line included, fits in 4 KiB; each of
//     its lines ends in CRLF, is a token, a colon and a value without
//     control characters other than HTAB, and obs-fold is refused.
//
// Stricter than net/http, which still accepts these: a bare-LF trailer
// line, and a space in a trailer field name.

// Chunked-body limits.
const (
	maxChunkLine   = 4096 // a chunk line with its CRLF
	maxChunkExcess = 16 << 10
	maxTrailer     = 4 << 10 // the whole trailer with its final CRLF
)

// The chunked-body refusals. Their Status is what to answer if no
// response has started; the connection must be closed in any case.
var (
	errChunkCRLF     = &Error{400, "chunk data not followed by CRLF"}
	errChunkLineEnd  = &Error{400, "chunk line not ended by CRLF, or with a CR inside"}
	errChunkLineLong = &Error{400, "chunk line of 4 KiB or more"}
	errChunkSize     = &Error{400, "chunk size not 1 to 16 hex digits"}
	errChunkExcess   = &Error{400, "chunked encoding with too much non-data"}
	errTrailerLine   = &Error{400, "malformed trailer line"}
	errTrailerFold   = &Error{400, "obs-fold in the trailer of a chunked body"}
	errTrailerLong   = &Error{400, "trailer over 4 KiB"}
	errNotReset      = errors.New("h1: ChunkedReader used before Reset")
)

// ChunkedReader states.
const (
	chSize    = iota // before a chunk line
	chData           // in chunk data: left bytes remain
	chCRLF           // before the CRLF after chunk data
	chTrailer        // before a trailer line
)

// ChunkedReader decodes a chunked body from a *bufio.Reader, strictly.
// After the last chunk it reads and checks the trailer (its fields go to
// the Trailer given to Reset, canonical keys, if non-nil) and returns
// io.EOF. A framing error is an *Error and is sticky; a body cut short is
// io.ErrUnexpectedEOF. The zero value must be Reset before use; Reset
// makes it reusable, and Read allocates nothing (trailer fields aside).
// The bufio.Reader must have a buffer of at least 4096 bytes (the
// default size), or long chunk lines and trailers are refused early.
type ChunkedReader struct {
	r       *bufio.Reader
	trailer http.Header
	state   int
	left    uint64 // bytes of chunk data to read
	excess  int64  // net/http's count of non-data bytes
	tsize   int    // trailer bytes read
	err     error
}

// Reset makes c read a new chunked body from r, putting trailer fields in
// trailer if it is non-nil.
func (c *ChunkedReader) Reset(r *bufio.Reader, trailer http.Header) {
	*c = ChunkedReader{r: r, trailer: trailer}
}

// Read reads body data into p. It reads from the connection at most once
// a call for data, and goes on past a chunk's end only as far as the
// bytes already buffered allow, so that it does not block with data in
// hand; it returns io.EOF with the last data when the whole end of the
// body was buffered.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, errNotReset
	}
	n := 0
	for c.err == nil {
		switch c.state {
		case chSize:
			if n > 0 && !c.lineBuffered() {
				return n, nil
			}
			c.readChunkLine()
		case chData:
			if n > 0 || len(p) == 0 {
				return n, nil
			}
			q := p
			if uint64(len(q)) > c.left {
				q = q[:c.left]
			}
			m, err := c.r.Read(q)
			n += m
			c.left -= uint64(m)
			if c.left == 0 {
				c.state = chCRLF
			}
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				c.err = err
			}
		case chCRLF:
			if n > 0 && c.r.Buffered() < 2 {
				return n, nil
			}
			c.readCRLF()
		case chTrailer:
			if n > 0 && !c.lineBuffered() {
				return n, nil
			}
			c.readTrailerLine()
		}
	}
	return n, c.err
}

// Ready reports whether a Read would return without reading the
// connection: what it returns (data, the body's end with the whole
// trailer, an error) is in the read buffer already. It follows Read's
// steps over the buffered bytes and answers false when unsure.
func (c *ChunkedReader) Ready() bool {
	if c.r == nil || c.err != nil {
		return true
	}
	buf, _ := c.r.Peek(c.r.Buffered())
	state := c.state
	for {
		switch state {
		case chData:
			return len(buf) > 0
		case chCRLF:
			if len(buf) < 2 {
				return false
			}
			if buf[0] != '\r' || buf[1] != '\n' {
				return true // refused at once
			}
			buf, state = buf[2:], chSize
		case chSize:
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				return false
			}
			if i == 0 || buf[i-1] != '\r' {
				return true // refused at once
			}
			n, ok := chunkSize(buf[:i-1])
			if !ok {
				return true // refused at once
			}
			buf, state = buf[i+1:], chData
			if n == 0 {
				state = chTrailer
			}
		case chTrailer:
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				return false
			}
			if i == 1 && buf[0] == '\r' {
				return true // the end
			}
			buf = buf[i+1:]
		}
	}
}

// lineBuffered says whether a whole line is in the read buffer.
func (c *ChunkedReader) lineBuffered() bool {
	b, _ := c.r.Peek(c.r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// readLine reads one line, CRLF included; a line longer than max is
// errLong.
func (c *ChunkedReader) readLine(max int, errLong error) []byte {
	line, err := c.r.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		c.err = errLong
		return nil
	case err == io.EOF:
		c.err = io.ErrUnexpectedEOF
		return nil
	case err != nil:
		c.err = err
		return nil
	case len(line) > max:
		c.err = errLong
		return nil
	}
	// RFC 9112 §7.1: CRLF, and no other CR.
	if i := bytes.IndexByte(line, '\r'); i < 0 || i != len(line)-2 {
		c.err = errChunkLineEnd
		if c.state == chTrailer {
			c.err = errTrailerLine
		}
		return nil
	}
	return line[:len(line)-2]
}

func (c *ChunkedReader) readChunkLine() {
	line := c.readLine(maxChunkLine, errChunkLineLong)
	if c.err != nil {
		return
	}
	c.excess += int64(len(line)) + 2
	n, ok := chunkSize(line)
	if !ok {
		c.err = errChunkSize
		return
	}
	// net/http's arithmetic, overflow included; it does not check the
	// last chunk's line.
	c.excess = max(c.excess-(16+2*int64(n)), 0)
	if c.excess > maxChunkExcess && n != 0 {
		c.err = errChunkExcess
		return
	}
	if n == 0 {
		c.state = chTrailer
		return
	}
	c.state, c.left = chData, n
}

// chunkSize parses a chunk line without its CRLF: white space at its end
// trimmed, an extension after ';' skipped, as net/http does.
func chunkSize(line []byte) (uint64, bool) {
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	return ParseChunkSize(line)
}

func (c *ChunkedReader) readCRLF() {
	b, err := c.r.Peek(2)
	if len(b) == 2 && b[0] == '\r' && b[1] == '\n' {
		c.r.Discard(2)
		c.state = chSize
		return
	}
	switch {
	case len(b) == 2 || len(b) == 1 && b[0] != '\r':
		c.err = errChunkCRLF
	case err == io.EOF:
		c.err = io.ErrUnexpectedEOF
	default:
		c.err = err
	}
}

func (c *ChunkedReader) readTrailerLine() {
	line := c.readLine(maxTrailer-c.tsize, errTrailerLong)
	if c.err != nil {
		return
	}
	c.tsize += len(line) + 2
	if len(line) == 0 {
		c.err = io.EOF
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		c.err = errTrailerFold
		return
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		c.err = errTrailerLine
		return
	}
	for _, ch := range line[:colon] {
		if !isTokenByte(ch) {
			c.err = errTrailerLine
			return
		}
	}
	for _, ch := range line[colon+1:] {
		if ch < 0x20 && ch != '\t' || ch == 0x7f {
			c.err = errTrailerLine
			return
		}
	}
	if c.trailer != nil {
		s := string(line)
		key, _ := canonicalKey(s[:colon])
		c.trailer[key] = append(c.trailer[key], trimOWS(s[colon+1:]))
	}
}

// ParseChunkSize parses a chunk size as net/http does: 1 to 16 hex
// digits, nothing else. internal/proxy's framing guards use it too.
func ParseChunkSize(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}

var _ io.Reader = (*ChunkedReader)(nil)
