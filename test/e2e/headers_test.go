package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawBackend is an HTTP/1.1 server written by hand, so that the test
// sees exactly the request head slinkerd sent and controls exactly the
// response head it sends back (a Go server would add or drop headers).
type rawBackend struct {
	*Backend
	// response is written for every request, byte for byte.
	response string
	// requests receives each request: its raw head and its parsed form.
	requests chan rawRequestSeen
}

type rawRequestSeen struct {
	head string
	req  *http.Request
	body string
}

// recorder keeps every byte read through it.
type recorder struct {
	r   io.Reader
	mu  sync.Mutex
	buf bytes.Buffer
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.mu.Lock()
	rc.buf.Write(p[:n])
	rc.mu.Unlock()
	return n, err
}

func startRawBackend(t *testing.T, response string) *rawBackend {
	t.Helper()
	ln, b := listenLoopback(t)
	rb := &rawBackend{Backend: b, response: response, requests: make(chan rawRequestSeen, 16)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				rec := &recorder{r: c}
				br := bufio.NewReader(rec)
				for {
					_ = c.SetDeadline(time.Now().Add(30 * time.Second))
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					rec.mu.Lock()
					raw := rec.buf.String()
					rec.buf.Reset()
					// Keep what was read ahead for the next request.
					rec.buf.WriteString(raw[len(raw)-br.Buffered():])
					rec.mu.Unlock()
					head, _, _ := strings.Cut(raw, "\r\n\r\n")
					select {
					case rb.requests <- rawRequestSeen{head: head, req: req, body: string(body)}:
					default:
					}
					if _, err := io.WriteString(c, rb.response); err != nil {
						return
					}
				}
			}()
		}
	}()
	return rb
}

// hopResponse is what the raw backend answers in TestHeaders: a response
// full of hop-by-hop headers that slinkerd must not pass on.
const hopResponse = "HTTP/1.1 200 OK\r\n" +
	"Connection: X-Resp-Hop\r\n" +
	"X-Resp-Hop: secret\r\n" +
	"Keep-Alive: timeout=99\r\n" +
	"Proxy-Authenticate: Basic realm=\"x\"\r\n" +
	"Proxy-Connection: keep-alive\r\n" +
	"Upgrade: foo/1\r\n" +
	"X-End-To-End: kept\r\n" +
	"Content-Length: 2\r\n" +
	"\r\n" +
	"ok"

// TestHeaders checks what slinkerd does to headers on the way through:
// hop-by-hop headers removed both ways, l5d-* headers added, a client's
// l5d-* and per-request dtab headers stripped, and X-Forwarded-For /
// Forwarded written from what the proxy saw, not what the client said.
func TestHeaders(t *testing.T) {
	t.Parallel()
	be := startRawBackend(t, hopResponse)
	// /svc/<any> binds with the host as residual; /svc/exact has none.
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf(
		"/svc=>/$/inet/127.0.0.1/%d;/svc/exact=>/$/inet/127.0.0.1/%d", be.Port, be.Port)})
	client := fmt.Sprintf("/$/inet/127.0.0.1/%d", be.Port)

	t.Run("hop-by-hop and spoofed headers", func(t *testing.T) {
		resp, body := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET /hop?x=1 HTTP/1.1",
			"Host: hdrs",
			"Connection: keep-alive, X-Hop-Custom",
			"X-Hop-Custom: secret",
			"Keep-Alive: timeout=5",
			"TE: deflate",
			"Upgrade: foo/1",
			"Proxy-Authorization: Basic Zm9vOmJhcg==",
			"Proxy-Connection: keep-alive",
			"X-Forwarded-For: 6.6.6.6",
			"Forwarded: for=6.6.6.6;proto=https",
			"L5d-Dst-Service: /evil",
			"L5d-Dst-Client: /evil",
			"L5d-Dst-Residual: /evil",
			"L5d-Reqid: evil",
			"L5d-Dtab: /svc/hdrs=>/$/fail",
			"L5d-Ctx-Dtab: /svc/hdrs=>/$/fail",
			"L5d-Ctx-Trace: spoofed",
			"X-End-To-End: kept",
			"Via: 1.1 someproxy",
		))
		require.Equal(t, http.StatusOK, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Equal(t, "ok", body)

		seen := recv(t, be.requests, 5*time.Second, "the request at the backend")
		h := seen.req.Header
		assert.Equal(t, "/hop?x=1", seen.req.RequestURI)
		assert.Equal(t, "hdrs", seen.req.Host)
		for _, k := range []string{"X-Hop-Custom", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "Proxy-Connection",
			"L5d-Dtab", "L5d-Ctx-Dtab", "L5d-Ctx-Trace", "Transfer-Encoding"} {
			assert.Empty(t, h.Values(k), "request header %s should not reach the backend (head:\n%s)", k, seen.head)
		}
		assert.NotContains(t, strings.ToLower(seen.head), "x-hop-custom")
		assert.NotContains(t, strings.ToLower(seen.head), "\r\nte:")
		assert.NotContains(t, strings.ToLower(strings.Join(h.Values("Connection"), ",")), "x-hop-custom")
		assert.Equal(t, []string{"kept"}, h.Values("X-End-To-End"))

		assert.Equal(t, []string{"/svc/hdrs"}, h.Values("L5d-Dst-Service"))
		assert.Equal(t, []string{client}, h.Values("L5d-Dst-Client"))
		assert.Equal(t, []string{"/hdrs"}, h.Values("L5d-Dst-Residual"))
		require.Len(t, h.Values("L5d-Reqid"), 1)
		assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), h.Get("L5d-Reqid"))

		assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"), "the client's X-Forwarded-For must not be trusted")
		assert.Equal(t, []string{`for=127.0.0.1;proto=http;host="hdrs"`}, h.Values("Forwarded"))
		assert.Equal(t, "1.1 someproxy, 1.1 slinkerd", strings.Join(h.Values("Via"), ", "))

		for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Upgrade"} {
			assert.Empty(t, resp.Header.Values(k), "response header %s should not reach the client", k)
		}
		assert.NotContains(t, strings.ToLower(strings.Join(resp.Header.Values("Connection"), ",")), "x-resp-hop")
		assert.Equal(t, []string{"kept"}, resp.Header.Values("X-End-To-End"))
	})

	names := []struct {
		name, host, residual string
	}{
		{name: "residual after the bound name", host: "users", residual: "/users"},
		{name: "no residual", host: "exact", residual: ""},
	}
	for _, tc := range names {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET / HTTP/1.1", "Host: "+tc.host+":4140", "Connection: close"))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			h := recv(t, be.requests, 5*time.Second, "the request at the backend").req.Header
			assert.Equal(t, "/svc/"+tc.host, h.Get("L5d-Dst-Service"))
			assert.Equal(t, client, h.Get("L5d-Dst-Client"))
			if tc.residual == "" {
				assert.Empty(t, h.Values("L5d-Dst-Residual"))
			} else {
				assert.Equal(t, []string{tc.residual}, h.Values("L5d-Dst-Residual"))
			}
		})
	}

	t.Run("request ids differ", func(t *testing.T) {
		ids := map[string]bool{}
		for range 5 {
			resp, _ := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET / HTTP/1.1", "Host: hdrs", "Connection: close"))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			ids[recv(t, be.requests, 5*time.Second, "the request at the backend").req.Header.Get("L5d-Reqid")] = true
		}
		assert.Len(t, ids, 5)
	})

	t.Run("l5d-dtab ignored when overrides are off", func(t *testing.T) {
		// A malformed or rerouting per-request dtab changes nothing.
		for _, dtab := range []string{"/svc/hdrs=>/$/fail", "/svc/hdrs=>>"} {
			resp, _ := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET / HTTP/1.1", "Host: hdrs", "Connection: close", "L5d-Dtab: "+dtab))
			assert.Equal(t, http.StatusOK, resp.StatusCode, "l5d-dtab %q, l5d-err %q", dtab, resp.Header.Get("l5d-err"))
			h := recv(t, be.requests, 5*time.Second, "the request at the backend").req.Header
			assert.Empty(t, h.Values("L5d-Dtab"))
		}
	})
}

// TestDtabOverride turns SLINKERD_DTAB_OVERRIDE on: l5d-dtab and
// l5d-ctx-dtab reroute a request, and a malformed one gets 400.
func TestDtabOverride(t *testing.T) {
	t.Parallel()
	a := startHTTPBackend(t, echoBackend("a"))
	b := startHTTPBackend(t, echoBackend("b"))
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB":          inetDtab("route", a.Port),
		"SLINKERD_DTAB_OVERRIDE": "on",
	})
	c := newH1Client(t)

	tests := []struct {
		name        string
		headers     map[string]string
		wantStatus  int
		wantBackend string
		wantErr     []string // substrings of l5d-err
	}{
		{name: "no per-request dtab", wantStatus: 200, wantBackend: "a"},
		{name: "l5d-dtab reroutes", headers: map[string]string{"l5d-dtab": inetDtab("route", b.Port)}, wantStatus: 200, wantBackend: "b"},
		{name: "l5d-ctx-dtab reroutes", headers: map[string]string{"l5d-ctx-dtab": inetDtab("route", b.Port)}, wantStatus: 200, wantBackend: "b"},
		{name: "l5d-dtab wins over l5d-ctx-dtab", headers: map[string]string{
			"l5d-ctx-dtab": inetDtab("route", b.Port), "l5d-dtab": inetDtab("route", a.Port)}, wantStatus: 200, wantBackend: "a"},
		{name: "l5d-dtab to a failing name", headers: map[string]string{"l5d-dtab": "/svc/route=>!"}, wantStatus: 502, wantErr: []string{"/svc/route"}},
		{name: "malformed l5d-dtab", headers: map[string]string{"l5d-dtab": "/svc/route=>>"}, wantStatus: 400, wantErr: []string{"l5d-dtab", "offset 12"}},
		{name: "malformed l5d-ctx-dtab", headers: map[string]string{"l5d-ctx-dtab": "/svc/a=>/b;/svc/route=>"}, wantStatus: 400, wantErr: []string{"l5d-ctx-dtab", "offset 23"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, p.URL()+"/", "route", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.wantStatus, resp.StatusCode, "body %q", body)
			if tc.wantBackend != "" {
				assert.Equal(t, tc.wantBackend, resp.Header.Get("X-Backend"))
			}
			for _, s := range tc.wantErr {
				assert.Contains(t, resp.Header.Get("l5d-err"), s)
			}
			if tc.wantErr == nil {
				assert.Empty(t, resp.Header.Get("l5d-err"))
			}
		})
	}
}

// TestLoopDetection counts Via hops against SLINKERD_MAX_CALL_DEPTH, with
// hand-made Via headers and with a real loop (a dtab that sends a name
// back to slinkerd itself).
func TestLoopDetection(t *testing.T) {
	t.Parallel()
	be := startHTTPBackend(t, echoBackend("loop-backend"))
	self := closedPort(t) // slinkerd listens here, so the dtab can name it
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_LISTEN":         fmt.Sprintf("127.0.0.1:%d", self),
		"SLINKERD_MAX_CALL_DEPTH": "3",
		"SLINKERD_DTAB":           inetDtab("ok", be.Port) + ";" + inetDtab("loop", self),
	})
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", self), p.ProxyAddr)

	tests := []struct {
		name       string
		host       string
		via        []string
		wantStatus int
	}{
		{name: "no Via", host: "ok", wantStatus: 200},
		{name: "two slinkerd hops", host: "ok", via: []string{"1.1 slinkerd, 1.1 slinkerd"}, wantStatus: 200},
		{name: "three other proxies", host: "ok", via: []string{"1.1 a, 1.1 b", "1.0 c"}, wantStatus: 200},
		{name: "three slinkerd hops in one header", host: "ok", via: []string{"1.1 slinkerd, 2.0 slinkerd, 1.1 slinkerd"}, wantStatus: 508},
		{name: "three slinkerd hops in three headers", host: "ok", via: []string{"1.1 slinkerd", "1.1 other", "1.1 slinkerd", "1.1 slinkerd"}, wantStatus: 508},
		{name: "a real loop", host: "loop", wantStatus: 508},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{"Host: " + tc.host, "Connection: close"}
			for _, v := range tc.via {
				headers = append(headers, "Via: "+v)
			}
			resp, body := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET /x HTTP/1.1", headers...))
			assert.Equal(t, tc.wantStatus, resp.StatusCode, "body %q", body)
			if tc.wantStatus == 508 {
				assert.Contains(t, resp.Header.Get("l5d-err"), "loop")
			} else {
				assert.Equal(t, "hello from loop-backend: GET /x", body)
			}
		})
	}
}

// TestRequestTargetForwarded: the request-target reaches the endpoint as
// the caller sent it, from HTTP/1 and HTTP/2 callers alike. Characters
// net/url would escape (parentheses, "!", "*", brackets) stay as they
// are, as net/http's server and client leave them.
func TestRequestTargetForwarded(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RequestURI
	}))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc=>/$/inet/127.0.0.1/%d", be.Port)})
	targets := []string{"/a/b?x=1", "/a(b)", "/a!b'c*", "/a[0]", "/f%2Fb", "/a?q=(1)", "/x?", "/%7Eu/a%20b"}
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Transport{Protocols: protos}
	defer h2c.CloseIdleConnections()
	for _, target := range targets {
		resp, _ := rawRoundTrip(t, p.ProxyAddr, rawRequest("GET "+target+" HTTP/1.1", "Host: paths", "Connection: close"))
		require.Equal(t, http.StatusOK, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Equal(t, target, recv(t, seen, 5*time.Second, "the request at the backend"), "HTTP/1 caller")

		req, err := http.NewRequest("GET", "http://"+p.ProxyAddr+target, nil)
		require.NoError(t, err)
		req.Host = "paths"
		resp, err = h2c.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Equal(t, target, recv(t, seen, 5*time.Second, "the request at the backend"), "HTTP/2 caller")
	}
}
