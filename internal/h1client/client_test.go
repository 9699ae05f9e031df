package h1client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawServer accepts connections on loopback and hands each to serve. It
// counts connections, and reports each connection's end on closed.
type rawServer struct {
	ln     net.Listener
	conns  chan net.Conn
	closed chan struct{}
	wg     sync.WaitGroup
}

func startRawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, conns: make(chan net.Conn, 100), closed: make(chan struct{}, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { s.closed <- struct{}{} }()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-s.conns:
				c.Close()
				continue
			default:
			}
			break
		}
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// readHead reads one request head and returns its lines, or nil at EOF.
func readHead(br *bufio.Reader) []string {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return lines
		}
		lines = append(lines, l)
	}
}

// waitClosed waits for n connection ends, failing after a deadline.
func (s *rawServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-s.closed:
		case <-deadline:
			t.Fatalf("only %d of %d connections ended", i, n)
		}
	}
}

func newTestH1Client() *Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &Client{dial: d.DialContext, idleTimeout: time.Minute, maxIdle: 4, maxHeader: 1 << 20}
}

func getReq(t *testing.T, ctx context.Context, addr string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/p?q=1", nil)
	require.NoError(t, err)
	req.Host = "svc.example"
	req.Header.Set("User-Agent", "")
	req.Header.Set("X-A", "1")
	return req
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

// startHelloServer answers every request with "hello" and reports each
// request head it read, in order, on heads.
func startHelloServer(t *testing.T) (s *rawServer, heads chan []string) {
	t.Helper()
	heads = make(chan []string, 10)
	s = startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readHead(br)
			if h == nil {
				return
			}
			heads <- h
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		}
	})
	return s, heads
}

func TestH1ClientReusesConnectionAndWritesHead(t *testing.T) {
	s, heads := startHelloServer(t)
	c := newTestH1Client()
	for i := 0; i < 3; i++ {
		resp, written, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
		require.NoError(t, err)
		assert.True(t, written)
		assert.Equal(t, "hello", readAll(t, resp))
	}
	assert.Len(t, s.conns, 1, "three requests in a row share one connection")
	h := <-heads
	assert.Equal(t, "GET /p?q=1 HTTP/1.1", h[0])
	assert.ElementsMatch(t, []string{"Host: svc.example", "X-A: 1"}, h[1:], "no User-Agent when it is empty, as net/http")
	c.CloseIdle()
	s.waitClosed(t, 1)
}

func TestH1ClientRetriesAConnectionClosedWhileIdle(t *testing.T) {
	// Each connection answers one request without saying Connection:
	// close, then closes: the pooled connection is dead when reused.
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := newTestH1Client()
	resp, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	s.waitClosed(t, 1) // the server has closed the pooled connection

	resp, written, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.NoError(t, err, "a dead pooled connection is replaced, not reported")
	assert.True(t, written)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Len(t, s.conns, 2)
}

func TestH1ClientFreshConnectionLossIsReported(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) { readHead(br) })
	c := newTestH1Client()
	_, written, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.Error(t, err)
	assert.True(t, written, "the head was sent: the server may have acted on it")
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "got %v", err)
}

func TestH1ClientDialErrorIsUnwritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c := newTestH1Client()
	_, written, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), addr), addr, nil, 0)
	require.Error(t, err)
	assert.False(t, written)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
}

func TestH1ClientResponseHeaderLimit(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\nContent-Length: 0\r\n\r\n")
	})
	c := newTestH1Client()
	c.maxHeader = 4 << 10
	_, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.ErrorIs(t, err, errHeadersTooLarge)
	s.waitClosed(t, 1)
}

func TestH1ClientInformationalResponses(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		readHead(br)
	})
	var got []int
	var link string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, code)
			link = h.Get("Link")
			return nil
		},
	})
	c := newTestH1Client()
	resp, _, err := c.RoundTrip(ctx, getReq(t, ctx, s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Equal(t, []int{103}, got)
	assert.Equal(t, "</s.css>; rel=preload", link)
}

func TestH1ClientCancelUnblocksABodyRead(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
		_, _ = br.ReadByte() // until the client closes
	})
	ctx, cancel := context.WithCancel(context.Background())
	c := newTestH1Client()
	resp, _, err := c.RoundTrip(ctx, getReq(t, ctx, s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	cancel()
	_, err = resp.Body.Read(buf)
	require.Error(t, err, "the read ends when the request is cancelled")
	require.NoError(t, resp.Body.Close())
	s.waitClosed(t, 1) // closed, not pooled
	assert.Empty(t, c.host(s.addr()).idle)
}

func TestH1ClientDoesNotPool(t *testing.T) {
	cases := map[string]struct {
		resp  string
		early bool // close the body before its end
	}{
		"connection close":         {resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
		"body to the end of conn":  {resp: "HTTP/1.1 200 OK\r\n\r\nok"},
		"HTTP/1.0":                 {resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		"body closed before end":   {resp: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok", early: true},
		"chunked, closed mid-body": {resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", early: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if readHead(br) == nil {
					return
				}
				_, _ = io.WriteString(c, tc.resp)
				if !strings.Contains(tc.resp, "Content-Length") || strings.Contains(tc.resp, "close") || strings.HasPrefix(tc.resp, "HTTP/1.0") {
					return
				}
				readHead(br)
			})
			c := newTestH1Client()
			resp, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
			require.NoError(t, err)
			if tc.early {
				buf := make([]byte, 2)
				_, err := io.ReadFull(resp.Body, buf)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
			} else {
				assert.Equal(t, "ok", readAll(t, resp))
			}
			s.waitClosed(t, 1)
			assert.Empty(t, c.host(s.addr()).idle)
		})
	}
}

func TestH1ClientPoolsTrailersAndEmptyBodies(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readHead(br)
			if h == nil {
				return
			}
			if strings.HasPrefix(h[0], "HEAD ") {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: done\r\n\r\n")
		}
	})
	c := newTestH1Client()
	resp, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Equal(t, "done", resp.Trailer.Get("X-T"))

	head := getReq(t, context.Background(), s.addr())
	head.Method = http.MethodHead
	resp, _, err = c.RoundTrip(context.Background(), head, s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(10), resp.ContentLength)
	assert.Equal(t, "", readAll(t, resp))

	resp, _, err = c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Len(t, s.conns, 1)
}

func TestH1ClientClosesIdleConnectionsAfterTimeout(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for readHead(br) != nil {
			_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	c := newTestH1Client()
	c.idleTimeout = 20 * time.Millisecond
	resp, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, 204, resp.StatusCode)
	s.waitClosed(t, 1) // by the sweep, with no request to notice
	require.Eventually(t, func() bool {
		_, ok := c.hosts.Load(s.addr())
		return !ok
	}, 5*time.Second, time.Millisecond, "the endpoint is forgotten once its last idle connection is closed")
}

func TestH1ClientRefusesBadHeads(t *testing.T) {
	c := newTestH1Client()
	for name, mut := range map[string]func(r *http.Request){
		"CR in a value":    func(r *http.Request) { r.Header["X-Bad"] = []string{"a\r\nX-Injected: 1"} },
		"space in a name":  func(r *http.Request) { r.Header["X Bad"] = []string{"a"} },
		"newline in host":  func(r *http.Request) { r.Host = "a\nb" },
		"control char URL": func(r *http.Request) { r.URL.Opaque = "/a\nb" },
	} {
		t.Run(name, func(t *testing.T) {
			s := startRawServer(t, func(c net.Conn, br *bufio.Reader) { _, _ = br.ReadByte() })
			req := getReq(t, context.Background(), s.addr())
			mut(req)
			_, written, err := c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
			require.Error(t, err)
			assert.False(t, written)
		})
	}
}

func TestH1Eligible(t *testing.T) {
	mk := func(method string, body io.Reader, h map[string]string) *http.Request {
		r, err := http.NewRequest(method, "http://x/", body)
		require.NoError(t, err)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	assert.True(t, Eligible(mk("GET", nil, nil)))
	assert.True(t, Eligible(mk("HEAD", nil, nil)))
	assert.True(t, Eligible(mk("POST", nil, nil)))
	assert.True(t, Eligible(mk("DELETE", nil, nil)))
	assert.True(t, Eligible(mk("POST", strings.NewReader("x"), nil)), "small bodies of known length")
	big := mk("POST", strings.NewReader(strings.Repeat("x", h1MaxBody+1)), nil)
	assert.False(t, Eligible(big), "too large to write before reading the answer")
	chunked := mk("POST", io.MultiReader(strings.NewReader("x")), nil)
	assert.Equal(t, int64(0), chunked.ContentLength)
	chunked.ContentLength = -1
	assert.False(t, Eligible(chunked), "unknown length")
	assert.False(t, Eligible(mk("POST", strings.NewReader("x"), map[string]string{"Expect": "100-continue"})))
	assert.False(t, Eligible(mk("GET", nil, map[string]string{"Upgrade": "websocket"})))
	assert.False(t, Eligible(mk("CONNECT", nil, nil)))
}

// readBody reads a request body of the Content-Length in head.
func readBody(t *testing.T, br *bufio.Reader, head []string) string {
	n := 0
	for _, l := range head {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, "Content-Length") {
			var err error
			n, err = strconv.Atoi(v)
			if err != nil {
				t.Errorf("bad Content-Length %q", v)
			}
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return ""
	}
	return string(b)
}

func postReq(t *testing.T, addr, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/p", strings.NewReader(body))
	require.NoError(t, err)
	req.Host = "svc.example"
	return req
}

// startBodyServer answers every request with "ok" after reading its
// body, and reports each request's head and body, in order.
func startBodyServer(t *testing.T) (s *rawServer, heads chan []string, bodies chan string) {
	t.Helper()
	heads, bodies = make(chan []string, 10), make(chan string, 10)
	s = startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readHead(br)
			if h == nil {
				return
			}
			heads <- h
			bodies <- readBody(t, br, h)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return s, heads, bodies
}

func TestH1ClientSendsBodies(t *testing.T) {
	s, _, bodies := startBodyServer(t)
	c := newTestH1Client()
	for _, body := range []string{"hello", strings.Repeat("0123456789", 6000)} {
		resp, written, err := c.RoundTrip(context.Background(), postReq(t, s.addr(), body), s.addr(), nil, 0)
		require.NoError(t, err)
		assert.True(t, written)
		assert.Equal(t, "ok", readAll(t, resp))
		assert.Equal(t, body, <-bodies)
	}
	assert.Len(t, s.conns, 1)
}

func TestH1ClientChecksAPooledConnectionBeforeAPost(t *testing.T) {
	// Each connection answers one request without Connection: close,
	// then closes, as a server whose keep-alive timeout is short.
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		h := readHead(br)
		if h == nil {
			return
		}
		readBody(t, br, h)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := newTestH1Client()
	resp, _, err := c.RoundTrip(context.Background(), postReq(t, s.addr(), "one"), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	s.waitClosed(t, 1)

	resp, _, err = c.RoundTrip(context.Background(), postReq(t, s.addr(), "two"), s.addr(), nil, 0)
	require.NoError(t, err, "the dead pooled connection is found before the POST is sent on it")
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Len(t, s.conns, 2)
}

func TestH1ClientReturnsAnEarlyAnswer(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			return
		}
		// Refuse without reading the body, and close.
		_, _ = io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig")
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	})
	c := newTestH1Client()
	resp, written, err := c.RoundTrip(context.Background(), postReq(t, s.addr(), strings.Repeat("x", 60<<10)), s.addr(), nil, 0)
	require.NoError(t, err)
	assert.True(t, written)
	assert.Equal(t, 413, resp.StatusCode)
	assert.Equal(t, "big", readAll(t, resp))
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestH1ClientCallerBodyErrors(t *testing.T) {
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(io.Discard, br) })
	c := newTestH1Client()
	boom := errors.New("client went away mid-body")
	req := postReq(t, s.addr(), "")
	req.Body, req.ContentLength = io.NopCloser(failingReader{boom}), 10
	_, _, err := c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
	require.ErrorIs(t, err, boom, "the caller's error, not a connection error")

	req = postReq(t, s.addr(), "")
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader("abc")), 10
	_, _, err = c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
	require.ErrorIs(t, err, errBodyShort)
}

// The response head deadline an exchange leaves on a pooled connection
// (its answer was read whole from the buffer, so it was not cleared)
// never cuts a later exchange: not one without a head timeout (gRPC),
// nor a slow body read after a head that came in time, and a later
// exchange's own head timeout still fires.
func TestH1ClientLeftHeadDeadlineCutsNothing(t *testing.T) {
	const headTO = 80 * time.Millisecond
	release := make(chan struct{})
	s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h := readHead(br)
			if h == nil {
				return
			}
			switch strings.Fields(h[0])[1] {
			case "/late-head": // answers after the first exchange's deadline
				<-time.After(3 * headTO)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
			case "/slow-body": // head in time, body after the deadline
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
				<-time.After(3 * headTO)
				_, _ = io.WriteString(c, "body")
			case "/never":
				<-release
				return
			default:
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	defer close(release)
	c := newTestH1Client()
	req := func(path string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, "http://"+s.addr()+path, nil)
		require.NoError(t, err)
		return r
	}
	roundTrip := func(path string, to time.Duration) (string, error) {
		resp, _, err := c.RoundTrip(context.Background(), req(path), s.addr(), nil, to)
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), err
	}
	body, err := roundTrip("/fast", headTO) // leaves its head deadline set
	require.NoError(t, err)
	require.Equal(t, "ok", body)
	body, err = roundTrip("/late-head", 0) // no head timeout
	require.NoError(t, err, "an exchange without a head timeout was cut by a deadline left before it")
	assert.Equal(t, "late", body)

	_, err = roundTrip("/fast", headTO)
	require.NoError(t, err)
	body, err = roundTrip("/slow-body", headTO)
	require.NoError(t, err, "a body slower than the head timeout was cut")
	assert.Equal(t, "body", body)

	_, err = roundTrip("/fast", headTO)
	require.NoError(t, err)
	_, err = roundTrip("/never", headTO)
	assert.ErrorIs(t, err, ErrResponseHeaderTimeout, "the head timeout still fires")
	assert.Len(t, s.conns, 1, "one pooled connection carried them all but the last")
}

// A request with a field net/http would refuse to write is refused
// before anything of it can be taken for a request: the head is checked
// as it is written, and a head left unfinished (even one past the write
// buffer, part of it sent) never shares a connection with the next
// request, which gets its own answer.
func TestH1ClientRefusesBadFields(t *testing.T) {
	s, heads := startHelloServer(t)
	c := newTestH1Client()
	big := strings.Repeat("v", 6<<10) // past the connection's 4 KB writer
	for _, tc := range []struct {
		name string
		set  func(h http.Header)
	}{
		{"value with LF", func(h http.Header) { h["X-Bad"] = []string{"a\nInjected: 1"} }},
		{"value with NUL", func(h http.Header) { h["X-Bad"] = []string{"a\x00b"} }},
		{"name with space", func(h http.Header) { h["X Bad"] = []string{"1"} }},
		{"bad value of a field the client skips", func(h http.Header) { h["Connection"] = []string{"a\rb"} }},
		{"bad field after a big one", func(h http.Header) { h["X-Big"] = []string{big}; h["X-Bad"] = []string{"\x01"} }},
	} {
		for i := 0; i < 2; i++ { // on a fresh connection, then on a pooled one
			req := getReq(t, context.Background(), s.addr())
			tc.set(req.Header)
			_, written, err := c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
			require.Error(t, err, tc.name)
			assert.False(t, written, tc.name)
			resp, _, err := c.RoundTrip(context.Background(), getReq(t, context.Background(), s.addr()), s.addr(), nil, 0)
			require.NoError(t, err, tc.name)
			assert.Equal(t, "hello", readAll(t, resp), tc.name)
			h := <-heads
			assert.Equal(t, "GET /p?q=1 HTTP/1.1", h[0], tc.name)
			assert.ElementsMatch(t, []string{"Host: svc.example", "X-A: 1"}, h[1:], "%s: the good request's head is all the origin read", tc.name)
		}
	}
	assert.Empty(t, heads, "no refused request reached the origin as one")
	c.CloseIdle()
}

// gatedBody is a request body whose first part is there (Ready) and
// whose rest comes only when the test opens the gate.
type gatedBody struct {
	first, rest string
	gate        chan struct{}
	readRest    bool
}

func (b *gatedBody) Ready() bool { return b.first != "" }

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.first != "" {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	if b.readRest {
		return 0, io.EOF
	}
	<-b.gate
	b.readRest = true
	return copy(p, b.rest), io.EOF
}

func (b *gatedBody) Close() error { return nil }

// TestH1ClientSendsTheHeadBeforeABodyReadThatWaits: the head, with the
// part of the body that is there, reaches the endpoint before the client
// reads on into a body that is still coming; a body that is all there
// goes with the head. (If the head waited for the body, the endpoint
// would never see it and the gate would never open.)
func TestH1ClientSendsTheHeadBeforeABodyReadThatWaits(t *testing.T) {
	s, heads, bodies := startBodyServer(t)
	c := newTestH1Client()
	gate := make(chan struct{})
	body := &gatedBody{first: "hello, ", rest: "world", gate: gate}
	req := postReq(t, s.addr(), "")
	req.Body, req.ContentLength = body, 12
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, _, err := c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
		done <- result{resp, err}
	}()
	select {
	case <-heads:
	case <-time.After(10 * time.Second):
		t.Fatal("the head waited for a body that was still coming")
	}
	close(gate)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "ok", readAll(t, r.resp))
	assert.Equal(t, "hello, world", <-bodies)

	// All there: it goes with the head, and arrives whole.
	whole := &gatedBody{first: "all of it", gate: make(chan struct{}), readRest: true}
	req = postReq(t, s.addr(), "")
	req.Body, req.ContentLength = whole, 9
	resp, written, err := c.RoundTrip(context.Background(), req, s.addr(), nil, 0)
	require.NoError(t, err)
	assert.True(t, written)
	assert.Equal(t, "ok", readAll(t, resp))
	<-heads
	assert.Equal(t, "all of it", <-bodies)
}
