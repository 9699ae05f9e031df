package e2e

// Bad input at the proxy port. Every case names the status a client gets
// and whether the request reached the backend; proxy-made answers carry
// l5d-err, answers net/http makes before the proxy sees the request
// (malformed heads) do not. Requests a Go client would not send are
// written on raw TCP connections, and HTTP/2 attacks with an
// x/net/http2 Framer on a raw connection.

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawResult is the outcome of one raw exchange: a response, or how the
// connection ended without one.
type rawResult struct {
	Status int
	Header http.Header
	Body   string
	Err    error // set when no response came
}

func (r rawResult) String() string {
	if r.Err != nil {
		return "no response: " + r.Err.Error()
	}
	return fmt.Sprintf("%d l5d-err=%q body=%q", r.Status, r.Header.Get("l5d-err"), r.Body)
}

// rawExchange writes raw on a new connection to addr and reads one
// response (or the connection's end) within timeout.
func rawExchange(t testing.TB, addr, raw string, timeout time.Duration) rawResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(timeout)))
	if _, err := io.WriteString(conn, raw); err != nil {
		return rawResult{Err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawResult{Err: err}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return rawResult{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// badInputBackend records the requests it gets by their X-Case header
// and has handlers for the disconnect tests:
//
//	/hang        waits for the request's context to end
//	/hang-body   reads the body until it fails or ends, then waits too
//
// Both report on started and ended.
type badInputBackend struct {
	*Backend
	mu      sync.Mutex
	cases   map[string]int
	started chan string      // X-Case of a /hang* request that began
	ended   chan hangOutcome // how it ended
}

type hangOutcome struct {
	Case    string
	BodyErr error // /hang-body: the body read error
}

func startBadInputBackend(t *testing.T) *badInputBackend {
	t.Helper()
	b := &badInputBackend{cases: map[string]int{}, started: make(chan string, 16), ended: make(chan hangOutcome, 16)}
	b.Backend = startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Header.Get("X-Case")
		b.mu.Lock()
		b.cases[c]++
		b.mu.Unlock()
		switch r.URL.Path {
		case "/hang":
			b.started <- c
			<-r.Context().Done()
			b.ended <- hangOutcome{Case: c}
			return
		case "/hang-body":
			b.started <- c
			_, err := io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			b.ended <- hangOutcome{Case: c, BodyErr: err}
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "backend: body: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "ok %d", n)
	}))
	return b
}

// saw reports how many requests with X-Case c reached the backend.
func (b *badInputBackend) saw(c string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cases[c]
}

// badInputLimits are the limits the bad-input proxy runs with.
var badInputLimits = map[string]string{
	"SLINKERD_READ_HEADER_TIMEOUT":    "1s",
	"SLINKERD_BODY_READ_TIMEOUT":      "1s",
	"SLINKERD_MAX_REQUEST_BODY_BYTES": "4096",
}

func startBadInputProxy(t *testing.T, be *Backend, extra map[string]string) *Proc {
	t.Helper()
	env := map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port)}
	for k, v := range badInputLimits {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return startSlinkerd(t, env)
}

// TestBadInputHTTP1 sends malformed and hostile HTTP/1.1 requests on raw
// connections. For each: the status, whether the proxy made it (l5d-err),
// and that a refused request never reached the backend.
func TestBadInputHTTP1(t *testing.T) {
	t.Parallel()
	be := startBadInputBackend(t)
	p := startBadInputProxy(t, be.Backend, nil)
	backendAddr := fmt.Sprintf("127.0.0.1:%d", be.Port)

	const (
		viaNet   = false // net/http answered: no l5d-err
		viaProxy = true  // the proxy answered: l5d-err
		never    = 0     // the backend never gets the request
		always   = 1
		maybe    = 2 // refused while its body streams: the head may have gone ahead
	)
	tests := []struct {
		name      string
		head      string // request line and headers; "Host: web" and "X-Case" are added
		noHost    bool   // do not add Host
		body      string
		status    int  // 0: the connection closes without a response
		l5dErr    bool // the answer carries l5d-err
		forwarded int  // whether the backend gets the request: never, always or maybe
	}{
		// A control: the well-formed request, with bare LF line ends
		// (which RFC 9112 lets a server accept).
		{name: "well-formed", head: "GET / HTTP/1.1", status: 200, forwarded: always},

		// Malformed request lines.
		{name: "request line: extra token", head: "GET / HTTP/1.1 x", status: 400, l5dErr: viaNet},
		{name: "request line: two spaces", head: "GET  / HTTP/1.1", status: 400},
		{name: "request line: HTTP/0.9 form", head: "GET /", status: 400},
		{name: "request line: malformed version", head: "GET / HTTP/1.x", status: 400},
		{name: "request line: lower-case version", head: "GET / http/1.1", status: 400},
		{name: "request line: HTTP/2.0 on HTTP/1", head: "GET / HTTP/2.0", status: 505},
		{name: "request line: HTTP/9.9", head: "GET / HTTP/9.9", status: 505},
		{name: "request line: invalid method", head: "G(T / HTTP/1.1", status: 400},
		{name: "request line: space in target", head: "GET /a b HTTP/1.1", status: 400},
		{name: "request line: target not a path", head: "GET foo HTTP/1.1", status: 400},
		{name: "request line: NUL in target", head: "GET /\x00 HTTP/1.1", status: 400},
		{name: "request line: TLS handshake on the cleartext port", head: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", noHost: true, status: 400},

		// Message framing (request smuggling).
		{name: "framing: Content-Length and Transfer-Encoding", head: "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", body: "0\r\n\r\n", status: 400},
		{name: "framing: Transfer-Encoding and Content-Length, lower case", head: "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5", body: "0\r\n\r\n", status: 400},
		{name: "framing: Transfer-Encoding on HTTP/1.0", head: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked", body: "0\r\n\r\n", status: 400},
		{name: "framing: two different Content-Lengths", head: "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4", body: "abcd", status: 400},
		{name: "framing: Content-Length list", head: "POST / HTTP/1.1\r\nContent-Length: 3, 4", body: "abcd", status: 400},
		{name: "framing: signed Content-Length", head: "POST / HTTP/1.1\r\nContent-Length: +3", body: "abc", status: 400},
		{name: "framing: negative Content-Length", head: "POST / HTTP/1.1\r\nContent-Length: -1", status: 400},
		{name: "framing: Transfer-Encoding gzip, chunked", head: "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked", body: "0\r\n\r\n", status: 501},
		{name: "framing: Transfer-Encoding twice", head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked", body: "0\r\n\r\n", status: 501},
		{name: "framing: malformed chunk size", head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked", body: "zz\r\nabc\r\n0\r\n\r\n", status: 400, l5dErr: viaProxy, forwarded: maybe},
		{name: "framing: chunk data without CRLF", head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked", body: "3\r\nabcX0\r\n\r\n", status: 400, l5dErr: viaProxy, forwarded: maybe},
		{name: "framing: chunk line ending in a bare LF", head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked", body: "3\nabc\r\n0\r\n\r\n", status: 400, l5dErr: viaProxy, forwarded: maybe},

		// Header syntax.
		{name: "header: obs-fold", head: "GET / HTTP/1.1\r\nX-A: one\r\n two", status: 400},
		{name: "header: obs-fold with a tab", head: "GET / HTTP/1.1\r\nX-A: one\r\n\ttwo", status: 400},
		{name: "header: NUL in a value", head: "GET / HTTP/1.1\r\nX-A: o\x00ne", status: 400},
		{name: "header: CR in a value", head: "GET / HTTP/1.1\r\nX-A: o\rne", status: 400},
		{name: "header: CR in a name", head: "GET / HTTP/1.1\r\nX\rA: one", status: 400},
		{name: "header: space before the colon", head: "GET / HTTP/1.1\r\nX-A : one", status: 400},
		{name: "header: invalid name", head: "GET / HTTP/1.1\r\nX(A): one", status: 400},
		{name: "header: empty name", head: "GET / HTTP/1.1\r\n: one", status: 400},
		{name: "header: no colon", head: "GET / HTTP/1.1\r\nX-A", status: 400},
		{name: "header: no Host", head: "GET / HTTP/1.1", noHost: true, status: 400},
		{name: "header: two Hosts", head: "GET / HTTP/1.1\r\nHost: other", status: 400},
		{name: "header: Host with a space", head: "GET / HTTP/1.1\r\nHost: we b", noHost: true, status: 400},
		{name: "header: unknown Expect", head: "GET / HTTP/1.1\r\nExpect: teapot", status: 417},
		{name: "header: malformed l5d-ctx-deadline", head: "GET / HTTP/1.1\r\nl5d-ctx-deadline: soon", status: 400, l5dErr: viaProxy},
		{name: "header: malformed grpc-timeout", head: "GET / HTTP/1.1\r\ngrpc-timeout: 1 second", status: 400, l5dErr: viaProxy},
		{name: "header: routing loop (11 slinkerd Via hops)", head: "GET / HTTP/1.1\r\nVia: " + strings.Repeat("1.1 slinkerd, ", 10) + "1.1 slinkerd", status: 508, l5dErr: viaProxy},

		// Targets that name somewhere else: never forwarded there.
		{name: "target: absolute-form naming another host", head: "GET http://evil.example/ HTTP/1.1", status: 400, l5dErr: viaProxy},
		{name: "target: absolute-form naming the backend's address", head: "GET http://" + backendAddr + "/ HTTP/1.1", status: 400, l5dErr: viaProxy},
		{name: "target: absolute-form https", head: "GET https://" + backendAddr + "/ HTTP/1.1", status: 400, l5dErr: viaProxy},
		{name: "target: CONNECT to the backend's address", head: "CONNECT " + backendAddr + " HTTP/1.1\r\nHost: " + backendAddr, noHost: true, status: 405, l5dErr: viaProxy},
		{name: "target: Host naming the backend's address", head: "GET / HTTP/1.1\r\nHost: " + backendAddr, noHost: true, status: 502, l5dErr: viaProxy},
		{name: "target: OPTIONS *", head: "OPTIONS * HTTP/1.1", status: 200},

		// Sizes: 64 KiB of headers (the default) and 4096 body bytes.
		{name: "size: 60 KiB header", head: "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 60<<10), status: 200, forwarded: always},
		{name: "size: 80 KiB header", head: "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 80<<10), status: 431},
		{name: "size: 2000 headers", head: "GET / HTTP/1.1" + strings.Repeat("\r\nX-Many: 0123456789012345678901234567890123456789", 2000), status: 431},
		{name: "size: body at the limit", head: "POST / HTTP/1.1\r\nContent-Length: 4096", body: strings.Repeat("b", 4096), status: 200, forwarded: always},
		{name: "size: Content-Length over the limit", head: "POST / HTTP/1.1\r\nContent-Length: 4097", body: strings.Repeat("b", 4097), status: 413, l5dErr: viaProxy},
		{name: "size: chunked body over the limit", head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked",
			body: "1000\r\n" + strings.Repeat("b", 4096) + "\r\n10\r\n" + strings.Repeat("c", 16) + "\r\n0\r\n\r\n", status: 413, l5dErr: viaProxy, forwarded: maybe},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("case-%d", i)
			reqLine, headers, _ := strings.Cut(tt.head, "\r\n")
			lines := []string{reqLine}
			if !tt.noHost {
				lines = append(lines, "Host: web")
			}
			if headers != "" {
				lines = append(lines, strings.Split(headers, "\r\n")...)
			}
			lines = append(lines, "X-Case: "+id)
			sep := "\r\n"
			if tt.name == "well-formed" {
				sep = "\n"
			}
			raw := strings.Join(lines, sep) + sep + sep + tt.body
			got := rawExchange(t, p.ProxyAddr, raw, 10*time.Second)
			require.NoError(t, got.Err, "no response")
			assert.Equal(t, tt.status, got.Status, "%s", got)
			if tt.l5dErr {
				assert.NotEmpty(t, got.Header.Get("l5d-err"), "the proxy's answer names its reason")
			} else {
				assert.Empty(t, got.Header.Get("l5d-err"), "%s", got)
			}
			switch tt.forwarded {
			case always:
				assert.Positive(t, be.saw(id), "the backend got the request")
			case never:
				assert.Zero(t, be.saw(id), "the backend must not get the request")
			}
			t.Logf("%d %s", got.Status, got.Header.Get("l5d-err"))
		})
	}
}

// TestBadInputHTTP2Requests: HTTP/2 versions of the size limits, and an
// :authority naming the backend's address, which is only a name.
func TestBadInputHTTP2Requests(t *testing.T) {
	t.Parallel()
	be := startBadInputBackend(t)
	p := startBadInputProxy(t, be.Backend, nil)
	c := newH2CClient(t)
	do := func(t *testing.T, host string, body io.Reader, size int64, hdr http.Header) *http.Response {
		req := newRequest(t, http.MethodPost, p.URL()+"/", host, body)
		req.ContentLength = size
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	t.Run("body over the limit, with Content-Length", func(t *testing.T) {
		resp := do(t, "web", strings.NewReader(strings.Repeat("b", 5000)), 5000, http.Header{"X-Case": {"h2-cl"}})
		assert.Equal(t, 413, resp.StatusCode)
		assert.NotEmpty(t, resp.Header.Get("l5d-err"))
		assert.Zero(t, be.saw("h2-cl"))
	})
	t.Run("body over the limit, streamed", func(t *testing.T) {
		resp := do(t, "web", io.MultiReader(strings.NewReader(strings.Repeat("b", 5000))), -1, http.Header{"X-Case": {"h2-stream"}})
		assert.Equal(t, 413, resp.StatusCode)
		assert.NotEmpty(t, resp.Header.Get("l5d-err"))
	})
	t.Run("authority naming the backend's address", func(t *testing.T) {
		resp := do(t, fmt.Sprintf("127.0.0.1:%d", be.Port), strings.NewReader("x"), 1, http.Header{"X-Case": {"h2-authority"}})
		assert.Equal(t, 502, resp.StatusCode)
		assert.Contains(t, resp.Header.Get("l5d-err"), "no route")
		assert.Zero(t, be.saw("h2-authority"))
	})
	t.Run("oversized header block", func(t *testing.T) {
		// Go's client refuses to send it; the raw framer does.
		a := dialH2(t, p.ProxyAddr)
		a.readAll(t)
		require.NoError(t, a.writeHeaders(1, "web", true, true, hpack.HeaderField{Name: "x-big", Value: strings.Repeat("a", 100<<10)}, hpack.HeaderField{Name: "x-case", Value: "h2-big"}))
		require.NoError(t, a.bw.Flush())
		// net/http answers 431 to a header list a little over the limit,
		// and closes the connection when it is far over (CVE-2023-45288).
		st := a.waitStream(t, 1)
		t.Logf("answer: %+v", st)
		assert.True(t, st.status == 431 || st.goaway, "want 431 or the connection closed, got %+v", st)
		assert.Zero(t, be.saw("h2-big"))
	})
}

// TestBadInputSlowClients: slowloris headers end at the read-header
// timeout, stalled bodies at the body read timeout (408), a body sent
// slowly but steadily passes, and many slow clients do not stop others.
func TestBadInputSlowClients(t *testing.T) {
	t.Parallel()
	be := startBadInputBackend(t)
	p := startBadInputProxy(t, be.Backend, nil)

	// slowHead trickles header lines until the connection ends; it
	// returns how long that took and what, if anything, was answered.
	slowHead := func(ctx context.Context) (time.Duration, rawResult, error) {
		conn, err := net.Dial("tcp", p.ProxyAddr)
		if err != nil {
			return 0, rawResult{}, err
		}
		defer conn.Close()
		start := time.Now()
		_ = conn.SetDeadline(start.Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: web\r\n"); err != nil {
			return 0, rawResult{}, err
		}
		read := make(chan rawResult, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				read <- rawResult{Err: err}
				return
			}
			read <- rawResult{Status: resp.StatusCode, Header: resp.Header}
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case r := <-read:
				return time.Since(start), r, nil
			case <-ctx.Done():
				return time.Since(start), rawResult{}, ctx.Err()
			case <-tick.C:
				_, _ = fmt.Fprintf(conn, "X-Slow-%d: x\r\n", i)
			}
		}
	}

	t.Run("slowloris headers", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		took, res, err := slowHead(ctx)
		require.NoError(t, err, "the proxy kept a slowloris connection for %s", took)
		t.Logf("closed after %s: %s", took.Round(time.Millisecond), res)
		assert.GreaterOrEqual(t, took, 900*time.Millisecond)
		assert.Less(t, took, 3*time.Second, "SLINKERD_READ_HEADER_TIMEOUT is 1s")
		assert.True(t, res.Err != nil || res.Status == 408, "closed, or 408: %s", res)
	})

	t.Run("100 slowloris connections do not stop other clients", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var closed atomic.Int64
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := slowHead(ctx); err == nil {
					closed.Add(1)
				}
			}()
		}
		c := newH1Client(t)
		for i := range 20 {
			resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/", "web", nil))
			require.NoError(t, err, "request %d during the slowloris attack", i)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
		}
		wg.Wait()
		assert.Equal(t, int64(100), closed.Load(), "every slowloris connection was closed by the proxy")
	})

	t.Run("stalled body", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", p.ProxyAddr)
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		require.NoError(t, conn.SetDeadline(start.Add(10*time.Second)))
		_, err = io.WriteString(conn, "POST /hang-body HTTP/1.1\r\nHost: web\r\nX-Case: stalled\r\nContent-Length: 100\r\n\r\n0123456789")
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "the proxy answers a stalled body")
		took := time.Since(start)
		t.Logf("answered after %s: %d %s", took.Round(time.Millisecond), resp.StatusCode, resp.Header.Get("l5d-err"))
		assert.Equal(t, 408, resp.StatusCode)
		assert.NotEmpty(t, resp.Header.Get("l5d-err"))
		assert.GreaterOrEqual(t, took, 800*time.Millisecond)
		assert.Less(t, took, 3*time.Second, "SLINKERD_BODY_READ_TIMEOUT is 1s")
		_, _ = io.Copy(io.Discard, resp.Body)
		_, err = br.ReadByte()
		assert.Error(t, err, "the connection is closed after a stalled body")
		// The upstream request was cancelled too.
		assert.Equal(t, "stalled", recv(t, be.started, 5*time.Second, "the backend got the request"))
		out := recv(t, be.ended, 5*time.Second, "the backend's request ended")
		assert.Error(t, out.BodyErr, "the backend saw the body cut short")
	})

	t.Run("stalled body over h2c", func(t *testing.T) {
		t.Parallel()
		protos := new(http.Protocols)
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: protos}
		defer tr.CloseIdleConnections()
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() { _, _ = io.WriteString(pw, "0123456789") }() // then nothing
		req, err := http.NewRequest(http.MethodPost, "http://"+p.ProxyAddr+"/hang-body", pr)
		require.NoError(t, err)
		req.Host = "web"
		req.Header.Set("X-Case", "stalled-h2")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := tr.RoundTrip(req.WithContext(ctx))
		require.NoError(t, err, "the proxy answers a stalled body")
		took := time.Since(start)
		t.Logf("answered after %s: %d %s", took.Round(time.Millisecond), resp.StatusCode, resp.Header.Get("l5d-err"))
		_ = resp.Body.Close()
		assert.Equal(t, 408, resp.StatusCode)
		assert.GreaterOrEqual(t, took, 800*time.Millisecond)
		assert.Less(t, took, 3*time.Second, "SLINKERD_BODY_READ_TIMEOUT is 1s")
		// The upstream request was cancelled too.
		assert.Equal(t, "stalled-h2", recv(t, be.started, 5*time.Second, "the backend got the request"))
		out := recv(t, be.ended, 5*time.Second, "the backend's request ended")
		assert.Error(t, out.BodyErr, "the backend saw the body cut short")
	})

	t.Run("slow but steady body", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", p.ProxyAddr)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 8\r\n\r\n")
		require.NoError(t, err)
		// One byte every 300 ms: 2.4 s in all, longer than the 1s timeout,
		// but never a 1 s pause.
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for range 8 {
			<-tick.C
			_, err := conn.Write([]byte{'s'})
			require.NoError(t, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Equal(t, "ok 8", string(body))
	})
}

// TestBadInputClientDisconnect: a client that goes away mid-request
// cancels the upstream request.
func TestBadInputClientDisconnect(t *testing.T) {
	t.Parallel()
	be := startBadInputBackend(t)
	p := startBadInputProxy(t, be.Backend, map[string]string{"SLINKERD_BODY_READ_TIMEOUT": "0"})

	t.Run("HTTP/1.1 waiting for the response", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.ProxyAddr)
		require.NoError(t, err)
		_, err = io.WriteString(conn, "GET /hang HTTP/1.1\r\nHost: web\r\nX-Case: h1-wait\r\n\r\n")
		require.NoError(t, err)
		assert.Equal(t, "h1-wait", recv(t, be.started, 5*time.Second, "the backend got the request"))
		require.NoError(t, conn.Close())
		assert.Equal(t, "h1-wait", recv(t, be.ended, 3*time.Second, "the backend's request context ended").Case)
	})
	t.Run("HTTP/1.1 mid-body", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.ProxyAddr)
		require.NoError(t, err)
		_, err = io.WriteString(conn, "POST /hang-body HTTP/1.1\r\nHost: web\r\nX-Case: h1-body\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 100))
		require.NoError(t, err)
		assert.Equal(t, "h1-body", recv(t, be.started, 5*time.Second, "the backend got the request"))
		require.NoError(t, conn.Close())
		out := recv(t, be.ended, 3*time.Second, "the backend's request ended")
		assert.Equal(t, "h1-body", out.Case)
		assert.Error(t, out.BodyErr, "the backend saw the body cut short")
	})
	t.Run("HTTP/2 stream reset", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := newRequest(t, http.MethodGet, p.URL()+"/hang", "web", nil).WithContext(ctx)
		req.Header.Set("X-Case", "h2-reset")
		errc := make(chan error, 1)
		go func() {
			resp, err := newH2CClient(t).Do(req)
			if err == nil {
				_ = resp.Body.Close()
			}
			errc <- err
		}()
		assert.Equal(t, "h2-reset", recv(t, be.started, 5*time.Second, "the backend got the request"))
		cancel()
		assert.Error(t, recv(t, errc, 5*time.Second, "the client's request ended"))
		assert.Equal(t, "h2-reset", recv(t, be.ended, 3*time.Second, "the backend's request context ended").Case)
	})
}

// h2Raw is a raw cleartext HTTP/2 connection driven frame by frame.
type h2Raw struct {
	conn net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	mu        sync.Mutex
	reading   bool
	streams   map[uint32]*h2Stream
	changed   chan struct{} // signalled on every frame read
	readErr   error
	goaway    *http2.GoAwayFrame
	pingAcks  map[[8]byte]bool
	nPingAcks int
}

// h2Stream is what the server answered on one stream.
type h2Stream struct {
	status int
	rst    http2.ErrCode
	goaway bool
	done   bool
}

// dialH2 opens a connection and sends the preface and SETTINGS.
func dialH2(t testing.TB, addr string) *h2Raw {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// A small receive buffer, so that a flood whose answers are not read
	// pushes back on the server at once.
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	a := &h2Raw{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10), streams: map[uint32]*h2Stream{}, changed: make(chan struct{}, 1), pingAcks: map[[8]byte]bool{}}
	a.fr = http2.NewFramer(a.bw, conn)
	a.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
	a.fr.MaxHeaderListSize = 1 << 20
	a.enc = hpack.NewEncoder(&a.hbuf)
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(a.bw, http2.ClientPreface)
	require.NoError(t, err)
	require.NoError(t, a.fr.WriteSettings())
	require.NoError(t, a.bw.Flush())
	return a
}

// readAll reads and records the server's frames in the background until
// the connection ends.
func (a *h2Raw) readAll(t testing.TB) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reading {
		return
	}
	a.reading = true
	go func() {
		for {
			f, err := a.fr.ReadFrame()
			a.mu.Lock()
			if err != nil {
				a.readErr = err
				a.mu.Unlock()
				a.signal()
				return
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				st := a.stream(f.StreamID)
				if s := f.PseudoValue("status"); s != "" {
					_, _ = fmt.Sscan(s, &st.status)
				}
				st.done = st.done || f.StreamEnded()
			case *http2.DataFrame:
				a.stream(f.StreamID).done = a.stream(f.StreamID).done || f.StreamEnded()
			case *http2.RSTStreamFrame:
				st := a.stream(f.StreamID)
				st.rst, st.done = f.ErrCode, true
			case *http2.PingFrame:
				if f.IsAck() {
					a.pingAcks[f.Data] = true
					a.nPingAcks++
				}
			case *http2.GoAwayFrame:
				a.goaway = f
				for id, st := range a.streams {
					if id > f.LastStreamID {
						st.goaway, st.done = true, true
					}
				}
			}
			a.mu.Unlock()
			a.signal()
		}
	}()
}

func (a *h2Raw) stream(id uint32) *h2Stream {
	st := a.streams[id]
	if st == nil {
		st = &h2Stream{}
		a.streams[id] = st
	}
	return st
}

func (a *h2Raw) signal() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// settle waits up to 3s until the server has processed everything sent
// so far: it sends a PING and waits for its ACK, or for the connection to
// end. It returns how the connection stands.
func (a *h2Raw) settle(t testing.TB) (ended bool, how string) {
	t.Helper()
	// Read what the flood made the server queue, quickly.
	_ = a.conn.(*net.TCPConn).SetReadBuffer(4 << 20)
	_ = a.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	a.readAll(t)
	data := [8]byte{'s', 'e', 't', 't', 'l', 'e'}
	if err := a.fr.WritePing(false, data); err == nil {
		_ = a.bw.Flush()
	}
	deadline := time.After(3 * time.Second)
	for {
		a.mu.Lock()
		acked, readErr, ga := a.pingAcks[data], a.readErr, a.goaway
		a.mu.Unlock()
		switch {
		case ga != nil:
			return true, fmt.Sprintf("GOAWAY %s", ga.ErrCode)
		case readErr != nil:
			return true, readErr.Error()
		case acked:
			return false, "open"
		}
		select {
		case <-a.changed:
		case <-deadline:
			// Still working through what the flood queued (it stopped
			// reading while it could not write): bounded by backpressure.
			a.mu.Lock()
			n := a.nPingAcks
			a.mu.Unlock()
			return false, fmt.Sprintf("open, still answering the flood after 3s (%d PING ACKs read)", n)
		}
	}
}

// waitStream waits until stream id is answered, reset, or the
// connection ends.
func (a *h2Raw) waitStream(t testing.TB, id uint32) h2Stream {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		a.mu.Lock()
		st := a.stream(id)
		done, readErr := st.done || st.status != 0, a.readErr
		cp := *st
		a.mu.Unlock()
		if done || readErr != nil {
			cp.goaway = cp.goaway || readErr != nil
			return cp
		}
		select {
		case <-a.changed:
		case <-deadline:
			t.Fatalf("stream %d: no answer within 10s", id)
		}
	}
}

// writeHeaders writes HEADERS (and CONTINUATION frames for a large
// block) for a GET of / from host, or a POST when the stream stays open.
func (a *h2Raw) writeHeaders(id uint32, host string, endStream, endHeaders bool, extra ...hpack.HeaderField) error {
	a.hbuf.Reset()
	method := "GET"
	if !endStream {
		method = "POST"
	}
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: host}, {Name: ":path", Value: "/"},
	}, extra...) {
		if err := a.enc.WriteField(f); err != nil {
			return err
		}
	}
	// Split the block into frames of the default maximum size.
	const maxFrame = 16 << 10
	block := a.hbuf.Bytes()
	first := block[:min(len(block), maxFrame)]
	block = block[len(first):]
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: endHeaders && len(block) == 0}); err != nil {
		return err
	}
	for len(block) > 0 {
		frag := block[:min(len(block), maxFrame)]
		block = block[len(frag):]
		if err := a.fr.WriteContinuation(id, endHeaders && len(block) == 0, frag); err != nil {
			return err
		}
	}
	return nil
}

// How a flood ended.
const (
	floodWritten = "all written"
	floodClosed  = "closed by the proxy"
	floodStalled = "stalled: the proxy stopped reading"
)

// flood writes frames with write until it has written n of them, the
// server ends the connection, or writing stalls for 3s (the server no
// longer reads), flushing every 256. It returns how many it wrote and how
// the flood ended.
func (a *h2Raw) flood(n int, write func(i int) error) (int, string) {
	ended := func(err error) string {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return floodStalled
		}
		return floodClosed
	}
	for i := 0; i < n; i++ {
		if i%256 == 0 {
			_ = a.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		}
		err := write(i)
		if err == nil && i%256 == 255 {
			err = a.bw.Flush()
		}
		if err != nil {
			return i, ended(err)
		}
	}
	if err := a.bw.Flush(); err != nil {
		return n, ended(err)
	}
	return n, floodWritten
}

// TestBadInputHTTP2Floods attacks the proxy over HTTP/2 with floods of
// frames (CVE-2023-44487 rapid reset, CVE-2019-9512 ping flood,
// CVE-2019-9515 settings flood, CVE-2019-9518 empty frames,
// CVE-2023-45288 CONTINUATION flood) and with more streams than it
// allows. For each: the proxy's peak memory stays bounded and another
// client is served throughout.
func TestBadInputHTTP2Floods(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	const peakLimit = 100 << 20 // bytes of RSS growth an attack may cost

	floods := []struct {
		name     string
		mustStop bool // the proxy must close the connection or stop reading it
		// closes: the proxy closes the connection by its own rule, whatever
		// the timing (a stall from TCP backpressure does not count).
		closes bool
		run    func(t *testing.T, a *h2Raw) (sent int, how string)
	}{
		{"rapid reset", false, false, func(t *testing.T, a *h2Raw) (int, string) {
			a.readAll(t)
			return a.flood(20000, func(i int) error {
				id := uint32(2*i + 1)
				if err := a.writeHeaders(id, "web", true, true); err != nil {
					return err
				}
				return a.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			})
		}},
		{"ping flood, never reading", true, false, func(t *testing.T, a *h2Raw) (int, string) {
			return a.flood(2000000, func(i int) error { return a.fr.WritePing(false, [8]byte{byte(i)}) })
		}},
		// h1guard.go's maxPeerSettings: net/http folds the ACKs and never
		// stops reading, so only the guard's count ends this one.
		{"settings flood, never reading", true, true, func(t *testing.T, a *h2Raw) (int, string) {
			return a.flood(2000000, func(int) error {
				return a.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
			})
		}},
		{"empty DATA frames", false, false, func(t *testing.T, a *h2Raw) (int, string) {
			a.readAll(t)
			if err := a.writeHeaders(1, "web", false, true); err != nil {
				return 0, floodClosed
			}
			return a.flood(200000, func(int) error { return a.fr.WriteData(1, false, nil) })
		}},
		{"CONTINUATION flood", true, false, func(t *testing.T, a *h2Raw) (int, string) {
			a.readAll(t)
			if err := a.writeHeaders(1, "web", true, false); err != nil {
				return 0, floodClosed
			}
			// Each fragment is one complete header field of 8 KiB: the
			// header list grows without end unless the proxy stops it.
			var frag bytes.Buffer
			_ = hpack.NewEncoder(&frag).WriteField(hpack.HeaderField{Name: "x-junk", Value: strings.Repeat("j", 8<<10)})
			return a.flood(20000, func(int) error { return a.fr.WriteContinuation(1, false, frag.Bytes()) })
		}},
	}
	for _, fl := range floods {
		t.Run(fl.name, func(t *testing.T) {
			p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port)})
			c := newH1Client(t)
			get := func() error {
				resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/", "web", nil))
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d (l5d-err %q)", resp.StatusCode, resp.Header.Get("l5d-err"))
				}
				return nil
			}
			require.NoError(t, get())
			_, base, err := procMemory(p.PID())
			require.NoError(t, err)

			// Another client keeps asking while the attack runs.
			stop := make(chan struct{})
			other := make(chan []error, 1)
			go func() {
				var errs []error
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						other <- errs
						return
					case <-tick.C:
						if err := get(); err != nil {
							errs = append(errs, err)
						}
					}
				}
			}()
			a := dialH2(t, p.ProxyAddr)
			start := time.Now()
			sent, flood := fl.run(t, a)
			ended, how := a.settle(t)
			took := time.Since(start)
			close(stop)
			errs := <-other
			require.NoError(t, get(), "served after the attack")

			_, peak, err := procMemory(p.PID())
			require.NoError(t, err)
			t.Logf("%s: sent %d frames (%s), processed in %s; then the connection: %s; peak RSS %d MiB (from %d MiB); %d backend requests",
				fl.name, sent, flood, took.Round(time.Millisecond), how, peak>>20, base>>20, served.Load())
			switch {
			case fl.closes:
				assert.True(t, ended, "the proxy closes a connection that floods it by its own rule; the flood %s, then the connection: %s", flood, how)
			case fl.mustStop:
				assert.True(t, ended || flood == floodStalled, "the proxy closes, or stops reading from, a connection that floods it")
			}
			assert.Empty(t, errs, "the other client was served during the attack")
			assert.Less(t, peak-base, uint64(peakLimit), "peak memory stays bounded")
		})
	}

	t.Run("more streams than allowed", func(t *testing.T) {
		var inflight, maxInflight atomic.Int64
		release := make(chan struct{})
		hold := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				m := maxInflight.Load()
				if n <= m || maxInflight.CompareAndSwap(m, n) {
					break
				}
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", hold.Port)})
		a := dialH2(t, p.ProxyAddr)
		a.readAll(t)
		const streams = 300
		sent, how := a.flood(streams, func(i int) error { return a.writeHeaders(uint32(2*i+1), "web", true, true) })
		require.Equal(t, streams, sent)
		require.Equal(t, floodWritten, how)
		// 250 streams are served at once (the proxy's HTTP/2 limit); the
		// other 50 are refused.
		countRefused := func() int {
			a.mu.Lock()
			defer a.mu.Unlock()
			n := 0
			for i := range streams {
				if st := a.stream(uint32(2*i + 1)); st.rst != 0 || st.goaway {
					n++
				}
			}
			return n
		}
		defer func() {
			if t.Failed() {
				t.Logf("at the end: %d requests at the backend (at most %d), %d streams refused", inflight.Load(), maxInflight.Load(), countRefused())
			}
		}()
		waitFor(t, 10*time.Second, "250 requests reach the backend and 50 are refused", func() bool {
			return inflight.Load() >= 250 && countRefused() >= streams-250
		})
		refused := countRefused()
		close(release)
		for i := range streams {
			a.waitStream(t, uint32(2*i+1))
		}
		t.Logf("%d streams opened at once: %d served, at most %d concurrently at the backend, %d refused", streams, streams-refused, maxInflight.Load(), refused)
		assert.LessOrEqual(t, maxInflight.Load(), int64(250))
		assert.GreaterOrEqual(t, refused, streams-250)
	})
}

// TestBadInputAbsoluteFormAllowed: even with SLINKERD_ALLOW_ABSOLUTE_FORM
// on, the URL's host is only a name for the dtab: a URL naming the
// backend's address, or any other host, is never sent there.
func TestBadInputAbsoluteFormAllowed(t *testing.T) {
	t.Parallel()
	be := startBadInputBackend(t)
	p := startBadInputProxy(t, be.Backend, map[string]string{"SLINKERD_ALLOW_ABSOLUTE_FORM": "true"})
	backendAddr := fmt.Sprintf("127.0.0.1:%d", be.Port)
	tests := []struct {
		name, target, host string
		status             int
		forwarded          bool
	}{
		{"the backend's address", "http://" + backendAddr + "/", "web", 502, false},
		{"another host", "http://evil.example/", "web", 502, false},
		{"the service's name", "http://web/", "evil.example", 200, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("abs-%d", i)
			got := rawExchange(t, p.ProxyAddr, rawRequest("GET "+tt.target+" HTTP/1.1", "Host: "+tt.host, "X-Case: "+id), 10*time.Second)
			require.NoError(t, got.Err)
			assert.Equal(t, tt.status, got.Status, "%s", got)
			assert.Equal(t, tt.forwarded, be.saw(id) > 0)
			if tt.status != 200 {
				assert.Contains(t, got.Header.Get("l5d-err"), "no route")
			}
		})
	}
}
