package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metaNamer binds /#/meta/<name> to fixed addresses with their Meta.
type metaNamer map[string][]name.Address

func (m metaNamer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	if len(p) == 0 || m[p[0]] == nil {
		return name.Tree[name.Bound]{}, nil
	}
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: m[p[0]]}, nil)
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "meta", p[0]}, Residual: p[1:], Addr: v}), nil
}

func addrOf(t *testing.T, hp string, meta map[string]string) name.Address {
	t.Helper()
	h, port, err := net.SplitHostPort(hp)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return name.Address{Host: h, Port: n, Meta: meta}
}

// startMetaProxy serves a Proxy for /svc => /#/meta; it returns the
// proxy's address and the Proxy.
func startMetaProxy(t *testing.T, names metaNamer, mut func(*proxy.Config)) (string, *proxy.Proxy) {
	t.Helper()
	return serveProxy(t, "/svc=>/#/meta", "/#/meta", names, mut)
}

// rawOrigin accepts connections on loopback and calls serve for each
// request read from one, until serve returns false or the connection
// ends; the test's cleanup closes the listener. It returns the address.
func rawOrigin(t *testing.T, serve func(c net.Conn, req *http.Request) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil || !serve(c, req) {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// audienceTokens mints "tok-<audience>".
type audienceTokens struct{}

func (audienceTokens) Token(_ context.Context, aud string) (string, error) { return "tok-" + aud, nil }

// An ID token is minted for one attempt to one endpoint: a retry or a
// requeue to another endpoint carries the caller's own Authorization
// (or none), never the token of the endpoint tried before. (Issue 14,
// defect 3.)
func TestIDTokensDoNotOutliveTheirAttempt(t *testing.T) {
	type seen struct{ endpoint, auth string }
	var mu sync.Mutex
	var got []seen
	origin := func(label string, status int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			got = append(got, seen{label, r.Header.Get("Authorization")})
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(s.Close)
		return s
	}
	failing := origin("failing", http.StatusServiceUnavailable) // audience a: retried away from
	plain := origin("plain", http.StatusOK)                     // no audience
	other := origin("other", http.StatusOK)                     // audience c
	refused, err := net.Listen("tcp", "127.0.0.1:0")            // audience r: requeued away from
	require.NoError(t, err)
	refusedAddr := refused.Addr().String()
	require.NoError(t, refused.Close())

	names := metaNamer{"x": {
		addrOf(t, hostport(failing.URL), map[string]string{"audience": "a"}),
		addrOf(t, refusedAddr, map[string]string{"audience": "r"}),
		addrOf(t, hostport(plain.URL), nil),
		addrOf(t, hostport(other.URL), map[string]string{"audience": "c"}),
	}}
	addr, _ := startMetaProxy(t, names, func(c *proxy.Config) {
		c.Tokens = audienceTokens{}
		c.Balancer = balance.Config{Kind: "roundrobin"}
		c.Policy = func(name.Path) (*proxy.Policy, error) {
			return &proxy.Policy{Classifier: retry.RetryableAll5XX}, nil
		}
	})

	for i := range 48 {
		method := []string{"GET", "POST"}[i%2] // the direct path and the ReverseProxy's
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		req, err := http.NewRequest(method, "http://"+addr+"/", body)
		require.NoError(t, err)
		req.Host = "x"
		if i%4 >= 2 {
			req.Header.Set("Authorization", "Bearer caller")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	mu.Lock()
	defer mu.Unlock()
	var toPlain int
	for _, s := range got {
		switch s.endpoint {
		case "failing":
			assert.Equal(t, "Bearer tok-a", s.auth)
		case "other":
			assert.Equal(t, "Bearer tok-c", s.auth)
		case "plain":
			toPlain++
			assert.Contains(t, []string{"", "Bearer caller"}, s.auth, "an endpoint with no audience got another endpoint's token")
		}
	}
	require.NotZero(t, toPlain)
}

// A status code outside 100–599 gets the caller a 502 on both paths,
// the proxy keeps serving, and the endpoint's pending count goes back
// to zero. (Issue 14, defect 6: a code below 100 panicked the handler
// and leaked the pick.)
func TestStatusCodesOutOfRangeAre502(t *testing.T) {
	for _, code := range []string{"000", "099", "600"} {
		t.Run(code, func(t *testing.T) {
			origin := rawOrigin(t, func(c net.Conn, req *http.Request) bool {
				_, _ = io.Copy(io.Discard, req.Body)
				_, err := io.WriteString(c, "HTTP/1.1 "+code+" Odd\r\nContent-Length: 2\r\n\r\nok")
				return err == nil
			})
			addr, p := startMetaProxy(t, metaNamer{"x": {addrOf(t, origin, nil)}}, nil)
			for _, method := range []string{"GET", "POST", "GET"} {
				req, err := http.NewRequest(method, "http://"+addr+"/", strings.NewReader(""))
				require.NoError(t, err)
				if method == "POST" {
					req.Body, req.ContentLength = reverseProxyBody(), -1
				}
				req.Host = "x"
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err, method)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusBadGateway, resp.StatusCode, method)
				assert.Contains(t, resp.Header.Get("l5d-err"), "status code", method)
			}
			cs := p.Clients()
			require.Len(t, cs, 1)
			for _, e := range cs[0].Endpoints {
				assert.Zero(t, e.Pending, "pending requests leaked on %s", e.Address)
			}
		})
	}
}

// An endpoint that never answers, or drips its response head, is given
// up on after the response head timeout with 504 on both paths; a
// response whose body streams for longer than the timeout is not cut.
// (Issue 14, defect 5.)
func TestResponseHeadTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	origin := rawOrigin(t, func(c net.Conn, req *http.Request) bool {
		_, _ = io.Copy(io.Discard, req.Body)
		switch req.URL.Path {
		case "/silent":
		case "/drip": // a byte of head now and then, never the end
			for _, b := range []byte("HTTP/1.1 200 OK\r\nX-A: 1\r\n") {
				select {
				case <-release:
					return false
				case <-time.After(50 * time.Millisecond):
				}
				_, _ = c.Write([]byte{b})
			}
		case "/stream": // the head at once, then a slow body
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
			select {
			case <-release:
				return false
			case <-time.After(time.Second):
			}
			_, _ = io.WriteString(c, "cd")
			return false
		}
		<-release
		return false
	})
	tr := proxy.NewTransports(proxy.TransportConfig{ResponseHeaderTimeout: 500 * time.Millisecond})
	addr, _ := startMetaProxy(t, metaNamer{"x": {addrOf(t, origin, nil)}}, func(c *proxy.Config) { c.Transports = tr })

	for _, path := range []string{"/silent", "/drip", "/stream"} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(fmt.Sprint(method, path), func(t *testing.T) {
				req, err := http.NewRequest(method, "http://"+addr+path, nil)
				require.NoError(t, err)
				if method == "POST" {
					req.Body, req.ContentLength = reverseProxyBody(), -1
				}
				req.Host = "x"
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if path == "/stream" {
					require.NoError(t, err)
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					assert.Equal(t, "abcd", string(b))
					return
				}
				assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
				assert.Contains(t, resp.Header.Get("l5d-err"), "SLINKERD_RESPONSE_HEADER_TIMEOUT")
			})
		}
	}
}

// A caller that sends Expect: 100-continue to an endpoint that refuses
// it gets the refusal and no 100 Continue, and its connection is closed
// rather than left waiting for a body the caller will not send. (Issue
// 14, defect 13; nginx and Envoy answer the same way.)
func TestExpectContinueToARefusingEndpoint(t *testing.T) {
	origin := rawOrigin(t, func(c net.Conn, _ *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
		return false
	})
	addr, _ := startMetaProxy(t, metaNamer{"x": {addrOf(t, origin, nil)}}, nil)
	for host, status := range map[string]string{"x": "417", "nosuch": "502"} { // the endpoint's answer, and the proxy's
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: "+host+"\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		got, err := io.ReadAll(c) // to the end: the proxy must close
		require.NoError(t, err, "the connection was left open, waiting for the body; read %q", got)
		assert.True(t, strings.HasPrefix(string(got), "HTTP/1.1 "+status+" "), "got %q", got)
		assert.NotContains(t, string(got), "100 Continue")
	}
}

// Both paths give up on an endpoint that sends more than 10 interim
// (1xx) responses, with 502: the fast path and the ReverseProxy's path
// agree. (Found by the adversarial suite's differential run: the
// ReverseProxy's path passed on any number of them.)
func TestInformationalStormIs502OnBothPaths(t *testing.T) {
	origin := rawOrigin(t, func(c net.Conn, req *http.Request) bool {
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(c, strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n", 12)+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	addr, _ := startMetaProxy(t, metaNamer{"x": {addrOf(t, origin, nil)}}, nil)
	for _, method := range []string{"GET", "POST"} {
		req, err := http.NewRequest(method, "http://"+addr+"/", nil)
		require.NoError(t, err)
		if method == "POST" {
			req.Body, req.ContentLength = reverseProxyBody(), -1
		}
		req.Host = "x"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, method)
		assert.Contains(t, resp.Header.Get("l5d-err"), "informational", method)
	}
}

// reverseProxyBody is a request body of unknown length that takes the
// ReverseProxy's path: sent chunked, and too large to have arrived whole
// in the server's read buffer, so the proxy does not take it into memory
// and send it with a Content-Length on the direct path (inlineArrived).
func reverseProxyBody() io.ReadCloser {
	return io.NopCloser(strings.NewReader(strings.Repeat("x", 20<<10)))
}
