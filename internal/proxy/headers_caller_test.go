package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// headerOrigin records the headers of the last request it got.
type headerOrigin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last http.Header
}

func startHeaderOrigin(t *testing.T) *headerOrigin {
	t.Helper()
	o := &headerOrigin{}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		o.last = r.Header.Clone()
		o.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	// HTTP/2 callers are proxied over h2c.
	o.srv.Config.Protocols = new(http.Protocols)
	o.srv.Config.Protocols.SetHTTP1(true)
	o.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *headerOrigin) headers() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// rawRoundTrip writes req on a new connection and reads one response.
func rawRoundTrip(t *testing.T, dial func(*testing.T) net.Conn, req string) (*http.Response, string) {
	t.Helper()
	c := dial(t)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := io.WriteString(c, req)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(b)
}

// TestCallerH2CUpgradeIsStripped: a caller's "Upgrade: h2c" (RFC 7540
// §3.2, gone from RFC 9113) is not passed on, nor its HTTP2-Settings: the
// request is proxied as plain HTTP/1.1, as Envoy does. Other upgrade
// tokens stay.
func TestCallerH2CUpgradeIsStripped(t *testing.T) {
	o := startHeaderOrigin(t)
	dial := startCallerProxy(t, strings.TrimPrefix(o.srv.URL, "http://"), false, nil)
	tests := []struct {
		name, upgrade string
		wantUpgrade   string
	}{
		{"h2c alone", "h2c", ""},
		{"h2c in a list", "H2C, foo/1", "foo/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRoundTrip(t, dial, "GET /up HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
				"Upgrade: "+tt.upgrade+"\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
			if tt.wantUpgrade == "" {
				require.Equal(t, 200, resp.StatusCode, body)
				assert.Equal(t, "ok", body)
			}
			h := o.headers()
			require.NotNil(t, h)
			assert.Equal(t, tt.wantUpgrade, h.Get("Upgrade"))
			assert.Empty(t, h.Values("Http2-Settings"))
		})
	}
}

// TestCallerHeadersWithUnderscoresAreDropped: header names with an
// underscore (Transfer_Encoding next to the real Transfer-Encoding) are
// dropped, as nginx does by default (underscores_in_headers off): a hop
// that maps "_" to "-" would see two framings. On both data paths, and
// from HTTP/2 callers.
func TestCallerHeadersWithUnderscoresAreDropped(t *testing.T) {
	o := startHeaderOrigin(t)
	dial := startCallerProxy(t, strings.TrimPrefix(o.srv.URL, "http://"), false, nil)
	const under = "Transfer_Encoding: chunked\r\nContent_Length: 5\r\nX_Custom: a\r\nX-Kept: yes\r\n"
	check := func(t *testing.T) {
		t.Helper()
		h := o.headers()
		require.NotNil(t, h)
		for k := range h {
			assert.NotContains(t, k, "_", "forwarded %s: %q", k, h[k])
		}
		assert.Equal(t, "yes", h.Get("X-Kept"))
	}
	t.Run("direct path", func(t *testing.T) {
		resp, body := rawRoundTrip(t, dial, "GET / HTTP/1.1\r\nHost: web\r\n"+under+"\r\n")
		require.Equal(t, 200, resp.StatusCode, body)
		check(t)
	})
	t.Run("reverse proxy path", func(t *testing.T) {
		resp, body := rawRoundTrip(t, dial, "POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n"+under+"\r\n3\r\nabc\r\n0\r\n\r\n")
		require.Equal(t, 200, resp.StatusCode, body)
		check(t)
	})
	t.Run("HTTP/2 caller", func(t *testing.T) {
		c := dial(t)
		tr := &http.Transport{
			Protocols:   new(http.Protocols),
			DialContext: func(context.Context, string, string) (net.Conn, error) { return c, nil },
		}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		req, err := http.NewRequest(http.MethodGet, "http://web/", nil)
		require.NoError(t, err)
		req.Header["Transfer_encoding"] = []string{"chunked"}
		req.Header["X_custom"] = []string{"a"}
		req.Header.Set("X-Kept", "yes")
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, 2, resp.ProtoMajor)
		check(t)
	})
}

// informationalOrigin answers every request with a 103 and a 100, then
// 200 "ok".
func informationalOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
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
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n")
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// statusLines writes req on a new connection and returns the status line
// of every response head read until the final one.
func statusLines(t *testing.T, dial func(*testing.T) net.Conn, req string) []string {
	t.Helper()
	c := dial(t)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := io.WriteString(c, req)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	var lines []string
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err, "after %q", lines)
		lines = append(lines, strings.TrimSpace(line))
		for { // the rest of the head
			l, err := br.ReadString('\n')
			require.NoError(t, err)
			if l == "\r\n" {
				break
			}
		}
		if !strings.Contains(line, " 1") || strings.Contains(line, " 101 ") {
			return lines
		}
	}
}

// TestCallerHTTP10GetsNo1xx: RFC 9110 §15.2: "A server MUST NOT send a
// 1xx response to an HTTP/1.0 client." The origin's 103 and 100 reach an
// HTTP/1.1 caller and never an HTTP/1.0 one, on both data paths.
func TestCallerHTTP10GetsNo1xx(t *testing.T) {
	origin := informationalOrigin(t)
	direct := startCallerProxy(t, origin, false, nil)
	viaRP := startCallerProxy(t, origin, false, func(c *proxy.Config) { c.DisableFastPath = true })
	tests := []struct {
		name  string
		dial  func(*testing.T) net.Conn
		req   string
		want1 bool // 1xx responses reach the caller
	}{
		{"HTTP/1.0, direct path", direct, "GET / HTTP/1.0\r\nHost: web\r\n\r\n", false},
		{"HTTP/1.0, reverse proxy path", viaRP, "GET / HTTP/1.0\r\nHost: web\r\n\r\n", false},
		{"HTTP/1.0 with Expect, reverse proxy path", viaRP, "POST / HTTP/1.0\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", false},
		{"HTTP/1.1, direct path", direct, "GET / HTTP/1.1\r\nHost: web\r\n\r\n", true},
		{"HTTP/1.1, reverse proxy path", viaRP, "GET / HTTP/1.1\r\nHost: web\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := statusLines(t, tt.dial, tt.req)
			require.NotEmpty(t, lines)
			assert.Contains(t, lines[len(lines)-1], " 200 ")
			if tt.want1 {
				assert.Contains(t, lines[0], " 103 ", "%q", lines)
			} else {
				assert.Len(t, lines, 1, "an HTTP/1.0 caller got %q", lines)
			}
		})
	}
}
