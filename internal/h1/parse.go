package h1

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The request-head parser. One pass over a complete head does what
// net/http's server (readRequest, textproto's MIME reader, readTransfer
// and the server's own checks) and internal/proxy's framing guard do
// together, so that the loop parses each head once:
//
//   - request line: METHOD SP request-target SP HTTP/1.x, the method a
//     token, the target validated as net/url's ParseRequestURI validates
//     it, the version HTTP/1.0 or HTTP/1.1 (any other well-formed version
//     is 505, a malformed one 400);
//   - header lines: a token, a colon, a value without control characters
//     other than HTAB; obs-fold is refused (guard), as is a space before
//     the colon (net/http);
//   - framing: Content-Length digits only, equal duplicates are one,
//     different ones 400 (guard); Transfer-Encoding with Content-Length
//     400 (guard), on HTTP/1.0 400 (guard), anything but one "chunked" 501
//     (net/http);
//   - Host required on HTTP/1.1, at most one, valid (net/http).
//
// Like net/http, a line may end in a bare LF instead of CRLF (RFC 9112
// §2.2 lets a recipient accept that); a CR anywhere else is refused. Like
// RFC 9112 §2.2, CR and LF bytes before the request line are skipped
// (net/http skips them only after a POST).

// DefaultMaxHeaders is the header-line limit ParseHead applies when it is
// given a maxHeaders of 0 or less. HAProxy's default (tune.http.maxhdr) is
// 101 including the request line.
const DefaultMaxHeaders = 100

// Head is one parsed request head. Its strings point into one string
// made per head (one allocation for all of them). Header is the caller's
// map, cleared and refilled: reuse it, and the Head, across requests. The
// value slices in Header share one backing array that the next ParseHead
// on the same Head reuses, so like the map itself they are valid until
// then (clone what must outlive the request).
type Head struct {
	// Method is the request method, interned for the 9 standard methods.
	Method string
	// Target is the request-target as sent (origin-form, absolute-form,
	// authority-form or "*").
	Target string
	// ProtoMajor and ProtoMinor are the HTTP version: 1.0 or 1.1.
	ProtoMajor, ProtoMinor int
	// Header holds the header fields with canonical keys (interned for
	// common names), values trimmed of leading and trailing SP and HTAB.
	// As in a request from net/http's server, it holds no Host and no
	// Transfer-Encoding field (see Host and Chunked), and one
	// Content-Length value when the head had several equal ones. If nil,
	// ParseHead makes one.
	Header http.Header
	// Host is the Host header's value ("" if absent). For an
	// absolute-form target the authority in Target is the one to use
	// (RFC 9112 §3.2.2); net/http's Request.Host is that authority.
	Host string
	// ContentLength is the Content-Length: -1 if none (net/http's server
	// reports 0 for a request without one), 0 if "Content-Length: 0".
	ContentLength int64
	// Chunked is Transfer-Encoding: chunked, the only transfer coding
	// accepted.
	Chunked bool
	// Close is Connection: close, or HTTP/1.0 without Connection:
	// keep-alive.
	Close bool
	// Upgrade is a Connection: upgrade with an Upgrade header, or the
	// method CONNECT: the connection leaves HTTP/1.x if the answer agrees.
	Upgrade bool
	// Expect100 is Expect: 100-continue.
	Expect100 bool

	vals []string // backing array of Header's values, reused
}

// Error is a refused head (or chunked body): Status is what to answer
// (400, 431, 501, 505), Reason a short text for logs.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "h1: refused request (" + strconv.Itoa(e.Status) + "): " + e.Reason
}

// The refusals, made once so that refusing allocates nothing.
var (
	errNoHeadEnd     = &Error{400, "head not ended by an empty line"}
	errRequestLine   = &Error{400, "malformed request line"}
	errMethod        = &Error{400, "invalid method"}
	errTarget        = &Error{400, "invalid request target"}
	errVersion       = &Error{400, "malformed HTTP version"}
	errVersionNotSup = &Error{505, "unsupported HTTP version"}
	errHeaderLine    = &Error{400, "malformed header line"}
	errHeaderName    = &Error{400, "invalid header name"}
	errHeaderValue   = &Error{400, "invalid header value"}
	errObsFold       = &Error{400, "obs-fold (a header line continued after white space)"}
	errTooMany       = &Error{431, "too many header lines"}
	errNoHost        = &Error{400, "missing required Host header"}
	errManyHosts     = &Error{400, "too many Host headers"}
	errBadHost       = &Error{400, "malformed Host header"}
	errBadCL         = &Error{400, "bad Content-Length"}
	errCLConflict    = &Error{400, "Content-Length headers with different values"}
	errCLAndTE       = &Error{400, "both Content-Length and Transfer-Encoding"}
	errTEHTTP10      = &Error{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errTEUnsupported = &Error{501, "unsupported Transfer-Encoding"}
)

// HeadEnd returns the length of the head at the start of buf (up to and
// including the LF of the empty line), or -1 if buf does not yet hold a
// whole head. CR and LF bytes before the request line are part of the
// head. An empty line is LF or CRLF after an LF.
func HeadEnd(buf []byte) int {
	i := 0
	for i < len(buf) && (buf[i] == '\r' || buf[i] == '\n') {
		i++
	}
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(buf) && buf[i] == '\n' {
			return i + 1
		}
		if i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
			return i + 2
		}
	}
	return -1
}

// ParseHead parses the complete head in b into h: the request line, the
// header lines and the empty line. b may start with CR and LF bytes
// before the request line (RFC 9112 §2.2) and must end with the empty
// line's LF (HeadEnd gives the length). maxHeaders caps the header lines
// (DefaultMaxHeaders if 0 or less). A refused head is an *Error saying
// what to answer; h is then partly filled and must not be used.
func ParseHead(b []byte, h *Head, maxHeaders int) error {
	if maxHeaders <= 0 {
		maxHeaders = DefaultMaxHeaders
	}
	start := 0
	for start < len(b) && (b[start] == '\r' || b[start] == '\n') {
		start++
	}
	b = b[start:]
	// The head must end with an empty line, and only there.
	if n := HeadEnd(b); n < 0 || n != len(b) {
		return errNoHeadEnd
	}
	// Count header lines before allocating, so that the string and the
	// values are made once and a head over the limit costs nothing.
	lines := bytes.Count(b, []byte{'\n'}) - 2 // minus the request line and the empty line
	if lines > maxHeaders {
		return errTooMany
	}

	if h.Header == nil {
		h.Header = make(http.Header, lines)
	} else {
		clear(h.Header)
	}
	if cap(h.vals) < lines {
		h.vals = make([]string, lines)
	}
	vals := h.vals[:cap(h.vals)]
	clear(vals) // drop references to the last head's strings
	h.Host, h.ContentLength = "", -1
	h.Chunked, h.Close, h.Upgrade, h.Expect100 = false, false, false, false

	s := string(b) // the one string every field points into

	// The request line.
	eol := strings.IndexByte(s, '\n')
	line := trimCR(s[:eol])
	s = s[eol+1:]
	if err := parseRequestLine(line, h); err != nil {
		return err
	}

	var (
		nHost, nTE, nCL int
		te, cl          string
		sawConn, sawUp  bool // Connection, Upgrade
		sawExpect       bool
	)
	for {
		eol := strings.IndexByte(s, '\n')
		line := trimCR(s[:eol])
		s = s[eol+1:]
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return errHeaderLine
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		key, ok := canonicalKey(name)
		if !ok {
			return errHeaderName
		}
		if !validValue(value) {
			return errHeaderValue
		}
		switch key {
		case "Host":
			nHost++
			h.Host = value
			continue
		case "Transfer-Encoding":
			nTE++
			te = value
			continue
		case "Content-Length":
			nCL++
			if nCL > 1 {
				if value != cl {
					return errCLConflict
				}
				continue
			}
			cl = value
		case "Connection":
			sawConn = true
		case "Upgrade":
			sawUp = true
		case "Expect":
			sawExpect = true
		}
		if vv := h.Header[key]; vv != nil {
			h.Header[key] = append(vv, value)
			continue
		}
		vals[0] = value
		h.Header[key] = vals[:1:1]
		vals = vals[1:]
	}

	// Framing, in the guard's order, then net/http's.
	switch {
	case nTE > 0 && h.ProtoMinor == 0:
		return errTEHTTP10
	case nTE > 0 && nCL > 0:
		return errCLAndTE
	case nTE > 1 || nTE == 1 && !ASCIIEqualFold(te, "chunked"):
		return errTEUnsupported
	case nTE == 1:
		h.Chunked = true
	case nCL > 0:
		n, ok := parseContentLength(cl)
		if !ok {
			return errBadCL
		}
		h.ContentLength = n
	}

	// Host, as net/http's server checks it.
	switch {
	case nHost > 1:
		return errManyHosts
	case nHost == 0 && h.ProtoMinor == 1:
		return errNoHost
	case !httpguts.ValidHostHeader(h.Host):
		return errBadHost
	}

	var conn []string
	if sawConn {
		conn = h.Header["Connection"]
	}
	if h.ProtoMinor == 0 {
		h.Close = !httpguts.HeaderValuesContainsToken(conn, "keep-alive") ||
			httpguts.HeaderValuesContainsToken(conn, "close")
	} else {
		h.Close = httpguts.HeaderValuesContainsToken(conn, "close")
	}
	h.Upgrade = h.Method == http.MethodConnect ||
		sawUp && httpguts.HeaderValuesContainsToken(conn, "upgrade")
	if sawExpect {
		h.Expect100 = ASCIIEqualFold(h.Header["Expect"][0], "100-continue")
	}
	return nil
}

// parseRequestLine parses METHOD SP request-target SP HTTP-version.
func parseRequestLine(line string, h *Head) error {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return errRequestLine
	}
	rest := line[sp1+1:]
	sp2 := strings.IndexByte(rest, ' ')
	if sp2 < 0 {
		return errRequestLine
	}
	method, target, proto := line[:sp1], rest[:sp2], rest[sp2+1:]
	if !isToken(method) {
		return errMethod
	}
	h.Method = internMethod(method)
	switch proto {
	case "HTTP/1.1":
		h.ProtoMajor, h.ProtoMinor = 1, 1
	case "HTTP/1.0":
		h.ProtoMajor, h.ProtoMinor = 1, 0
	default:
		// The form net/http's ParseHTTPVersion accepts: 505 for a
		// version other than 1.0 and 1.1, 400 for anything else.
		if len(proto) == len("HTTP/X.Y") && proto[:5] == "HTTP/" &&
			isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
			return errVersionNotSup
		}
		return errVersion
	}
	if !validTarget(h.Method, target) {
		return errTarget
	}
	h.Target = target
	return nil
}

// validTarget says whether net/http accepts target (url.ParseRequestURI,
// after prefixing "http://" to a CONNECT authority), without allocating
// for origin-form, the common case.
func validTarget(method, target string) bool {
	if target == "" {
		return false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	if target[0] == '/' {
		// ParseRequestURI checks only the %-escapes of the path.
		path := target
		if q := strings.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		for i := 0; i < len(path); i++ {
			if path[i] == '%' {
				if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
					return false
				}
				i += 2
			}
		}
		return true
	}
	if method == http.MethodConnect {
		target = "http://" + target
	}
	_, err := url.ParseRequestURI(target)
	return err == nil
}

// internMethod returns the standard methods as constants.
func internMethod(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodTrace:
		return http.MethodTrace
	}
	return m
}

// commonNames are header names interned by canonicalKey, so that they
// cost no allocation whatever their case.
var commonNames = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
	"Authorization", "Cache-Control", "Cdn-Loop", "Connection", "Content-Disposition",
	"Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
	"Content-Range", "Content-Type", "Cookie", "Date", "Dnt", "Etag", "Expect",
	"Forwarded", "From", "Grpc-Timeout", "Host", "If-Match", "If-Modified-Since",
	"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "L5d-Dst-Override",
	"L5d-Ctx-Deadline", "L5d-Ctx-Trace", "L5d-Reqid", "Max-Forwards", "Origin", "Pragma",
	"Priority", "Proxy-Authorization", "Proxy-Connection", "Range", "Referer",
	"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
	"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Key",
	"Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
	"Te", "Trailer", "Traceparent", "Tracestate", "Transfer-Encoding", "Upgrade",
	"Upgrade-Insecure-Requests", "User-Agent", "Via", "Warning", "X-Amzn-Trace-Id",
	"X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Spanid", "X-B3-Traceid",
	"X-Cloud-Trace-Context", "X-Forwarded-For", "X-Forwarded-Host",
	"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
}

// maxCommonName is the length of the longest common name.
const maxCommonName = 32

// commonKeys indexes commonNames by length and lower-cased first letter:
// a lookup is a few byte compares, cheaper than hashing for a map.
var commonKeys = func() (t [maxCommonName + 1][26][]string) {
	for _, k := range commonNames {
		c := k[0] | 0x20
		t[len(k)][c-'a'] = append(t[len(k)][c-'a'], k)
	}
	return t
}()

// commonKey returns the common name that k is, ignoring case, or "".
func commonKey(k string) string {
	if len(k) > maxCommonName {
		return ""
	}
	c := k[0] | 0x20
	if c < 'a' || c > 'z' {
		return ""
	}
	for _, v := range commonKeys[len(k)][c-'a'] {
		if equalFold(k, v) {
			return v
		}
	}
	return ""
}

// equalFold reports whether s and t are equal ignoring ASCII case (t is
// a token).
func equalFold(s, t string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != t[i]|0x20 {
			return false
		}
	}
	return true
}

// canonicalKey returns the canonical form of the header name k (as
// textproto.CanonicalMIMEHeaderKey), and false if k is not a token. It
// allocates only for an uncommon name not sent in canonical form.
func canonicalKey(k string) (string, bool) {
	if k == "" {
		return "", false
	}
	canonical := true
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !isTokenByte(c) {
			return "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if v := commonKey(k); v != "" {
		return v, true
	}
	if canonical {
		return k, true
	}
	return http.CanonicalHeaderKey(k), true
}

// parseContentLength parses digits only, as strconv.ParseUint(s, 10, 63)
// does (which is what net/http uses), without allocating.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// validValue says whether v has no control characters other than HTAB
// (httpguts.ValidHeaderFieldValue and textproto's check).
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func trimCR(s string) string {
	if n := len(s); n > 0 && s[n-1] == '\r' {
		return s[:n-1]
	}
	return s
}

// trimOWS trims leading and trailing SP and HTAB, as textproto does.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// isTokenByte says whether c is a tchar (RFC 9110 §5.6.2).
func isTokenByte(c byte) bool {
	return c < 0x80 && tokenTable[c]
}

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ASCIIEqualFold reports whether s equals the lower-case ASCII t,
// ignoring ASCII case only (strings.EqualFold also folds the Kelvin sign
// to k). internal/proxy's response parser uses it too.
func ASCIIEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}
