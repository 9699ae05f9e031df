package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawExchange sends one raw HTTP/1.1 request to addr and returns the
// response, read with its body.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, req)
	require.NoError(t, err)
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// The direct path (HTTP/1 callers, no body or a small one of known
// length) and the ReverseProxy's path (here, a POST with a chunked body)
// must send the same headers and pass the same response headers back.
func TestDirectPathHeadersMatchTheReverseProxy(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		seen.Store(&h)
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Resp", "kept")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_, _ = io.WriteString(w, "body")
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"users": {hostport(be.URL)}}, nil)

	head := "Host: users\r\n" +
		"Connection: X-Hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=9\r\n" +
		"Te: trailers, deflate\r\nProxy-Authorization: Basic eA==\r\n" +
		"Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n" +
		"Via: 1.1 upstream\r\nX-App: 1\r\nX-App: 2\r\nL5d-Dst-Service: /spoofed\r\n"
	type result struct {
		sent http.Header
		resp *http.Response
		body string
	}
	run := func(req string) result {
		resp, body := rawExchange(t, addr, req)
		require.Equal(t, 200, resp.StatusCode, body)
		return result{sent: *seen.Load(), resp: resp, body: body}
	}
	direct := run("GET /x HTTP/1.1\r\n" + head + "\r\n")
	directPost := run("POST /x HTTP/1.1\r\n" + head + "Content-Length: 3\r\n\r\nabc")
	// (Larger than the server's read buffer: a chunked body that has not
	// arrived whole takes the ReverseProxy's path, see inlineArrived.)
	viaRP := run("POST /x HTTP/1.1\r\n" + head + "Transfer-Encoding: chunked\r\n\r\n2000\r\n" + strings.Repeat("a", 0x2000) + "\r\n0\r\n\r\n")

	for _, r := range []result{direct, directPost, viaRP} {
		h := r.sent
		assert.Empty(t, h.Get("X-Hop"), "named in Connection")
		assert.Empty(t, h.Get("Keep-Alive"))
		assert.Empty(t, h.Get("Proxy-Authorization"))
		assert.Equal(t, "trailers", h.Get("Te"))
		assert.Equal(t, "127.0.0.1", h.Get("X-Forwarded-For"))
		assert.Equal(t, "users", h.Get("X-Forwarded-Host"))
		assert.Equal(t, "http", h.Get("X-Forwarded-Proto"))
		assert.Equal(t, []string{`for=127.0.0.1;proto=http;host="users"`}, h.Values("Forwarded"))
		assert.Equal(t, []string{"1.1 upstream", "1.1 slinkerd"}, h.Values("Via"))
		assert.Equal(t, []string{"1", "2"}, h.Values("X-App"))
		assert.Equal(t, "/svc/users", h.Get("L5d-Dst-Service"))
		assert.Equal(t, "/#/static/users", h.Get("L5d-Dst-Client"))
		assert.Len(t, h.Get("L5d-Reqid"), 16)
		_, ua := h["User-Agent"]
		assert.False(t, ua, "no User-Agent is added")

		assert.Empty(t, r.resp.Header.Get("X-Resp-Hop"))
		assert.Empty(t, r.resp.Header.Get("Keep-Alive"))
		assert.Equal(t, "kept", r.resp.Header.Get("X-Resp"))
		assert.Equal(t, []string{"a", "b"}, r.resp.Header.Values("X-Multi"))
		assert.Equal(t, "body", r.body)
	}
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		for _, k := range []string{"L5d-Reqid", "Content-Length", "Accept-Encoding", "Transfer-Encoding"} {
			delete(h, k)
		}
		return h
	}
	assert.Equal(t, norm(viaRP.sent), norm(direct.sent), "both paths send the same headers")
	assert.Equal(t, norm(viaRP.sent), norm(directPost.sent), "both paths send the same headers")
}

func TestDirectPathTrailers(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		_, _ = io.WriteString(w, "data")
		w.Header().Set("X-Declared", "yes")
		w.Header().Set(http.TrailerPrefix+"X-Late", "also")
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, nil)
	resp := get(t, addr, "s", "/", nil)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
	assert.Equal(t, "yes", resp.Trailer.Get("X-Declared"))
	assert.Equal(t, "also", resp.Trailer.Get("X-Late"))
}

func TestDirectPathStreamsUnknownLengthBodies(t *testing.T) {
	next := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, nil)
	resp := get(t, addr, "s", "/", nil)
	buf := make([]byte, 5)
	_, err := io.ReadFull(resp.Body, buf) // arrives before the backend ends
	require.NoError(t, err)
	assert.Equal(t, "first", string(buf))
	close(next)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "second", string(rest))
}

func TestDirectPathCutBodyAbortsTheCaller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
	}()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {ln.Addr().String()}}, nil)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	require.NoError(t, err)
	req.Host = "s"
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		// The head may or may not have been flushed before the abort.
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
	}
	require.Error(t, err, "the caller must not take a cut body for a whole one")
}

func TestDirectPathPassesEarlyHints(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "page")
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, nil)

	var codes []int
	var link string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			codes = append(codes, code)
			link = h.Get("Link")
			return nil
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	require.NoError(t, err)
	req.Host = "s"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "page", string(b))
	assert.Equal(t, []int{http.StatusEarlyHints}, codes)
	assert.Equal(t, "</style.css>; rel=preload", link)
	assert.Empty(t, resp.Header.Get("Link"), "the hint's headers are not repeated on the final response")
}

func TestDirectPathHead(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, nil)
	for i := 0; i < 3; i++ { // the pooled upstream connection stays in step
		resp, body := rawExchange(t, addr, "HEAD / HTTP/1.1\r\nHost: s\r\n\r\n")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "1234", resp.Header.Get("Content-Length"))
		assert.Empty(t, body)
	}
}

// A POST whose first endpoint refuses the connection is requeued to the
// next with its body whole, on the direct path.
func TestDirectPathRequeuesABodyWhole(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		_, _ = w.Write(b)
	}))
	defer be.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {dead, hostport(be.URL)}}, nil)
	for i := 0; i < 20; i++ {
		payload := strings.Repeat(string(rune('a'+i)), 1000*(i+1))
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(payload))
		require.NoError(t, err)
		req.Host = "s"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		require.Equal(t, payload, string(b), "request %d", i)
	}
}
