package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedAll feeds stream to a framer for the request lines reqs, in pieces
// of step bytes, as respGuardConn does: it stops at the first error. It
// returns the bytes delivered and that error.
func feedAll(reqs []string, stream string, step int) (int, error) {
	f := respFramer{maxHead: 1 << 20}
	for _, r := range reqs {
		f.push([]byte(r))
	}
	b := []byte(stream)
	total := 0
	for len(b) > 0 {
		n := min(step, len(b))
		at, err := f.feed(b[:n])
		total += at
		if err != nil {
			return total, err
		}
		if at != n {
			return total, errors.New("short delivery without an error")
		}
		b = b[n:]
	}
	return total, nil
}

func TestRespFramer(t *testing.T) {
	const (
		head204  = "HTTP/1.1 204 No Content\r\nX: y\r\n\r\n"
		ok5      = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		chunked  = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"
		upgrade  = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n"
	)
	tests := []struct {
		name    string
		reqs    []string
		stream  string
		deliver int    // bytes delivered; -1: all of stream
		err     string // substring of the error; "" for none
	}{
		{name: "content-length exact", reqs: []string{"GET /a HTTP/1.1"}, stream: ok5, deliver: -1},
		{name: "content-length then extra", reqs: []string{"GET /a HTTP/1.1"}, stream: ok5 + "XY", deliver: len(ok5), err: "unsolicited bytes after the response to a GET request: the connection is not reused"},
		{name: "204 exact", reqs: []string{"GET /a HTTP/1.1"}, stream: head204, deliver: -1},
		{name: "204 with a body", reqs: []string{"GET /a HTTP/1.1"}, stream: head204 + ok5, deliver: len(head204), err: "unsolicited bytes after the response to a GET request"},
		{name: "204 with content-length", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", deliver: len("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"), err: "unsolicited"},
		{name: "304 with a body", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 304 Not Modified\r\n\r\nbody", deliver: len("HTTP/1.1 304 Not Modified\r\n\r\n"), err: "unsolicited"},
		{name: "HEAD with a body", reqs: []string{"HEAD /x HTTP/1.1"}, stream: ok5, deliver: len(ok5) - 5, err: "unsolicited bytes after the response to a HEAD request"},
		{name: "HEAD then GET", reqs: []string{"HEAD /x HTTP/1.1", "GET /y HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + ok5, deliver: -1},
		{name: "chunked exact", reqs: []string{"GET /a HTTP/1.1"}, stream: chunked, deliver: -1},
		{name: "chunked with extension and trailer", reqs: []string{"GET /a HTTP/1.1"}, stream: trailers, deliver: -1},
		{name: "chunked then extra", reqs: []string{"GET /a HTTP/1.1"}, stream: chunked + "\r\n", deliver: len(chunked), err: "unsolicited"},
		{name: "chunked overrides content-length", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", deliver: -1},
		{name: "HTTP/1.0 ignores transfer-encoding", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc0\r\n\r\n", deliver: len("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), err: "unsolicited"},
		{name: "interim responses then final", reqs: []string{"POST /a HTTP/1.1"}, stream: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" + ok5, deliver: -1},
		{name: "interim to HEAD", reqs: []string{"HEAD /a HTTP/1.1"}, stream: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", deliver: -1},
		{name: "close-delimited body", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\n\r\nanything at all HTTP/1.1 200 OK\r\n\r\n", deliver: -1},
		{name: "upgrade passes through", reqs: []string{"GET /ws HTTP/1.1"}, stream: upgrade + "\x81\x05hello\x00\x00HTTP/1.1 200 OK\r\n", deliver: -1},
		{name: "101 without Connection upgrade has no body", reqs: []string{"GET /ws HTTP/1.1"}, stream: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxx", deliver: len("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), err: "unsolicited"},
		{name: "bare LF head", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\nContent-Length: 1\n\nz", deliver: -1},
		{name: "idle connection", stream: "HTTP/1.1 200 OK\r\n\r\n", deliver: 0, err: "unsolicited bytes on an idle connection"},
		{name: "status 099", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 099 Odd\r\n\r\n", deliver: 0, err: "status code outside 100-599"},
		{name: "status line garbage", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 2OO OK\r\n\r\n", deliver: 0, err: "malformed status line"},
		{name: "leading CRLF is not a status line", reqs: []string{"GET /a HTTP/1.1"}, stream: "\r\n" + ok5, deliver: 0, err: "malformed status line"},
		{name: "HTTP/2 status line", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/2.0 200 OK\r\n\r\n", deliver: 0, err: "malformed status line"},
		{name: "conflicting content-lengths", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", deliver: 0, err: "different values"},
		{name: "same content-length twice", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nab", deliver: -1},
		{name: "signed content-length", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", deliver: 0, err: "invalid Content-Length"},
		{name: "transfer-encoding gzip", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab", deliver: 0, err: "unsupported Transfer-Encoding"},
		{name: "two transfer-encodings", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", deliver: 0, err: "unsupported Transfer-Encoding"},
		{name: "obs-fold in content-length", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 0\r\n\r\nz", deliver: 0, err: "obs-fold"},
		{name: "obs-fold in transfer-encoding", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n", deliver: 0, err: "obs-fold"},
		{name: "obs-fold before any field", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\n X: y\r\nContent-Length: 0\r\n\r\n", deliver: 0, err: "obs-fold"},
		{name: "obs-fold elsewhere is joined", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", deliver: -1},
		{name: "ten interim responses", reqs: []string{"GET /a HTTP/1.1"}, stream: strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 10) + ok5, deliver: -1},
		{name: "eleven interim responses", reqs: []string{"GET /a HTTP/1.1"}, stream: strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 11) + ok5, deliver: 0, err: "more than 10 informational (1xx) responses"},
		{name: "header without colon", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", deliver: 0, err: "without a colon"},
		{name: "chunk size not hex", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", deliver: 0, err: "chunk size"},
		{name: "chunk data without CRLF", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX0\r\n\r\n", deliver: 0, err: "not followed by CRLF"},
		{name: "chunk line with bare LF", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n", deliver: 0, err: "CRLF"},
		{name: "malformed trailer", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", deliver: 0, err: "malformed trailer"},
		{name: "CR inside a header line", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", deliver: 0, err: "CR inside"},
		{name: "long chunk line", reqs: []string{"GET /a HTTP/1.1"}, stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 5000) + "\r\n", deliver: 0, err: "chunk line of 4 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.deliver
			if want < 0 {
				want = len(tt.stream)
			}
			// The result must not depend on how the stream is split.
			for _, step := range []int{len(tt.stream), 1, 2, 7} {
				got, err := feedAll(tt.reqs, tt.stream, step)
				if tt.err == "" {
					require.NoError(t, err, "step %d", step)
				} else {
					require.Error(t, err, "step %d", step)
					assert.Contains(t, err.Error(), tt.err, "step %d", step)
					var fe *errOriginFraming
					assert.True(t, errors.As(err, &fe), "error type")
				}
				if step == len(tt.stream) || tt.err == "" || strings.Contains(tt.err, "unsolicited") {
					assert.Equal(t, want, got, "bytes delivered, step %d", step)
				} else {
					assert.LessOrEqual(t, got, len(tt.stream), "step %d", step)
				}
			}
		})
	}
}

// TestRespFramerNoAllocs: following a keep-alive exchange allocates
// nothing once the request queue has room.
func TestRespFramerNoAllocs(t *testing.T) {
	f := respFramer{maxHead: 1 << 20}
	req := []byte("GET /a HTTP/1.1")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	f.push(req)
	_, err := f.feed(resp)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		f.push(req)
		if _, err := f.feed(resp); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// stray is the tag of a response an origin sends that no request asked
// for.
const stray = "stray"

// misbehavingOrigin answers each request on a raw TCP connection with a
// response tagged with the request's path, followed (by the path's
// kind) by bytes that its framing does not cover: a whole response tagged
// "stray", in the same write.
type misbehavingOrigin struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startMisbehavingOrigin(t *testing.T) *misbehavingOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o := &misbehavingOrigin{ln: ln, conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			o.conns[c] = struct{}{}
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				o.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		o.mu.Lock()
		for c := range o.conns {
			c.Close()
		}
		o.mu.Unlock()
		o.wg.Wait()
	})
	return o
}

// answer is what the origin writes for a request with tag and kind.
func answer(method, tag, kind string) string {
	strayResp := "HTTP/1.1 200 OK\r\nX-Tag: " + stray + "\r\nContent-Length: 5\r\n\r\n" + stray
	body := "tag=" + tag
	switch kind {
	case "204":
		return "HTTP/1.1 204 No Content\r\nX-Tag: " + tag + "\r\n\r\n" + strayResp
	case "304":
		return "HTTP/1.1 304 Not Modified\r\nX-Tag: " + tag + "\r\n\r\n" + strayResp
	case "head":
		if method == http.MethodHead {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s", tag, len(strayResp), strayResp)
		}
	case "cl":
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s%s", tag, len(body), body, strayResp)
	case "big":
		// The Transport reads the rest of a large body with a read of
		// exactly its remaining length: the stray bytes stay unread in
		// the socket until the next read.
		big := body + strings.Repeat(".", 20000)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s%s", tag, len(big), big, strayResp)
	case "chunked":
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s", tag, len(body), body, strayResp)
	}
	if method == http.MethodHead {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: 9\r\n\r\n", tag)
	}
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s", tag, len(body), body)
}

func (o *misbehavingOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		// The path is /<kind>/<tag>.
		kind, tag, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
		if _, err := io.WriteString(c, answer(req.Method, tag, kind)); err != nil {
			return
		}
	}
}

// TestRespGuardTransportCrossTalk: through the h1 Transport NewTransports
// builds, against an origin that follows some responses with bytes no
// request asked for, every request gets its own response or an error,
// never the stray one. Many callers share few connections, so requests
// wait for a connection that the previous exchange is about to return.
func TestRespGuardTransportCrossTalk(t *testing.T) {
	o := startMisbehavingOrigin(t)
	tr := NewTransports(TransportConfig{})
	t.Cleanup(tr.CloseIdle)
	h1 := tr.h1
	h1.MaxConnsPerHost = 8 // callers wait for a connection

	const callers, requests = 32, 200
	kinds := []string{"ok", "204", "304", "head", "cl", "chunked", "big", "ok"}
	var crossed, failed, good atomic.Int64
	var firstCross atomic.Value
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copyBuf := make([]byte, 32<<10)
			for i := range requests {
				tag := fmt.Sprintf("c%di%d", c, i)
				kind := kinds[(c+i)%len(kinds)]
				method := http.MethodGet
				if (c+i)%3 == 0 {
					method = http.MethodHead
				}
				req, err := http.NewRequestWithContext(context.Background(), method, "http://"+o.ln.Addr().String()+"/"+kind+"/"+tag, nil)
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := h1.RoundTrip(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				// Read as the proxy copies: into a 32 KiB buffer, so that
				// the Transport reads a body's rest with one exact read.
				var bb strings.Builder
				_, err = io.CopyBuffer(struct{ io.Writer }{&bb}, resp.Body, copyBuf)
				resp.Body.Close()
				body := bb.String()
				switch got := resp.Header.Get("X-Tag"); {
				case got != tag:
					crossed.Add(1)
					firstCross.CompareAndSwap(nil, fmt.Sprintf("%s %s got the response tagged %q", method, tag, got))
				case err != nil:
					failed.Add(1)
				case method == http.MethodGet && resp.StatusCode == http.StatusOK && !strings.HasPrefix(body, "tag="+tag):
					crossed.Add(1)
					firstCross.CompareAndSwap(nil, fmt.Sprintf("%s %s got the body %q", method, tag, body))
				default:
					good.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d good, %d errors, %d crossed", good.Load(), failed.Load(), crossed.Load())
	if n := crossed.Load(); n > 0 {
		t.Fatalf("%d of %d requests got another request's response; first: %v", n, callers*requests, firstCross.Load())
	}
	assert.Greater(t, good.Load(), int64(callers*requests/2), "most requests are answered")
}

// TestRespGuardConnExactRead: a read that fills its buffer exactly at the
// end of a response (the Transport reads the rest of a Content-Length body
// so) leaves the origin's extra bytes in the socket; a request written
// next must not get them as its response.
func TestRespGuardConnExactRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	const extra = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err == nil {
			_ = req.Body.Close()
			_, err = io.WriteString(c, resp+extra) // one write: both arrive together
		}
		if err == nil {
			// Until the client closes, with the stray bytes unread (a
			// reset, then).
			_, _ = io.Copy(io.Discard, br)
		}
		served <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c := newRespGuardConn(raw, 1<<20)
	defer func() {
		c.Close()
		require.NoError(t, <-served)
	}()

	_, err = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	p := make([]byte, len(resp))
	_, err = io.ReadFull(c, p) // reads of exactly what is left
	require.NoError(t, err)
	assert.Equal(t, resp, string(p))

	// The request that was waiting for a connection is written now: it
	// is not sent, and its read fails.
	_, err = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unsolicited bytes after the response to a GET request")
	n, err := c.Read(make([]byte, 4096))
	assert.Zero(t, n, "bytes delivered to the second request")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unsolicited bytes after the response to a GET request")
}

// TestRespGuardConnUpgrade: after a 101 that switches protocols, reads and
// writes pass through.
func TestRespGuardConnUpgrade(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newRespGuardConn(client, 1<<20)
	defer c.Close()
	const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		n, err := server.Read(buf)
		if err == nil && !strings.HasPrefix(string(buf[:n]), "GET /ws HTTP/1.1") {
			err = fmt.Errorf("request %q", buf[:n])
		}
		if err == nil {
			_, err = io.WriteString(server, head+"frame-1")
		}
		if err == nil {
			n, err = server.Read(buf)
			if err == nil && string(buf[:n]) != "GET / HTTP/1.1\r\n\r\n" {
				err = fmt.Errorf("after the switch %q", buf[:n])
			}
		}
		if err == nil {
			_, err = io.WriteString(server, "HTTP/1.1 200 OK\r\n\r\n")
		}
		done <- err
	}()
	_, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	p := make([]byte, len(head)+len("frame-1"))
	_, err = io.ReadFull(c, p)
	require.NoError(t, err)
	assert.Equal(t, head+"frame-1", string(p))
	// Bytes that look like HTTP are just data now, both ways.
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\n\r\n")
	require.NoError(t, err)
	p = make([]byte, len("HTTP/1.1 200 OK\r\n\r\n"))
	_, err = io.ReadFull(c, p)
	require.NoError(t, err)
	require.NoError(t, <-done)
}

// TestRespGuardTransportUpgrade: through the h1 Transport, a 101 switches
// the connection to the caller's protocol, and bytes that look like HTTP
// pass both ways.
func TestRespGuardTransportUpgrade(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			served <- err
			return
		}
		_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHTTP/1.1 200 hello\r\n")
		if err == nil {
			_, err = io.Copy(c, br) // echo until the caller closes
		}
		served <- err
	}()
	tr := NewTransports(TransportConfig{})
	defer tr.CloseIdle()
	req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/up", nil)
	require.NoError(t, err)
	req.Header.Set("Upgrade", "echo")
	req.Header.Set("Connection", "Upgrade")
	resp, err := tr.h1.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "the body of a 101 is the connection")
	defer rwc.Close()
	p := make([]byte, len("HTTP/1.1 200 hello\r\n"))
	_, err = io.ReadFull(rwc, p)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 200 hello\r\n", string(p))
	const msg = "GET /not-a-request HTTP/1.1\r\n\r\n"
	_, err = io.WriteString(rwc, msg)
	require.NoError(t, err)
	p = make([]byte, len(msg))
	_, err = io.ReadFull(rwc, p)
	require.NoError(t, err)
	assert.Equal(t, msg, string(p))
	require.NoError(t, rwc.Close())
	require.NoError(t, <-served)
}

// cannedConn answers every Read with resp and accepts every Write.
type cannedConn struct {
	net.Conn
	resp []byte
}

func (c *cannedConn) Read(p []byte) (int, error)  { return copy(p, c.resp), nil }
func (c *cannedConn) Write(p []byte) (int, error) { return len(p), nil }

// TestRespGuardConnNoAllocs: a keep-alive exchange through the guard
// allocates nothing once the connection is set up.
func TestRespGuardConnNoAllocs(t *testing.T) {
	tests := []struct {
		name string
		req  string
		resp string
	}{
		{name: "GET, Content-Length", req: "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "GET, chunked", req: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "POST, chunked body", req: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", resp: "HTTP/1.1 204 No Content\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRespGuardConn(&cannedConn{resp: []byte(tt.resp)}, 1<<20)
			req := []byte(tt.req)
			buf := make([]byte, 4096)
			exchange := func() {
				if _, err := c.Write(req); err != nil {
					t.Fatal(err)
				}
				if n, err := c.Read(buf); err != nil || n != len(tt.resp) {
					t.Fatalf("read %d, %v", n, err)
				}
			}
			exchange()
			assert.Zero(t, testing.AllocsPerRun(100, exchange))
		})
	}
}

// TestReqFramer: the write side finds every request line net/http writes,
// whatever the bodies, and however the writes are split.
func TestReqFramer(t *testing.T) {
	long := "/" + strings.Repeat("p", 600)
	tests := []struct {
		name    string
		written string
		want    []string // request lines seen (kept part)
		err     string
	}{
		{name: "no bodies", written: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n", want: []string{"GET /a HTTP/1.1", "HEAD /b HTTP/1.1"}},
		{name: "content-length body that looks like a request", written: "POST /a HTTP/1.1\r\nContent-Length: 20\r\n\r\nHEAD /x HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", want: []string{"POST /a HTTP/1.1", "GET /b HTTP/1.1"}},
		{name: "chunked body and trailer", written: "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n12\r\nHEAD /x HTTP/1.1\r\n\r\n0\r\nT: v\r\n\r\nDELETE /b HTTP/1.1\r\n\r\n", want: []string{"PUT /a HTTP/1.1", "DELETE /b HTTP/1.1"}},
		{name: "long target", written: "GET " + long + " HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n", want: []string{("GET " + long)[:respLineKeep], "GET /c HTTP/1.1"}},
		{name: "transfer-encoding not followed", written: "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", want: []string{"POST /a HTTP/1.1"}, err: "unsupported Transfer-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.written), 1, 5} {
				var got []string
				f := respFramer{maxHead: 1 << 30, sent: func(l []byte) { got = append(got, string(l)) }}
				var err error
				for b := []byte(tt.written); len(b) > 0 && err == nil; {
					n := min(step, len(b))
					_, err = f.feed(b[:n])
					b = b[n:]
				}
				assert.Equal(t, tt.want, got, "step %d", step)
				if tt.err == "" {
					assert.NoError(t, err, "step %d", step)
				} else if assert.Error(t, err, "step %d", step) {
					assert.Contains(t, err.Error(), tt.err)
				}
			}
		})
	}
}

// TestRespGuardTransportIdleBytes: bytes an origin sends on a pooled,
// idle connection answer nothing; the next request gets its own response
// (on another connection) or an error, never those bytes.
func TestRespGuardTransportIdleBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					tag := strings.TrimPrefix(req.URL.Path, "/")
					if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s", tag, len(tag), tag); err != nil {
						return
					}
				}
			}()
		}
	}()
	defer func() {
		ln.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
	}()
	tr := NewTransports(TransportConfig{})
	defer tr.CloseIdle()
	get := func(tag string) (string, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/"+tag, nil)
		require.NoError(t, err)
		resp, err := tr.h1.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("X-Tag"), err
	}
	for i := range 20 {
		tag, err := get(fmt.Sprintf("probe%d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("probe%d", i), tag)
		// The origin speaks, unasked, on the connection just pooled.
		oc := <-conns
		_, err = io.WriteString(oc, "HTTP/1.1 200 OK\r\nX-Tag: poison\r\nContent-Length: 0\r\n\r\n")
		require.NoError(t, err)
		want := fmt.Sprintf("follow%d", i)
		if tag, err := get(want); err == nil {
			require.Equal(t, want, tag, "round %d", i)
		}
	}
}
