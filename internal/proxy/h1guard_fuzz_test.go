package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// goRequestLines parses a client byte stream the way net/http's server
// does, and returns the request line of every request it would serve
// before it closes the connection.
func goRequestLines(stream []byte) []string {
	lines, _ := goRequests(stream)
	return lines
}

// goRequests is goRequestLines, and also says whether net/http failed to
// read the body of the last request for a reason other than the end of
// the stream.
func goRequests(stream []byte) (lines []string, badBody bool) {
	br := bufio.NewReader(bytes.NewReader(stream))
	lastPOST := false
	for {
		if lastPOST {
			// The server forgives up to 4 CR/LF bytes after a POST.
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = br.Discard(n)
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return lines, false
		}
		pri := req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*"
		if req.ProtoMajor != 1 && !pri {
			return lines, false // 505
		}
		// ReadRequest moves Host to req.Host (and refuses two); the server
		// refuses an HTTP/1.1 request without one. (It accepts an empty
		// Host, which this treats as missing: the oracle stops early.)
		if req.ProtoAtLeast(1, 1) && !pri && req.Method != "CONNECT" && req.Host == "" {
			return lines, false // 400
		}
		if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
			return lines, false // 417, then close
		}
		lines = append(lines, req.Method+" "+req.RequestURI+" "+req.Proto)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return lines, err != io.ErrUnexpectedEOF
		}
		if req.Close || req.Method == "CONNECT" {
			return lines, false
		}
		lastPOST = req.Method == "POST"
	}
}

// FuzzH1Framer checks the framer against net/http on arbitrary client byte
// streams: it never panics; how the stream is split into reads does not
// change what it decides; and it stays in step with net/http, following
// the same requests in the same order, for as long as it neither refused
// a head nor stopped looking. A framer that fell out of step could let a
// refused head through, or refuse a good one.
func FuzzH1Framer(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nxGET / HTTP/1.1\nHost: a\n\n",
		"PRI * HTTP/2.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		// Chunked bodies that break their framing (issue 14, defect 2).
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXXGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nabc\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		type verdict struct {
			lines []string
			err   error
			at    int // absolute offset delivered before the refusal
			pass  bool
		}
		run := func(chunk int) verdict {
			var v verdict
			fr := h1Framer{maxHead: 1 << 20, seen: func(l []byte) { v.lines = append(v.lines, string(l)) }}
			for off := 0; off < len(stream); off += chunk {
				end := min(off+chunk, len(stream))
				if fr.state == stPass {
					break
				}
				if at, err := fr.feed(stream[off:end]); err != nil {
					v.err, v.at = err, off+at
					return v
				}
			}
			v.pass = fr.state == stPass
			return v
		}
		whole := run(len(stream) + 1)
		pieces := run(int(split%16) + 1)
		if (whole.err == nil) != (pieces.err == nil) || whole.pass != pieces.pass || len(whole.lines) != len(pieces.lines) {
			t.Fatalf("splitting changed the verdict: whole %+v, in pieces of %d %+v", whole, split%16+1, pieces)
		}
		if whole.err != nil && whole.err.(*errFraming).h2 {
			return // an HTTP/2 connection: net/http's HTTP/1 reader is no oracle
		}
		if whole.err != nil {
			// What is delivered before the refusal (which depends on how
			// the stream arrived) never holds the whole refused head:
			// net/http serves only the requests before it.
			served := len(whole.lines)
			body := whole.err.(*errFraming).body
			if !body {
				served--
			}
			for _, v := range []verdict{whole, pieces} {
				if got := goRequestLines(stream[:v.at]); len(got) > served {
					t.Fatalf("net/http can serve the refused head from the %d bytes delivered: %q", v.at, got)
				}
			}
		}
		goLines, badBody := goRequests(stream)
		if whole.err != nil && whole.err.(*errFraming).body && whole.err != errTrailerFold &&
			(len(goLines) > len(whole.lines) || (len(goLines) == len(whole.lines) && !badBody)) {
			// The framer refuses a body only where net/http's chunked
			// reader does (it joins a folded trailer line instead), or
			// where net/http refused the stream earlier.
			t.Fatalf("the framer refused the body of request %d (%v); net/http serves %q (body refused: %v)", len(whole.lines), whole.err, goLines, badBody)
		}
		for i, l := range goLines {
			if i >= len(whole.lines) {
				if whole.err != nil || whole.pass {
					break // the framer refused or stopped before this one
				}
				t.Fatalf("net/http serves request %d (%q) that the framer did not see; framer saw %q", i, l, whole.lines)
			}
			// The framer keeps the raw line; net/http's is rebuilt from
			// its parts, equal for the lines net/http accepts.
			if strings.TrimSuffix(whole.lines[i], "\r") != l {
				t.Fatalf("request %d: net/http serves %q, the framer saw %q", i, l, whole.lines[i])
			}
		}
	})
}
