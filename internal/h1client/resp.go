package h1client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/slinkerd/slinkerd/internal/h1"

	"golang.org/x/net/http/httpguts"
)

// The direct client's reader of an endpoint's HTTP/1.x response: the head
// and the body framing, with the *http.Response semantics of net/http's
// http.ReadResponse (net/http/response.go and transfer.go, Go 1.26), in a
// handful of allocations instead of about ten: one string holding the
// head's bytes (the status, the header names and their values are slices
// of it), the header map, and one h1Resp, which holds the Response, its
// body reader and the backing array of the header values. The body reader
// allocates nothing per Read.
//
// It is never looser than net/http's reader, and stricter where RFC 9112
// lets a recipient refuse (each refusal answers 502):
//   - the status line is exactly "HTTP/1.0" or "HTTP/1.1", one space, three
//     digits, and nothing or a space and a reason without control
//     characters (net/http takes any HTTP/x.y, several spaces, a "+12");
//   - obs-fold (RFC 9112 §5.2: a proxy must replace it or refuse the
//     message) in a field that frames the body and in a trailer, as the
//     h1 Transport's guard refuses them (elsewhere it is joined, as
//     net/http joins it);
//   - a CR anywhere but before a line's LF;
//   - a trailer section whose lines do not all end in CRLF (net/http
//     needs a CRLF CRLF within its read buffer, and takes bare LF lines
//     before it).
// Like net/http it takes a bare LF as a head line's end (RFC 9112 §2.2),
// takes a space in a field name (before the colon, say) and leaves that
// name as it is (net/http's server then drops the field when it writes
// the answer; RFC 9112 §5.1 says a proxy must remove such white space),
// takes Transfer-Encoding: chunked over a Content-Length (dropping the
// Content-Length, RFC 9112 §6.3 rule 3), ignores Transfer-Encoding in an
// HTTP/1.0 response, and refuses Content-Length fields that differ.

// errMalformedResponse is an endpoint's response head or body framing
// that the direct client refuses.
var errMalformedResponse = errors.New("malformed HTTP response from endpoint")

// malformed returns an error wrapping errMalformedResponse that says what.
func malformed(what string) error { return fmt.Errorf("%w: %s", errMalformedResponse, what) }

// respValues is how many header values an h1Resp holds without another
// allocation: a typical response has fewer fields.
const respValues = 8

// h1Resp is one response read by a respParser: the Response, its body,
// and the header values' backing array, in one allocation.
type h1Resp struct {
	resp http.Response
	body respBody
	vals [respValues]string
	te   [1]string // TransferEncoding's backing array
}

// fieldSpan is one header field line in the parser's buffer.
type fieldSpan struct{ k0, k1, v0, v1 int }

// respParser reads response heads from a connection's reader. Its buffers
// are reused from one response to the next; nothing handed out refers to
// them.
type respParser struct {
	buf    []byte // the current head's bytes, lines without their ends
	fields []fieldSpan
}

// respParserKeep is the largest buffer a parser keeps between responses.
const respParserKeep = 8 << 10

// readResponse reads a response head from br for req (nil means GET) and
// returns the response with its body framed on br. A response without a
// body has http.NoBody; any other body must be read to its end or closed.
func (p *respParser) readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	p.buf, p.fields = p.buf[:0], p.fields[:0]
	defer func() {
		if cap(p.buf) > respParserKeep {
			p.buf = nil
		}
		if cap(p.fields) > respParserKeep/16 {
			p.fields = nil
		}
	}()

	// The status line: "HTTP/1.x SSS[ reason]".
	_, end, err := p.readLine(br)
	if err != nil {
		return nil, err
	}
	line := p.buf[:end]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return nil, malformed(fmt.Sprintf("status line %q", trimQuote(line)))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return nil, malformed(fmt.Sprintf("status line %q", trimQuote(line)))
		}
		code = code*10 + int(c-'0')
	}
	for _, c := range line[12:] {
		if !validValueByte(c) {
			return nil, malformed("control character in the status line")
		}
	}
	statusEnd := end

	// The header fields, up to an empty line.
	for {
		start, end, err := p.readLine(br)
		if err != nil {
			return nil, err
		}
		if start == end {
			break
		}
		line := p.buf[start:end]
		if line[0] == ' ' || line[0] == '\t' {
			if err := p.fold(start, end); err != nil {
				return nil, err
			}
			continue
		}
		colon, spaced := 0, false
		for colon < len(line) && line[colon] != ':' {
			switch c := line[colon]; {
			case c == ' ':
				// As net/http: a space in a name (before the colon, say)
				// is taken, and the name is left as it is.
				spaced = true
			case !httpguts.IsTokenRune(rune(c)):
				return nil, malformed(fmt.Sprintf("header field name in %q", trimQuote(line)))
			}
			colon++
		}
		if colon == 0 || colon == len(line) {
			return nil, malformed(fmt.Sprintf("header line %q", trimQuote(line)))
		}
		if !spaced {
			canonicalize(line[:colon])
		}
		v0, v1 := trimOWS(p.buf, start+colon+1, end)
		for _, c := range p.buf[v0:v1] {
			if !validValueByte(c) {
				return nil, malformed(fmt.Sprintf("control character in the value of %s", line[:colon]))
			}
		}
		p.fields = append(p.fields, fieldSpan{start, start + colon, v0, v1})
		p.buf = p.buf[:v1] // a continuation line may extend the value
	}

	// One string for the whole head; everything else is a slice of it.
	s := string(p.buf)
	h := &h1Resp{}
	resp := &h.resp
	*resp = http.Response{
		Status:     s[9:statusEnd],
		StatusCode: code,
		Proto:      s[:8],
		ProtoMajor: 1,
		ProtoMinor: int(s[7] - '0'),
		Request:    req,
	}
	hdr := make(http.Header, len(p.fields))
	vals := h.vals[:]
	if len(p.fields) > len(vals) {
		vals = make([]string, len(p.fields))
	}
	for i, f := range p.fields {
		k, v := s[f.k0:f.k1], s[f.v0:f.v1]
		if vv, ok := hdr[k]; ok {
			hdr[k] = append(vv, v)
			continue
		}
		vals[i] = v
		hdr[k] = vals[i : i+1 : i+1]
	}
	resp.Header = hdr
	if err := h.frame(br, req); err != nil {
		return nil, err
	}
	return resp, nil
}

// fold joins the obs-fold line at p.buf[start:end] to the value of the
// field before it, as net/http does (a space, then the line without its
// white space; the value's leading white space dropped), except where the
// h1 Transport's guard refuses it, so that both paths answer alike: a
// continued field that frames the body, or a continuation before any
// field (which net/http refuses too). RFC 9112 §5.2 lets a proxy replace
// obs-fold with spaces.
func (p *respParser) fold(start, end int) error {
	if len(p.fields) == 0 {
		return malformed("obs-fold before any header field")
	}
	f := &p.fields[len(p.fields)-1]
	switch string(p.buf[f.k0:f.k1]) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Upgrade":
		return malformed(fmt.Sprintf("obs-fold in %s", p.buf[f.k0:f.k1]))
	}
	c0, c1 := trimOWS(p.buf, start, end)
	for _, c := range p.buf[c0:c1] {
		if !validValueByte(c) {
			return malformed(fmt.Sprintf("control character in the value of %s", p.buf[f.k0:f.k1]))
		}
	}
	if f.v1 > f.v0 {
		p.buf[f.v1] = ' ' // the continuation's first byte, white space: p.buf ended at f.v1
		f.v1++
	}
	f.v1 += copy(p.buf[f.v1:], p.buf[c0:c1])
	p.buf = p.buf[:f.v1]
	return nil
}

// trimOWS returns the bounds of b[i:j] without leading and trailing
// spaces and tabs.
func trimOWS(b []byte, i, j int) (int, int) {
	for i < j && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t') {
		j--
	}
	return i, j
}

// readLine appends the next line from br to p.buf, without its LF and the
// CR before it, and returns where it lies in p.buf. A CR elsewhere in the
// line is refused. EOF before the line's end is io.ErrUnexpectedEOF.
func (p *respParser) readLine(br *bufio.Reader) (start, end int, err error) {
	start = len(p.buf)
	for {
		frag, err := br.ReadSlice('\n')
		p.buf = append(p.buf, frag...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	end = len(p.buf) - 1
	if end > start && p.buf[end-1] == '\r' {
		end--
	}
	for _, c := range p.buf[start:end] {
		if c == '\r' {
			return 0, 0, malformed("CR inside a line of the response head")
		}
	}
	return start, end, nil
}

// trimQuote is at most the first 64 bytes of b, for an error message.
func trimQuote(b []byte) []byte { return b[:min(len(b), 64)] }

// validValueByte says whether c may appear in a field value (RFC 9110
// §5.5): a visible character, obs-text, space or tab, as net/http checks.
func validValueByte(c byte) bool { return c >= 0x20 && c != 0x7f || c == '\t' }

// canonicalize makes the field name k canonical in place, as
// textproto.CanonicalMIMEHeaderKey does for a name of token characters.
func canonicalize(k []byte) {
	upper := true
	for i, c := range k {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
}

// Body framings.
const (
	bodyLength  = iota + 1 // Content-Length bytes
	bodyChunked            // chunked, then a trailer section
	bodyToClose            // everything until the endpoint closes
)

// frame decides the body's framing and the response's ContentLength,
// TransferEncoding, Close and Trailer as net/http's readTransfer does.
func (h *h1Resp) frame(br *bufio.Reader, req *http.Request) error {
	resp := &h.resp
	hdr := resp.Header
	method := http.MethodGet
	if req != nil {
		method = req.Method
	}
	isHead := method == http.MethodHead

	// Pragma: no-cache means Cache-Control: no-cache (RFC 7234 §5.4).
	if hp, ok := hdr["Pragma"]; ok && len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}

	// Connection: close, or an HTTP/1.0 response without keep-alive.
	conn := hdr["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conn, "close")
	if resp.ProtoMinor == 0 {
		resp.Close = hasClose || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else {
		if hasClose {
			delete(hdr, "Connection")
		}
		resp.Close = hasClose
	}

	// Transfer-Encoding: one, "chunked", which overrides Content-Length;
	// ignored in HTTP/1.0.
	chunked := false
	if te, ok := hdr["Transfer-Encoding"]; ok {
		delete(hdr, "Transfer-Encoding")
		if resp.ProtoMinor >= 1 {
			if len(te) != 1 {
				return malformed(fmt.Sprintf("too many transfer encodings: %q", te))
			}
			if !h1.ASCIIEqualFold(te[0], "chunked") {
				return malformed(fmt.Sprintf("unsupported transfer encoding: %q", te[0]))
			}
			chunked = true
		}
	}

	// Content-Length: repeated only with one value.
	cls := hdr["Content-Length"]
	n := int64(-1)
	if len(cls) > 0 {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return malformed(fmt.Sprintf("multiple Content-Length headers; got %q", cls))
			}
		}
		if len(cls) > 1 {
			cls = cls[:1:1]
			hdr["Content-Length"] = cls
		}
		var ok bool
		if n, ok = parseContentLength(cls[0]); !ok {
			return malformed(fmt.Sprintf("bad Content-Length %q", cls[0]))
		}
	}

	// The body's length (RFC 9112 §6.3), -1 for unknown.
	noBody := !bodyAllowedForStatus(resp.StatusCode)
	var length int64
	switch {
	case isHead || noBody:
		length = 0
	case chunked:
		delete(hdr, "Content-Length")
		length = -1
	case len(cls) > 0:
		length = n
	default:
		length = -1
	}
	resp.ContentLength = length
	if isHead {
		resp.ContentLength = n // what the head says, or -1
	}
	if chunked {
		h.te[0] = "chunked"
		resp.TransferEncoding = h.te[:]
		if vv, ok := hdr["Trailer"]; ok {
			tr, err := announcedTrailer(vv)
			if err != nil {
				return err
			}
			delete(hdr, "Trailer")
			resp.Trailer = tr
		}
	}
	if length == -1 && !chunked && !noBody {
		resp.Close = true // the body ends when the connection does
	}

	b := &h.body
	switch {
	case chunked && (isHead || noBody), length == 0:
		resp.Body = http.NoBody
		return nil
	case chunked:
		b.mode = bodyChunked
	case length > 0:
		b.mode, b.n = bodyLength, uint64(length)
	default:
		b.mode = bodyToClose
	}
	b.br, b.resp = br, resp
	resp.Body = b
	return nil
}

// bodyAllowedForStatus says whether a response with status may have a
// body: not 1xx, 204 or 304 (RFC 9112 §6.3 rule 1).
func bodyAllowedForStatus(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

// parseContentLength parses a Content-Length value as net/http does: one
// or more decimal digits, below 2^63.
func parseContentLength(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false // 2^63 or more
		}
		n = n*10 + d
	}
	return int64(n), true
}

// announcedTrailer is the Trailer map of a chunked response's Trailer
// header values vv, the fields announced with nil values, as net/http's
// fixTrailer builds it; nil when it names none.
func announcedTrailer(vv []string) (http.Header, error) {
	var tr http.Header
	for _, v := range vv {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.TrimString(k)
			if k == "" {
				continue
			}
			k = http.CanonicalHeaderKey(k)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, malformed(fmt.Sprintf("bad trailer key %q", k))
			}
			if tr == nil {
				tr = make(http.Header)
			}
			tr[k] = nil
		}
	}
	return tr, nil
}

// Limits of the chunked reader, net/http's: a chunk line shorter than
// 4096 bytes without its CRLF, and at most 16 KiB of overhead beyond 16
// bytes per chunk and twice the data.
const (
	maxChunkLineLen = 4096
	maxChunkOverrun = 16 << 10
)

// respBody is a response body read from the connection's reader with the
// framing of its head. On a pooled connection (pc set) the connection
// goes back to the pool when the body reaches its end, and is closed when
// the body fails or is closed before that.
type respBody struct {
	br   *bufio.Reader
	resp *http.Response // for the trailer
	n    uint64         // Content-Length bytes, or chunk bytes, left
	mode uint8

	// The chunked reader's state, as net/http's.
	checkEnd bool // the CRLF after a chunk's data is due
	crlf     [2]byte
	excess   int64 // non-data bytes beyond the allowance

	// The connection, when pooled.
	pc    *h1Conn
	stop  ctxWatch
	reuse bool

	done bool  // released: the end, an error, or Close
	err  error // what every Read returns once done; nil after Close
}

// errBodyClosed is a Read of a response body after its Close.
var errBodyClosed = errors.New("http: read on closed response body")

// Read reads the body; it returns io.EOF at its end.
func (b *respBody) Read(p []byte) (int, error) {
	if b.done {
		if b.err == nil {
			return 0, errBodyClosed
		}
		return 0, b.err
	}
	var n int
	var err error
	switch b.mode {
	case bodyLength:
		n, err = b.readLength(p)
	case bodyChunked:
		n, err = b.readChunked(p)
		if err == io.EOF {
			if terr := b.readTrailer(); terr != nil {
				err = terr
			}
		}
	default:
		n, err = b.br.Read(p)
	}
	if err != nil {
		b.release(err == io.EOF)
		b.err = err
	}
	return n, err
}

// Close ends the body; unless it had reached its end, the connection is
// closed, not pooled.
func (b *respBody) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

// release gives up the connection: to the pool after the body's end on a
// connection that may be reused, else closed.
func (b *respBody) release(eof bool) {
	if b.done {
		return
	}
	b.done = true
	pc := b.pc
	if pc == nil {
		return
	}
	b.pc = nil
	if b.stop.end() && eof && b.reuse {
		pc.host.put(pc)
		return
	}
	pc.close()
}

func (b *respBody) readLength(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= uint64(n)
	switch {
	case err == io.EOF && b.n > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.n == 0:
		err = io.EOF
	}
	return n, err
}

// readChunked reads chunked data as net/http's chunked reader does,
// returning early rather than block on a chunk line or a CRLF once it has
// data. Its end is io.EOF, before the trailer section.
func (b *respBody) readChunked(p []byte) (n int, err error) {
	for {
		if b.checkEnd {
			if n > 0 && b.br.Buffered() < 2 {
				return n, nil
			}
			if _, err := io.ReadFull(b.br, b.crlf[:]); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			if b.crlf != [2]byte{'\r', '\n'} {
				return n, malformed("chunk data not followed by CRLF")
			}
			b.checkEnd = false
		}
		if b.n == 0 {
			if n > 0 && !b.chunkLineBuffered() {
				return n, nil
			}
			size, err := b.chunkLine()
			if err != nil {
				return n, err
			}
			if size == 0 {
				b.mode = 0 // the data has ended
				return n, io.EOF
			}
			b.n = size
			continue
		}
		if len(p) == 0 {
			return n, nil
		}
		q := p
		if uint64(len(q)) > b.n {
			q = q[:b.n]
		}
		n0, err := b.br.Read(q)
		n += n0
		p = p[n0:]
		b.n -= uint64(n0)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		if b.n == 0 {
			b.checkEnd = true
		}
	}
}

// chunkLineBuffered says whether a whole chunk line is in the reader.
func (b *respBody) chunkLineBuffered() bool {
	if n := b.br.Buffered(); n > 0 {
		peek, _ := b.br.Peek(n)
		for _, c := range peek {
			if c == '\n' {
				return true
			}
		}
	}
	return false
}

// chunkLine reads a chunk-size line and returns the size.
func (b *respBody) chunkLine() (uint64, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		switch err {
		case io.EOF:
			err = io.ErrUnexpectedEOF
		case bufio.ErrBufferFull:
			err = malformed("chunk line too long")
		}
		return 0, err
	}
	// RFC 9112 §7.1 (erratum 7633): CRLF, and no other CR.
	for i, c := range line {
		if c == '\r' && i != len(line)-2 {
			return 0, malformed("chunk line not ended by CRLF, or with a CR inside")
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, malformed("chunk line not ended by CRLF, or with a CR inside")
	}
	line = line[:len(line)-2]
	if len(line) >= maxChunkLineLen {
		return 0, malformed("chunk line too long")
	}
	b.excess += int64(len(line)) + 2
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	for i, c := range line {
		if c == ';' {
			line = line[:i] // an extension, ignored
			break
		}
	}
	size, ok := h1.ParseChunkSize(line)
	if !ok {
		return 0, malformed("chunk size not 1 to 16 hex digits")
	}
	b.excess = max(b.excess-(16+2*int64(size)), 0)
	if b.excess > maxChunkOverrun && size != 0 {
		// (net/http's reader takes the last chunk line whatever it cost.)
		return 0, malformed("chunked encoding with too much non-data")
	}
	return size, nil
}

// readTrailer reads the trailer section after the last chunk into
// resp.Trailer: field lines ending in CRLF, all within the reader's
// buffer size, then an empty line.
func (b *respBody) readTrailer() error {
	if buf, _ := b.br.Peek(2); len(buf) == 2 && buf[0] == '\r' && buf[1] == '\n' {
		_, _ = b.br.Discard(2)
		return nil
	} else if len(buf) < 2 {
		return fmt.Errorf("reading the trailer: %w", io.ErrUnexpectedEOF)
	}
	var buf []byte
	var fields []fieldSpan
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			} else if err == bufio.ErrBufferFull {
				err = malformed("trailer too long")
			}
			return fmt.Errorf("reading the trailer: %w", err)
		}
		if len(buf)+len(line) > b.br.Size() {
			return malformed("trailer too long")
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return malformed("trailer line not ended by CRLF")
		}
		line = line[:len(line)-2]
		if len(line) == 0 {
			break
		}
		start := len(buf)
		buf = append(buf, line...)
		line = buf[start:]
		if line[0] == ' ' || line[0] == '\t' {
			return malformed("obs-fold in the trailer")
		}
		colon := 0
		for colon < len(line) && line[colon] != ':' {
			if !httpguts.IsTokenRune(rune(line[colon])) {
				return malformed("trailer field name")
			}
			colon++
		}
		if colon == 0 || colon == len(line) {
			return malformed("trailer line without a colon")
		}
		canonicalize(line[:colon])
		v0, v1 := start+colon+1, len(buf)
		for v0 < v1 && (buf[v0] == ' ' || buf[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (buf[v1-1] == ' ' || buf[v1-1] == '\t') {
			v1--
		}
		for _, c := range buf[v0:v1] {
			if !validValueByte(c) {
				return malformed("control character in a trailer value")
			}
		}
		// The length counts the CRLFs, as the reader's buffer holds them.
		buf = append(buf, "\r\n"...)
		fields = append(fields, fieldSpan{start, start + colon, v0, v1})
	}
	s := string(buf)
	tr := make(http.Header, len(fields))
	for _, f := range fields {
		k := s[f.k0:f.k1]
		tr[k] = append(tr[k], s[f.v0:f.v1])
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = tr
	} else {
		for k, vv := range tr {
			b.resp.Trailer[k] = vv
		}
	}
	return nil
}

var _ io.ReadCloser = (*respBody)(nil)
