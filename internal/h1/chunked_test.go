package h1_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/slinkerd/slinkerd/internal/h1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readChunked reads the whole chunked body in, size bytes a Read, from a
// reader that gives one byte a read if slow.
func readChunked(in []byte, trailer http.Header, size int, slow bool) ([]byte, error) {
	var r io.Reader = bytes.NewReader(in)
	if slow {
		r = iotest.OneByteReader(r)
	}
	g := &gate{r: r}
	var cr h1.ChunkedReader
	cr.Reset(bufio.NewReaderSize(g, 4096), trailer)
	var out []byte
	p := make([]byte, size)
	for {
		g.shut = cr.Ready() // then the Read must not reach the reader
		n, err := cr.Read(p)
		g.shut = false
		if g.lied {
			return out, errReadyLied
		}
		out = append(out, p[:n]...)
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		if n == 0 {
			return out, errors.New("Read returned 0, nil")
		}
	}
}

// gate passes reads on to r, and notes one made while shut.
type gate struct {
	r    io.Reader
	shut bool
	lied bool
}

func (g *gate) Read(p []byte) (int, error) {
	if g.shut {
		g.lied = true
	}
	return g.r.Read(p)
}

// errReadyLied: a Read that Ready said would not wait read the
// connection.
var errReadyLied = errors.New("a Read that Ready cleared read the connection")

// theirChunked is net/http/httputil's chunked reader on the same bytes:
// the data it returns, and its error (nil at the last chunk).
func theirChunked(in []byte) ([]byte, error) {
	out, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReaderSize(bytes.NewReader(in), 4096)))
	return out, err
}

var long = strings.Repeat("a", 4092)

// chunkCase is one chunked body for ChunkedReader.
type chunkCase struct {
	name    string
	in      string
	data    string
	trailer http.Header
	err     string // the *h1.Error reason, or "unexpected EOF"; "" for success
	guard   string // why net/http's chunked reader accepts what this refuses
}

var chunkCases = []chunkCase{
	{name: "one chunk", in: "5\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "two chunks", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", data: "hello world"},
	{name: "empty body", in: "0\r\n\r\n", data: ""},
	{name: "hex sizes", in: "A\r\n0123456789\r\n00000\r\n\r\n", data: "0123456789"},
	{name: "extension", in: "5;name=value \r\nhello\r\n0;x\r\n\r\n", data: "hello"},
	{name: "white space before CRLF", in: "5 \t\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "trailer", in: "5\r\nhello\r\n0\r\nx-checksum: abc\r\nGrpc-Status:  0 \r\n\r\n", data: "hello",
		trailer: http.Header{"X-Checksum": {"abc"}, "Grpc-Status": {"0"}}},
	{name: "16 hex digits", in: "0000000000000005\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "longest chunk line", in: "5;" + long + "\r\nhello\r\n0\r\n\r\n", data: "hello"},

	{name: "17 hex digits", in: "00000000000000005\r\nhello\r\n0\r\n\r\n", err: "chunk size not 1 to 16 hex digits"},
	{name: "empty size", in: "\r\nhello\r\n0\r\n\r\n", err: "chunk size not 1 to 16 hex digits"},
	{name: "sign", in: "+5\r\nhello\r\n0\r\n\r\n", err: "chunk size not 1 to 16 hex digits"},
	{name: "space inside", in: "5 5\r\nhello\r\n0\r\n\r\n", err: "chunk size not 1 to 16 hex digits"},
	{name: "0x", in: "0x5\r\nhello\r\n0\r\n\r\n", err: "chunk size not 1 to 16 hex digits"},
	{name: "bare LF chunk line", in: "5\nhello\r\n0\r\n\r\n", err: "chunk line not ended by CRLF, or with a CR inside"},
	{name: "LF-only chunk line (fuzz)", in: "\n", err: "chunk line not ended by CRLF, or with a CR inside"},
	{name: "CR in chunk line", in: "5;a\rb\r\nhello\r\n0\r\n\r\n", err: "chunk line not ended by CRLF, or with a CR inside"},
	{name: "chunk line too long", in: "5;" + long + "a\r\nhello\r\n0\r\n\r\n", err: "chunk line of 4 KiB or more"},
	{name: "no CRLF after data", in: "5\r\nhelloX\r\n0\r\n\r\n", err: "chunk data not followed by CRLF"},
	{name: "LF only after data", in: "5\r\nhello\n0\r\n\r\n", err: "chunk data not followed by CRLF"},
	{name: "data longer than size", in: "3\r\nhello\r\n0\r\n\r\n", err: "chunk data not followed by CRLF"},
	{name: "truncated data", in: "5\r\nhel", err: "unexpected EOF"},
	{name: "truncated CRLF", in: "5\r\nhello\r", err: "unexpected EOF"},
	{name: "no last chunk", in: "5\r\nhello\r\n", err: "unexpected EOF"},
	{name: "excess non-data", in: strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\na\r\n", 20) + "0\r\n\r\n",
		err: "chunked encoding with too much non-data"},
	{name: "trailer no end", in: "5\r\nhello\r\n0\r\nX: y\r\n", err: "unexpected EOF",
		guard: "httputil's reader stops at the last chunk; net/http's body then fails too"},
	{name: "trailer missing", in: "5\r\nhello\r\n0\r\n", err: "unexpected EOF",
		guard: "httputil's reader stops at the last chunk; net/http's body then fails without a trailer"},
	{name: "trailer obs-fold", in: "5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n", err: "obs-fold in the trailer of a chunked body",
		guard: "httputil's reader stops at the last chunk (guard errTrailerFold)"},
	{name: "trailer no colon", in: "5\r\nhello\r\n0\r\nXy\r\n\r\n", err: "malformed trailer line",
		guard: "httputil's reader stops at the last chunk (guard errTrailerLine)"},
	{name: "trailer CTL", in: "5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n", err: "malformed trailer line",
		guard: "httputil's reader stops at the last chunk (guard errTrailerLine)"},
	{name: "trailer space in name", in: "5\r\nhello\r\n0\r\nX y: a\r\n\r\n", err: "malformed trailer line",
		guard: "stricter than net/http's MIME reader, which tolerates it"},
	{name: "trailer bare LF", in: "5\r\nhello\r\n0\r\nX: y\n\r\n", err: "malformed trailer line",
		guard: "stricter than net/http's MIME reader"},
	{name: "trailer too long", in: "5\r\nhello\r\n0\r\nX: " + strings.Repeat("v", 4100) + "\r\n\r\n", err: "trailer over 4 KiB",
		guard: "httputil's reader stops at the last chunk (guard errTrailerLong)"},
	{name: "trailer just fits", in: "5\r\nhello\r\n0\r\nX: " + strings.Repeat("v", 4096-7) + "\r\n\r\n", data: "hello",
		trailer: http.Header{"X": {strings.Repeat("v", 4096-7)}}},
	{name: "trailer one over", in: "5\r\nhello\r\n0\r\nX: " + strings.Repeat("v", 4096-6) + "\r\n\r\n", err: "trailer over 4 KiB",
		guard: "httputil's reader stops at the last chunk (guard errTrailerLong)"},
}

func TestChunkedReader(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []struct {
				size int
				slow bool
			}{{1, false}, {3, true}, {64 << 10, false}, {64 << 10, true}} {
				trailer := http.Header{}
				data, err := readChunked([]byte(tc.in), trailer, mode.size, mode.slow)
				got := ""
				if err != nil {
					got = err.Error()
					var he *h1.Error
					if errors.As(err, &he) {
						got = he.Reason
					}
				}
				if got != tc.err {
					t.Fatalf("read %d a call (slow %v): error %q, want %q", mode.size, mode.slow, got, tc.err)
				}
				if tc.err != "" {
					continue
				}
				if string(data) != tc.data {
					t.Errorf("data %q, want %q", data, tc.data)
				}
				if tc.trailer == nil {
					tc.trailer = http.Header{}
				}
				if !httpHeaderEqual(trailer, tc.trailer) {
					t.Errorf("trailer %q, want %q", trailer, tc.trailer)
				}
			}
			theirs, theirErr := theirChunked([]byte(tc.in))
			switch {
			case tc.err == "" && (theirErr != nil || string(theirs) != tc.data):
				t.Errorf("accepted %q, httputil gives %q, %v", tc.data, theirs, theirErr)
			case tc.err != "" && theirErr == nil && tc.guard == "":
				t.Errorf("refused, httputil accepts, and the row names no rule")
			case tc.err != "" && theirErr != nil && tc.guard != "":
				t.Errorf("row names rule %q, but httputil refuses too: %v", tc.guard, theirErr)
			}
		})
	}
}

func httpHeaderEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestChunkedReaderEOFWithData checks that a body whose end is buffered
// ends with its last data (no extra Read for the loop to make).
func TestChunkedReaderEOFWithData(t *testing.T) {
	var cr h1.ChunkedReader
	cr.Reset(bufio.NewReader(strings.NewReader("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n")), nil)
	p := make([]byte, 100)
	n, err := cr.Read(p)
	if string(p[:n]) != "hello" || err != io.EOF {
		t.Errorf("Read = %q, %v; want \"hello\", EOF", p[:n], err)
	}
}

// TestChunkedReaderSticky checks that an error stays: nothing after a
// framing error is read.
func TestChunkedReaderSticky(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("5\r\nhelloXX0\r\n\r\n"))
	var cr h1.ChunkedReader
	cr.Reset(br, nil)
	_, err := io.ReadAll(&cr)
	var he *h1.Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v, want an *h1.Error", err)
	}
	if n, err2 := cr.Read(make([]byte, 10)); n != 0 || err2 != err {
		t.Errorf("Read after the error = %d, %v; want 0, %v", n, err2, err)
	}
}

// TestChunkedReaderAllocs checks that reading a body allocates nothing.
func TestChunkedReaderAllocs(t *testing.T) {
	in := []byte("5\r\nhello\r\n6\r\n world\r\n400\r\n" + strings.Repeat("x", 1024) + "\r\n0\r\n\r\n")
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	var cr h1.ChunkedReader
	p := make([]byte, 100)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(r)
		cr.Reset(br, nil)
		for {
			_, err := cr.Read(p)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per body, want 0", allocs)
	}
}

func TestChunkedReaderNotReset(t *testing.T) {
	var cr h1.ChunkedReader
	if _, err := cr.Read(make([]byte, 1)); err == nil {
		t.Error("Read before Reset succeeded")
	}
}

// segmentReader serves its parts one per Read, and fails the test when a
// Read reaches it while the reader under test said none would.
type segmentReader struct {
	t     *testing.T
	parts [][]byte
	allow bool
}

func (s *segmentReader) Read(p []byte) (int, error) {
	if !s.allow {
		s.t.Fatal("a Read that Ready said would not wait read the connection")
	}
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	if s.parts[0] = s.parts[0][n:]; len(s.parts[0]) == 0 {
		s.parts = s.parts[1:]
	}
	return n, nil
}

// TestChunkedReaderReadyNeverWaits reads chunked bodies (extensions,
// trailers, a request pipelined after them) that arrive cut at random
// places: whenever Ready says a Read would not wait, the Read must not
// read the connection, and the body must come out whole all the same.
// The proxy relies on it to take a small chunked body that has arrived
// whole without waiting for one that has not.
func TestChunkedReaderReadyNeverWaits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	readies := 0
	for i := 0; i < 3000; i++ {
		var wire, want bytes.Buffer
		for range rng.IntN(6) {
			data := bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, 1+rng.IntN([...]int{10, 300, 3000}[rng.IntN(3)]))
			ext := [...]string{"", ";x=y", ";x"}[rng.IntN(3)]
			fmt.Fprintf(&wire, "%x%s\r\n%s\r\n", len(data), ext, data)
			want.Write(data)
		}
		wire.WriteString([...]string{"0\r\n\r\n", "000;e\r\n\r\n", "0\r\nX-T: v\r\nX-U: w\r\n\r\n"}[rng.IntN(3)])
		wire.WriteString("GET /next HTTP/1.1\r\n\r\n")
		b := wire.Bytes()
		src := &segmentReader{t: t, allow: true}
		// One cut falls among the last chunk line and the trailer (the
		// last 60 bytes before the next request), the others anywhere.
		end := len(b) - len("GET /next HTTP/1.1\r\n\r\n")
		cut := max(end-rng.IntN(60), 1)
		for off := 0; off < len(b); {
			n := 1 + rng.IntN(min(len(b)-off, [...]int{3, 20, 200, 5000}[rng.IntN(4)]))
			if off < cut && off+n > cut {
				n = cut - off
			}
			src.parts = append(src.parts, b[off:off+n])
			off += n
		}
		br := bufio.NewReaderSize(src, 4096)
		var cr h1.ChunkedReader
		cr.Reset(br, nil)
		var got bytes.Buffer
		buf := make([]byte, 1+rng.IntN(8000))
		for {
			ready := cr.Ready()
			if ready {
				readies++
			}
			src.allow = !ready
			n, err := cr.Read(buf)
			src.allow = true
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "stream %d", i)
		}
		require.Equal(t, want.Len(), got.Len(), "stream %d", i)
		require.True(t, bytes.Equal(want.Bytes(), got.Bytes()), "stream %d", i)
		require.True(t, cr.Ready(), "a body at its end is ready")
		rest, _ := io.ReadAll(br)
		require.Equal(t, "GET /next HTTP/1.1\r\n\r\n", string(rest), "stream %d: the next request is left as it came", i)
	}
	assert.Greater(t, readies, 3000, "Ready said yes too seldom for the test to mean much")
}
