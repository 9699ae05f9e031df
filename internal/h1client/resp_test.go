package h1client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRespParserAgreesWithNetHTTP reads each stream with our reader and
// net/http's: where both take it they must agree (compareResponseParse);
// the strict rows are the refusals h1resp.go names, which net/http takes.
func TestRespParserAgreesWithNetHTTP(t *testing.T) {
	tests := []struct {
		name   string
		method string
		raw    string
		strict bool // ours refuses, net/http takes
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "chunked with announced and other trailers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"},
		{name: "chunked with an announced trailer not sent", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n0\r\n\r\n"},
		{name: "chunked with extensions and white space", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a=b\r\nabc\r\n0\t\r\n\r\n"},
		{name: "chunked overrides content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunked, any case", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"},
		{name: "transfer-encoding ignored in HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok"},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"},
		{name: "HTTP/1.0 until close", raw: "HTTP/1.0 200 OK\r\n\r\nall of it"},
		{name: "HTTP/1.1 until close", raw: "HTTP/1.1 200 OK\r\n\r\nall of it"},
		{name: "connection close is dropped", raw: "HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n"},
		{name: "equal content-lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nok"},
		{name: "different content-lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"},
		{name: "signed content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"},
		{name: "empty content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok"},
		{name: "content-length 2^63", raw: "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"},
		{name: "content-length with leading zeros", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000000002\r\n\r\nok"},
		{name: "two transfer-encodings", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "gzip transfer-encoding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{name: "Kelvin sign in chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chun\u212aed\r\n\r\n0\r\n\r\n"},
		{name: "HEAD with a length", method: http.MethodHead, raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "HEAD chunked", method: http.MethodHead, raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nTrailer: X-T\r\n\r\n"},
		{name: "HEAD with a bad length", method: http.MethodHead, raw: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"},
		{name: "204 with a length", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "304 chunked", raw: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "103", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"},
		{name: "status without a reason", raw: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
		{name: "status with an empty reason", raw: "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"},
		{name: "pragma no-cache", raw: "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n"},
		{name: "names canonicalized, values kept in order", raw: "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSET-COOKIE: b=2\r\nx-a-b: \t v \t\r\nContent-Length: 0\r\n\r\n"},
		{name: "more fields than the inline values", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n", 7) + "Content-Length: 0\r\n\r\n"},
		{name: "bare LF line ends", raw: "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"},
		{name: "NUL in a value", raw: "HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n"},
		{name: "DEL in a value", raw: "HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\r\nContent-Length: 0\r\n\r\n"},
		{name: "obs-text in a value", raw: "HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n"},
		{name: "bad name", raw: "HTTP/1.1 200 OK\r\nX(Bad): 1\r\nContent-Length: 0\r\n\r\n"},
		{name: "empty name", raw: "HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 0\r\n\r\n"},
		{name: "no colon", raw: "HTTP/1.1 200 OK\r\nX-Bad\r\nContent-Length: 0\r\n\r\n"},
		{name: "bad trailer name", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n"},
		{name: "chunk line with bare LF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{name: "chunk data without CRLF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n"},
		{name: "chunk size of 17 digits", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\na\r\n0\r\n\r\n"},
		{name: "chunked, cut short", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"},
		{name: "content-length, cut short", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
		{name: "head cut short", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"},
		{name: "nothing", raw: ""},
		{name: "trailer cut short", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n"},
		{name: "trailer over the reader's buffer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + strings.Repeat("a", 5000) + "\r\n\r\n"},
		{name: "bytes after the response", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"},

		{name: "obs-fold", raw: "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b \r\n\tc\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "obs-fold of an empty value", raw: "HTTP/1.1 200 OK\r\nX-Folded:\r\n \r\n b\r\nX-More: a\r\n \r\n c\r\nContent-Length: 0\r\n\r\n"},
		{name: "obs-fold of white space last", raw: "HTTP/1.1 200 OK\r\nX-Folded: a\r\n \r\nContent-Length: 0\r\n\r\n"},
		{name: "obs-fold with a NUL", raw: "HTTP/1.1 200 OK\r\nX-Folded: a\r\n \x00\r\nContent-Length: 0\r\n\r\n"},
		{name: "obs-fold before any field", raw: "HTTP/1.1 200 OK\r\n X: a\r\nContent-Length: 0\r\n\r\n"},
		{name: "obs-fold in content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 0\r\n\r\n0123456789"},
		{name: "space before the colon", raw: "HTTP/1.1 200 OK\r\nX-Bad : 1\r\nContent-Length : 0\r\n\r\n"},
		{name: "obs-fold in connection", raw: "HTTP/1.1 200 OK\r\nConnection: x,\r\n close\r\nContent-Length: 0\r\n\r\n", strict: true},
		{name: "obs-fold in transfer-encoding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", strict: true},
		{name: "obs-fold in the trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", strict: true},
		{name: "two spaces after the version", raw: "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", strict: true},
		{name: "HTTP/1.2", raw: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", strict: true},
		{name: "CR inside the status line", raw: "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", strict: true},
		{name: "trailer line with a bare LF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n", strict: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			if tt.strict {
				want := parseWith([]byte(tt.raw), method, false)
				require.NoError(t, errors.Join(want.headErr, want.bodyErr), "net/http takes it")
				got := parseWith([]byte(tt.raw), method, true)
				err := errors.Join(got.headErr, got.bodyErr)
				require.ErrorIs(t, err, errMalformedResponse)
				assert.True(t, isStricter(err), "a refusal h1resp.go names: %v", err)
				return
			}
			compareResponseParse(t, method, []byte(tt.raw))
		})
	}
}

// TestRespParserAllocations holds the reader to its allocations: four per
// typical head (the head's string, the header map and its group, the
// h1Resp) and none per body Read.
func TestRespParserAllocations(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Thu, 03 Dec 2026 12:00:00 GMT\r\n" +
		"X-Request-Id: 0123456789abcdef\r\nContent-Length: 5\r\n\r\nhello"
	const chunked = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"
	src := bytes.NewReader(nil)
	br := bufio.NewReaderSize(src, 4096)
	buf := make([]byte, 64)
	var p respParser
	run := func(raw string, read bool) func() {
		b := []byte(raw)
		return func() {
			src.Reset(b)
			br.Reset(src)
			resp, err := p.readResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if read {
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
			}
		}
	}
	heads := testing.AllocsPerRun(100, run(head, false))
	assert.LessOrEqual(t, heads, 4.0, "allocations per response head")
	withBody := testing.AllocsPerRun(100, run(head, true))
	assert.Equal(t, heads, withBody, "a Content-Length body's reads allocate")
	chunkedHead := testing.AllocsPerRun(100, run(chunked, false))
	chunkedAll := testing.AllocsPerRun(100, run(chunked, true))
	assert.Equal(t, chunkedHead, chunkedAll, "a chunked body's reads allocate")

	headBytes := []byte(head)
	netHTTP := testing.AllocsPerRun(100, func() {
		src.Reset(headBytes)
		br.Reset(src)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	})
	t.Logf("allocations per response: ours %.0f (chunked %.0f), net/http's %.0f", withBody, chunkedAll, netHTTP)
}

// TestRespParserHandsOutNoSharedBytes reads two responses with one parser:
// the first one's status, names and values must survive the second.
func TestRespParserHandsOutNoSharedBytes(t *testing.T) {
	var p respParser
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nx-one: first\r\nContent-Length: 0\r\n\r\n" +
		"HTTP/1.1 404 Nope\r\nx-two: second\r\nContent-Length: 0\r\n\r\n"))
	r1, err := p.readResponse(br, nil)
	require.NoError(t, err)
	r2, err := p.readResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, "200 OK", r1.Status)
	assert.Equal(t, http.Header{"X-One": {"first"}, "Content-Length": {"0"}}, r1.Header)
	assert.Equal(t, "404 Nope", r2.Status)
	assert.Equal(t, http.Header{"X-Two": {"second"}, "Content-Length": {"0"}}, r2.Header)
	// Appending to a value list must not write into the next field's.
	r1.Header["X-One"] = append(r1.Header["X-One"], "more")
	assert.Equal(t, []string{"0"}, r1.Header["Content-Length"])
}

// TestRespParserDropsALargeBuffer checks that a connection does not keep a
// large head's buffer while it idles.
func TestRespParserDropsALargeBuffer(t *testing.T) {
	var p respParser
	big := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 3*respParserKeep) + "\r\nContent-Length: 0\r\n\r\n"
	resp, err := p.readResponse(bufio.NewReader(strings.NewReader(big)), nil)
	require.NoError(t, err)
	assert.Len(t, resp.Header.Get("X-Big"), 3*respParserKeep)
	assert.Zero(t, cap(p.buf))
}

// TestRespBodyAfterItsEnd checks the body's answers after its end and
// after Close.
func TestRespBodyAfterItsEnd(t *testing.T) {
	var p respParser
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	resp, err := p.readResponse(br, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(b))
	n, err := resp.Body.Read(make([]byte, 1))
	assert.Equal(t, 0, n)
	assert.Equal(t, io.EOF, err)

	resp, err = p.readResponse(br, nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	_, err = resp.Body.Read(make([]byte, 1))
	assert.ErrorIs(t, err, errBodyClosed)
}
