package h1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveLoop runs a Server on a loopback listener with handler h and
// returns its address and the connections handed off (their first
// bytes, as the fallback read them).
func serveLoop(t *testing.T, h http.Handler, tweak func(*Config)) (addr string, handed chan string, s *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	handed = make(chan string, 4)
	cfg := Config{
		Handler: h,
		Fallback: func(c net.Conn) {
			defer c.Close()
			b := make([]byte, 64)
			n, _ := io.ReadAtLeast(c, b, 1)
			handed <- string(b[:n])
		},
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s = NewServer(cfg)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = s.ServeConn(c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.Close()
		wg.Wait()
	})
	return ln.Addr().String(), handed, s
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func echoPath(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s host=%s body=%q", r.Method, r.URL.RequestURI(), r.Host, body)
}

// Pipelined requests are answered in order, each with its own answer,
// on one keep-alive connection.
func TestLoopPipelinedInOrder(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(echoPath), nil)
	c, br := dial(t, addr)
	var reqs strings.Builder
	for i := range 20 {
		if i%3 == 1 {
			fmt.Fprintf(&reqs, "POST /p%d HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nb%02d", i, i)
		} else if i%3 == 2 {
			fmt.Fprintf(&reqs, "POST /p%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nc%d\r\n0\r\n\r\n", i, i%10)
		} else {
			fmt.Fprintf(&reqs, "GET /p%d?q=%d HTTP/1.1\r\nHost: h\r\n\r\n", i, i)
		}
	}
	_, err := io.WriteString(c, reqs.String())
	require.NoError(t, err)
	for i := range 20 {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "response %d", i)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		want := fmt.Sprintf(`GET /p%d?q=%d host=h body=""`, i, i)
		if i%3 == 1 {
			want = fmt.Sprintf(`POST /p%d host=h body="b%02d"`, i, i)
		} else if i%3 == 2 {
			want = fmt.Sprintf(`POST /p%d host=h body="c%d"`, i, i%10)
		}
		assert.Equal(t, want, string(b), "response %d", i)
		assert.Equal(t, int64(len(want)), resp.ContentLength, "a small body gets a Content-Length")
		assert.NotEmpty(t, resp.Header.Get("Date"))
	}
}

// What the loop does not take is handed off with every byte it read.
func TestLoopHandsOff(t *testing.T) {
	tests := []struct {
		name, first, send, want string
	}{
		{name: "h2 preface", send: h2Preface + "\x00\x00", want: h2Preface},
		{name: "upgrade", send: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", want: "GET /ws HTTP/1.1\r\n"},
		{name: "expect", send: "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", want: "PUT /x HTTP/1.1\r\n"},
		{name: "upgrade after a served request", first: "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
			send: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", want: "GET /ws HTTP/1.1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, handed, _ := serveLoop(t, http.HandlerFunc(echoPath), nil)
			c, br := dial(t, addr)
			if tt.first != "" {
				_, err := io.WriteString(c, tt.first)
				require.NoError(t, err)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			_, err := io.WriteString(c, tt.send)
			require.NoError(t, err)
			select {
			case got := <-handed:
				assert.True(t, strings.HasPrefix(got, tt.want), "fallback read %q", got)
			case <-time.After(5 * time.Second):
				t.Fatal("not handed off")
			}
		})
	}
}

// Heads the loop refuses get net/http's answer and the connection closes.
func TestLoopRefusesBadHeads(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(echoPath), func(c *Config) { c.MaxHeaderBytes = 1 << 10 })
	tests := []struct {
		name, send string
		status     int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431},
		{"version", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dial(t, addr)
			_, err := io.WriteString(c, tt.send+"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			_, _ = io.Copy(io.Discard, resp.Body)
			_, err = http.ReadResponse(br, nil)
			assert.Error(t, err, "the connection closes: nothing after a refused head is served")
		})
	}
}

// Streaming: a flushed response reaches the caller before the handler
// returns, chunked, with trailers.
func TestLoopStreamsChunkedWithTrailers(t *testing.T) {
	release := make(chan struct{})
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "first")
		http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, "second")
		w.Header().Set("X-Sum", "42")
	}), nil)
	c, br := dial(t, addr)
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	buf := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first", string(buf), "flushed before the handler returned")
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "second", string(rest))
	assert.Equal(t, "42", resp.Trailer.Get("X-Sum"))
}

// HTTP/1.0 without keep-alive closes after the answer; with keep-alive
// and a known length it stays open.
func TestLoopHTTP10(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(echoPath), nil)
	c, br := dial(t, addr)
	_, err := io.WriteString(c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.0", resp.Proto)
	assert.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(b), "/b")
	_, err = http.ReadResponse(br, nil)
	assert.Error(t, err, "closed after the HTTP/1.0 request without keep-alive; /c is not served")
}

// A body the handler did not read is skipped when short, and closes the
// connection when long.
func TestLoopUnreadBody(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}), func(c *Config) { c.MaxDiscardBytes = 16 })
	c, br := dial(t, addr)
	_, err := io.WriteString(c, "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	for _, want := range []string{"/a", "/b"} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, want, string(b))
	}
	_, err = io.WriteString(c, "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 100)+"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.True(t, resp.Close, "a long unread body closes the connection")
	_, _ = io.Copy(io.Discard, resp.Body)
}

// A panicking handler closes its connection, not the server.
func TestLoopHandlerPanic(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "ok")
	}), nil)
	c, br := dial(t, addr)
	_, err := io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	_, err = http.ReadResponse(br, nil)
	assert.Error(t, err)
	c2, br2 := dial(t, addr)
	_, err = io.WriteString(c2, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br2, nil)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

// Shutdown closes idle connections at once and lets an active one finish
// its response, which says Connection: close.
func TestLoopShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	addr, _, s := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}), nil)
	idle, idleBR := dial(t, addr)
	_, err := io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(idleBR, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)

	busy, busyBR := dial(t, addr)
	_, err = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	<-entered

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	_, err = idleBR.ReadByte()
	assert.Error(t, err, "the idle connection is closed")
	close(release)
	resp, err = http.ReadResponse(busyBR, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "done", string(b))
	assert.True(t, resp.Close, "the last response says Connection: close")
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

// A deadline the loop left on the connection during a bodiless request
// (the idle one) never fails the next request, pipelined behind it, even
// when the first handler outlasts it.
func TestLoopStaleDeadlineAfterSlowRequest(t *testing.T) {
	const idle = 30 * time.Millisecond
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-time.After(4 * idle) // outlast the idle deadline set before this request
		}
		echoPath(w, r)
	}), func(c *Config) { c.IdleTimeout = idle })
	c, br := dial(t, addr)
	_, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\nPOST /next HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody")
	require.NoError(t, err)
	for _, want := range []string{`GET /slow host=h body=""`, `POST /next host=h body="body"`} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, want, string(b))
	}
}

// A request's context ends when its handler returns, as net/http's does,
// even while the connection stays open for the next request: what waits
// on it (a span to export, a child context, an AfterFunc) must not wait
// for the caller to hang up, nor pile up on a long keep-alive connection.
func TestLoopRequestContextEndsWithHandler(t *testing.T) {
	ended := make(chan string, 4)
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		context.AfterFunc(r.Context(), func() { ended <- path })
		_, _ = io.WriteString(w, "ok")
	}), nil)
	c, br := dial(t, addr)
	for _, p := range []string{"/a", "/b"} {
		_, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: h\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		select {
		case got := <-ended:
			assert.Equal(t, p, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("the context of %s did not end with its handler (the connection is still open)", p)
		}
	}
}

// The request's URL gives the target back as sent, as net/http's server's
// does (url.ParseRequestURI): a path with characters net/url would escape
// keeps them in RawPath, so a proxy forwards the path it was given.
func TestLoopURLKeepsTheTarget(t *testing.T) {
	addr, _, _ := serveLoop(t, http.HandlerFunc(echoPath), nil)
	c, br := dial(t, addr)
	for _, target := range []string{"/a/b?x=1", "/a(b)", "/a!b'c*", "/a[0]", "/f%2Fb", "/a?q=(1)", "/x?"} {
		_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target)
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "GET "+target+` host=h body=""`, string(body), "target %s", target)
	}
}

// A header map adopted for one response is written as the answer's
// fields, is never cleared by the writer, and leaves nothing behind for
// the next request on the connection; a writer whose own map has a
// field, or whose status is set, refuses to adopt.
func TestWriterAdoptsHeader(t *testing.T) {
	adopted := make(chan http.Header, 3)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := w.(interface{ AdoptHeader(http.Header) bool })
		switch r.URL.Path {
		case "/adopt":
			m := http.Header{"X-From-Origin": {"1"}, "Content-Length": {"2"}}
			require.True(t, a.AdoptHeader(m))
			w.Header().Set("X-Set-After", "yes") // goes to the adopted map
			adopted <- m
		case "/set-first":
			w.Header().Set("X-Own", "1")
			assert.False(t, a.AdoptHeader(http.Header{"X-Refused": {"1"}}))
		case "/status-first":
			w.WriteHeader(http.StatusAccepted)
			assert.False(t, a.AdoptHeader(http.Header{"X-Refused": {"1"}}))
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr, _, _ := serveLoop(t, h, nil)
	c, br := dial(t, addr)
	var m http.Header
	for _, path := range []string{"/adopt", "/plain", "/set-first", "/status-first"} {
		_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path)
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, path)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(b), path)
		assert.Empty(t, resp.Header.Get("X-Refused"), path)
		switch path {
		case "/adopt":
			assert.Equal(t, "1", resp.Header.Get("X-From-Origin"))
			assert.Equal(t, "yes", resp.Header.Get("X-Set-After"))
			m = <-adopted
		case "/set-first":
			assert.Equal(t, "1", resp.Header.Get("X-Own"))
			fallthrough
		default:
			assert.Empty(t, resp.Header.Get("X-From-Origin"), "%s: the adopted map stays with its response", path)
			assert.Empty(t, resp.Header.Get("X-Set-After"), path)
		}
	}
	assert.Equal(t, 0, len(adopted))
	assert.Equal(t, "1", m.Get("X-From-Origin"), "the writer never clears an adopted map")
	// The connection's next request starts from the writer's own map
	// whatever the last one did.
	_, err := fmt.Fprintf(c, "GET /plain HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	assert.Empty(t, resp.Header.Get("X-Own"))
}

// TestLoopLargeWritesGoOutWhole: body writes too large for the write
// buffer go out in one write with what was buffered before them (the
// head, a chunk line): over a real TCP connection, so the vectored write
// is the one used, every response of a keep-alive connection must come
// out byte for byte, with known length or chunked, around every edge of
// the buffer, with flushes between the writes and with a trailer.
func TestLoopLargeWritesGoOutWhole(t *testing.T) {
	sizes := []int{1, 100, 2047, 2048, 2049, 4000, 4094, 4095, 4096, 4097, 8191, 8192, 16384, 100000}
	body := func(n, seed int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + (i*7+seed)%26)
		}
		return b
	}
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		a, _ := strconv.Atoi(q.Get("a"))
		b, _ := strconv.Atoi(q.Get("b"))
		if q.Get("cl") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(a+b))
		} else {
			w.Header().Set("Trailer", "X-Sum")
		}
		_, _ = w.Write(body(a, 1))
		if q.Get("flush") == "1" {
			http.NewResponseController(w).Flush()
		}
		_, _ = w.Write(body(b, 2))
		w.Header().Set("X-Sum", strconv.Itoa(a+b))
	}), nil)
	c, br := dial(t, addr)
	require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	n := 0
	for _, a := range sizes {
		for _, b := range sizes {
			for _, mode := range []string{"cl=1", "cl=0", "cl=0&flush=1", "cl=1&flush=1"} {
				_, err := fmt.Fprintf(c, "GET /?a=%d&b=%d&%s HTTP/1.1\r\nHost: h\r\n\r\n", a, b, mode)
				require.NoError(t, err)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, err, "a=%d b=%d %s", a, b, mode)
				want := append(body(a, 1), body(b, 2)...)
				require.True(t, bytes.Equal(want, got), "a=%d b=%d %s: %d bytes, want %d", a, b, mode, len(got), len(want))
				if mode[:4] == "cl=0" && (a+b > 2048 || mode == "cl=0&flush=1") {
					// (A small body unflushed gets a Content-Length.)
					require.Equal(t, []string{"chunked"}, resp.TransferEncoding, "a=%d b=%d %s", a, b, mode)
					require.Equal(t, strconv.Itoa(a+b), resp.Trailer.Get("X-Sum"), "a=%d b=%d %s", a, b, mode)
				}
				n++
			}
		}
	}
	assert.Equal(t, len(sizes)*len(sizes)*4, n)
}
