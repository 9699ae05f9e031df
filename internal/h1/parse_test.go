package h1_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/internal/h1"
	"golang.org/x/net/http/httpguts"
)

// headCase is one head for ParseHead. status 0 means accepted. guard names
// the rule (internal/proxy/h1guard.go, or this package's own) that justifies
// refusing a head net/http's server accepts; it must be empty otherwise.
type headCase struct {
	name   string
	in     string
	status int
	guard  string
	want   func(t *testing.T, h *h1.Head) // extra checks on an accepted head
}

const typicalGET = "GET /api/v1/items?id=42 HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: a=b; c=d\r\n" +
	"Referer: http://example.com/\r\n" +
	"X-Forwarded-For: 10.0.0.1\r\n" +
	"\r\n"

var headCases = []headCase{
	// Accepted.
	{name: "typical GET", in: typicalGET, want: func(t *testing.T, h *h1.Head) {
		if h.Method != "GET" || h.Target != "/api/v1/items?id=42" || h.Host != "example.com" ||
			h.ContentLength != -1 || h.Chunked || h.Close || h.Upgrade || len(h.Header) != 9 {
			t.Errorf("got %+v", *h)
		}
		if _, ok := h.Header["Host"]; ok {
			t.Errorf("Host in Header")
		}
	}},
	{name: "minimal 1.0", in: "GET / HTTP/1.0\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Close || h.ProtoMinor != 0 || h.Host != "" {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.Close {
			t.Errorf("Close on a keep-alive HTTP/1.0 request")
		}
	}},
	{name: "connection close", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Close {
			t.Errorf("no Close")
		}
	}},
	{name: "bare LF line ends (as net/http)", in: "GET / HTTP/1.1\nHost: a\nX: y\n\n"},
	{name: "mixed line ends", in: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n"},
	{name: "leading CRLF (RFC 9112 §2.2)", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "post content-length", in: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.ContentLength != 12 || h.Header.Get("Content-Length") != "12" {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "content-length 0", in: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.ContentLength != 0 {
			t.Errorf("ContentLength %d", h.ContentLength)
		}
	}},
	{name: "content-length max", in: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"},
	{name: "equal content-lengths are one", in: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length:  5 \r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.ContentLength != 5 || len(h.Header["Content-Length"]) != 1 {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "chunked", in: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Chunked || h.ContentLength != -1 || h.Header["Transfer-Encoding"] != nil {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "websocket upgrade", in: "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Upgrade {
			t.Errorf("no Upgrade")
		}
	}},
	{name: "upgrade header without connection token", in: "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.Upgrade {
			t.Errorf("Upgrade without Connection: upgrade")
		}
	}},
	{name: "connect", in: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Upgrade || h.Method != "CONNECT" || h.Target != "example.com:443" {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "expect 100-continue", in: "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if !h.Expect100 {
			t.Errorf("no Expect100")
		}
	}},
	{name: "absolute-form", in: "GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.Target != "http://example.com/x?y" || h.Host != "other" {
			t.Errorf("got %+v", *h)
		}
	}},
	{name: "asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "extension method", in: "PROPFIND /x HTTP/1.1\r\nHost: a\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.Method != "PROPFIND" {
			t.Errorf("Method %q", h.Method)
		}
	}},
	{name: "header canonicalised", in: "GET / HTTP/1.1\r\nhost: a\r\nx-my-header: 1\r\nX-MY-HEADER: 2\r\nuser-agent: u\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if got := h.Header["X-My-Header"]; !slices.Equal(got, []string{"1", "2"}) || h.Header.Get("User-Agent") != "u" || h.Host != "a" {
			t.Errorf("got %v", h.Header)
		}
	}},
	{name: "underscore in name (proxy drops it later)", in: "GET / HTTP/1.1\r\nHost: a\r\nX_Foo: 1\r\n\r\n"},
	{name: "value trimmed, tab inside", in: "GET / HTTP/1.1\r\nHost: a\r\nX: \t a\tb \t\r\n\r\n", want: func(t *testing.T, h *h1.Head) {
		if h.Header.Get("X") != "a\tb" {
			t.Errorf("value %q", h.Header.Get("X"))
		}
	}},
	{name: "empty value", in: "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n"},
	{name: "obs-text value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"},
	{name: "non-ASCII target", in: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "percent escapes", in: "GET /a%20b?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "empty host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
	{name: "host with port", in: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
	{name: "1.0 no host", in: "GET / HTTP/1.0\r\nX: y\r\n\r\n"},

	// Refused by both.
	{name: "no empty line", in: "GET / HTTP/1.1\r\nHost: a\r\n", status: 400},
	{name: "bytes after the head", in: "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", status: 400},
	{name: "one word", in: "GET\r\n\r\n", status: 400},
	{name: "no version", in: "GET /\r\n\r\n", status: 400},
	{name: "empty method", in: " / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "double space", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "trailing space", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400},
	{name: "method not a token", in: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "lower-case version", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "long version", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400},
	{name: "http/2", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "http/0.9", in: "GET / HTTP/0.9\r\nHost: a\r\n\r\n", status: 505},
	{name: "CTL in target", in: "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "CR in request line", in: "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", status: 400},
	{name: "relative target", in: "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "bad escape", in: "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "no colon", in: "GET / HTTP/1.1\r\nHost: a\r\nfoo\r\n\r\n", status: 400},
	{name: "empty name", in: "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", status: 400},
	{name: "space before colon", in: "GET / HTTP/1.1\r\nHost: a\r\nFoo : x\r\n\r\n", status: 400},
	{name: "space in name", in: "GET / HTTP/1.1\r\nHost: a\r\nFo o: x\r\n\r\n", status: 400},
	{name: "CTL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", status: 400},
	{name: "DEL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", status: 400},
	{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", status: 400},
	{name: "CR CR LF", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", status: 400},
	{name: "first line folded", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400},
	{name: "missing host", in: "GET / HTTP/1.1\r\nX: y\r\n\r\n", status: 400},
	{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: 400},
	{name: "bad host", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
	{name: "content-length sign", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", status: 400},
	{name: "content-length empty", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", status: 400},
	{name: "content-length list", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", status: 400},
	{name: "content-length hex", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", status: 400},
	{name: "content-length overflow", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", status: 400},
	{name: "content-lengths differ", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400},
	{name: "content-lengths 5 and 05", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", status: 400},
	{name: "te gzip", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
	{name: "te gzip, chunked", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
	{name: "te twice", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
	{name: "te with CTL", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n", status: 400},

	// Refused here, accepted by net/http: each names its rule.
	{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", status: 400,
		guard: "guard errObsFold: obs-fold refused (net/http joins the lines)"},
	{name: "obs-fold tab", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", status: 400,
		guard: "guard errObsFold"},
	{name: "cl and te", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400,
		guard: "guard errCLAndTE: Content-Length with Transfer-Encoding (net/http drops Content-Length)"},
	{name: "te on 1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400,
		guard: "guard errTEHTTP10: Transfer-Encoding on HTTP/1.0 (net/http ignores it)"},
	{name: "http/1.2", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: 505,
		guard: "brief: HTTP/1.0 and 1.1 only (net/http serves any HTTP/1.x)"},
	{name: "connect without host", in: "CONNECT example.com:443 HTTP/1.1\r\n\r\n", status: 400,
		guard: "RFC 9112 §3.2: Host in every HTTP/1.1 request (net/http exempts CONNECT)"},
	{name: "h2 prior knowledge", in: "PRI * HTTP/2.0\r\n\r\n", status: 505,
		guard: "the loop hands HTTP/2 prior knowledge to net/http before parsing (net/http serves PRI * HTTP/2.0 as a request)"},
	{name: "too many headers", in: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n", status: 431,
		guard: "maxHeaders (net/http has no count limit, only MaxHeaderBytes)"},
}

// netHTTP parses b as net/http's server does (http.ReadRequest plus the
// checks in (*conn).readRequest), and returns the status it answers when
// it refuses the head. CR and LF bytes before the request line are
// skipped (net/http skips them only after a POST; RFC 9112 §2.2 allows it
// always).
func netHTTP(b []byte) (*http.Request, int, error) {
	b = bytes.TrimLeft(b, "\r\n")
	req, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(b), 1<<20))
	if err != nil {
		if strings.Contains(err.Error(), "transfer encoding") {
			return nil, 501, err
		}
		return nil, 400, err
	}
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return nil, 505, errors.New("unsupported protocol version")
	}
	// http.ReadRequest deletes the Host header, which the server checks
	// before it does: read it with net/http's own MIME reader.
	tp := textproto.NewReader(bufio.NewReaderSize(bytes.NewReader(b), 1<<20))
	if _, err := tp.ReadLine(); err != nil {
		return nil, 400, err
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, 400, err
	}
	hosts, haveHost := mh["Host"]
	isH2Upgrade := req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !isH2Upgrade && req.Method != "CONNECT" {
		return nil, 400, errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return nil, 400, errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, 400, errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, 400, errors.New("invalid header value")
			}
		}
	}
	return req, 0, nil
}

// agree says how an accepted head differs from net/http's request of the
// same bytes ("" if it does not).
func agree(h *h1.Head, req *http.Request) string {
	var diffs []string
	if h.Method != req.Method {
		diffs = append(diffs, fmt.Sprintf("Method %q, net/http %q", h.Method, req.Method))
	}
	if h.Target != req.RequestURI {
		diffs = append(diffs, fmt.Sprintf("Target %q, net/http %q", h.Target, req.RequestURI))
	}
	if h.ProtoMajor != req.ProtoMajor || h.ProtoMinor != req.ProtoMinor {
		diffs = append(diffs, fmt.Sprintf("version %d.%d, net/http %d.%d", h.ProtoMajor, h.ProtoMinor, req.ProtoMajor, req.ProtoMinor))
	}
	theirs := req.Header.Clone()
	if theirs == nil {
		theirs = http.Header{}
	}
	host := req.Host // net/http puts the Host header there, or an absolute-form target's authority
	if req.URL.Host != "" {
		host = h.Host // the authority is in Target, compared above
	}
	// net/http adds Cache-Control: no-cache to a Pragma: no-cache request
	// without Cache-Control (fixPragmaCacheControl); this parser forwards
	// what it got.
	if h.Header["Cache-Control"] == nil && theirs.Get("Pragma") == "no-cache" {
		delete(theirs, "Cache-Control")
	}
	if !maps.EqualFunc(h.Header, theirs, slices.Equal) {
		diffs = append(diffs, fmt.Sprintf("Header %q, net/http %q", h.Header, theirs))
	}
	if h.Host != host {
		diffs = append(diffs, fmt.Sprintf("Host %q, net/http's Host header %q", h.Host, host))
	}
	wantCL := h.ContentLength
	switch {
	case h.Chunked:
		wantCL = -1
	case wantCL < 0:
		wantCL = 0 // net/http's server: a request without a length has none
	}
	if wantCL != req.ContentLength {
		diffs = append(diffs, fmt.Sprintf("ContentLength %d, net/http %d", h.ContentLength, req.ContentLength))
	}
	if h.Chunked != slices.Equal(req.TransferEncoding, []string{"chunked"}) {
		diffs = append(diffs, fmt.Sprintf("Chunked %v, net/http TransferEncoding %q", h.Chunked, req.TransferEncoding))
	}
	if h.Close != req.Close {
		diffs = append(diffs, fmt.Sprintf("Close %v, net/http %v", h.Close, req.Close))
	}
	return strings.Join(diffs, "; ")
}

func TestParseHead(t *testing.T) {
	var h h1.Head // reused across rows, as the loop reuses it
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			err := h1.ParseHead([]byte(tc.in), &h, 0)
			status := 0
			if err != nil {
				var he *h1.Error
				if !errors.As(err, &he) {
					t.Fatalf("error %v is not an *h1.Error", err)
				}
				status = he.Status
			}
			if status != tc.status {
				t.Fatalf("status %d (%v), want %d", status, err, tc.status)
			}
			req, theirStatus, theirErr := netHTTP([]byte(tc.in))
			switch {
			case status == 0 && theirStatus != 0:
				t.Fatalf("accepted, net/http refuses with %d: %v", theirStatus, theirErr)
			case status == 0:
				if d := agree(&h, req); d != "" {
					t.Errorf("differs from net/http: %s", d)
				}
				if tc.want != nil {
					tc.want(t, &h)
				}
			case theirStatus == 0 && tc.guard == "" && tc.name != "no empty line" && tc.name != "bytes after the head":
				t.Errorf("refused (%v), net/http accepts, and the row names no rule", err)
			case theirStatus != 0 && tc.guard != "":
				t.Errorf("row names rule %q, but net/http refuses too (%d: %v)", tc.guard, theirStatus, theirErr)
			}
		})
	}
}

// TestParseHeadReuse checks that a reused Head keeps nothing of the head
// before it.
func TestParseHeadReuse(t *testing.T) {
	var h h1.Head
	if err := h1.ParseHead([]byte("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: 1\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n"), &h, 0); err != nil {
		t.Fatal(err)
	}
	if err := h1.ParseHead([]byte("GET /b HTTP/1.1\r\nHost: b\r\n\r\n"), &h, 0); err != nil {
		t.Fatal(err)
	}
	if h.Method != "GET" || h.Target != "/b" || h.Host != "b" || h.ContentLength != -1 || h.Close || h.Expect100 || len(h.Header) != 0 {
		t.Errorf("got %+v", h)
	}
}

func TestParseHeadMaxHeaders(t *testing.T) {
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n")
	var h h1.Head
	if err := h1.ParseHead(in, &h, 3); err != nil {
		t.Errorf("3 lines, limit 3: %v", err)
	}
	var he *h1.Error
	if err := h1.ParseHead(in, &h, 2); !errors.As(err, &he) || he.Status != 431 {
		t.Errorf("3 lines, limit 2: %v, want a 431", err)
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", -1},
		{"only CRLFs", "\r\n\r\n", -1},
		{"request line only", "GET / HTTP/1.1\r\n", -1},
		{"CRLF end", "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", len("GET / HTTP/1.1\r\nHost: a\r\n\r\n")},
		{"LF end", "GET / HTTP/1.1\nHost: a\n\nBODY", len("GET / HTTP/1.1\nHost: a\n\n")},
		{"no header lines", "GET / HTTP/1.0\r\n\r\n", len("GET / HTTP/1.0\r\n\r\n")},
		{"leading CRLF", "\r\nGET / HTTP/1.0\r\n\r\n", len("\r\nGET / HTTP/1.0\r\n\r\n")},
		{"split CRLF", "GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"CR not before LF", "GET / HTTP/1.1\r\n\rX\r\n", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h1.HeadEnd([]byte(tc.in)); got != tc.want {
				t.Errorf("HeadEnd(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseHeadAllocs measures a typical GET (10 header lines, common
// names): one allocation, the string every field points into.
func TestParseHeadAllocs(t *testing.T) {
	in := []byte(typicalGET)
	var h h1.Head
	if err := h1.ParseHead(in, &h, 0); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := h1.ParseHead(in, &h, 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%v allocations per typical GET", allocs)
	if allocs > 1 {
		t.Errorf("%v allocations per typical GET, want at most 1", allocs)
	}
	// Lower-case names (as HTTP/2-minded clients send them) are interned
	// too.
	rl := len("GET /api/v1/items?id=42 HTTP/1.1\r\n")
	lower := []byte(typicalGET[:rl] + strings.ToLower(typicalGET[rl:]))
	if allocs := testing.AllocsPerRun(100, func() {
		if err := h1.ParseHead(lower, &h, 0); err != nil {
			t.Fatal(err)
		}
	}); allocs > 1 {
		t.Errorf("%v allocations per lower-case GET, want at most 1", allocs)
	}
}

func BenchmarkParseHead(b *testing.B) {
	in := []byte(typicalGET)
	var h h1.Head
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := h1.ParseHead(in, &h, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadRequest is net/http's parse of the same head, for
// comparison.
func BenchmarkReadRequest(b *testing.B) {
	in := []byte(typicalGET)
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}
