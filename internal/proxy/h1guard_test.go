package proxy

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serveGuarded runs a Server (so a guarded listener) whose handler
// answers 200 with the request's method, path and body length.
func serveGuarded(t *testing.T) (addr string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, n)
	})
	s, err := Listen(ServerConfig{Addr: "127.0.0.1:0", MaxHeaderBytes: 8 << 10}, h)
	require.NoError(t, err)
	go func() { _ = s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s.Addr().String(), calls
}

// exchange writes raw on a new connection and reads responses until the
// server closes it, returning their status codes and bodies.
func exchange(t *testing.T, addr, raw string) (statuses []int, bodies []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, bodies
		}
		b, _ := io.ReadAll(resp.Body)
		statuses = append(statuses, resp.StatusCode)
		bodies = append(bodies, string(b))
	}
}

func TestH1GuardRefuses(t *testing.T) {
	addr, calls := serveGuarded(t)
	good := "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name string
		raw  string
		want []int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []int{400}},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []int{400}},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{400}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", []int{400}},
		{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", []int{400}},
		{"different Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []int{400}},
		{"after a good request", good + "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{200, 400}},
		{"smuggled in a body that looks like one", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" +
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", []int{200, 400}},
		{"after a chunked request with trailers", "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
			"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", []int{200, 400}},
		{"fold in a trailer", "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", []int{400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			got, bodies := exchange(t, addr, tt.raw)
			assert.Equal(t, tt.want, got, "bodies %q", bodies)
			// Only the good requests reached the handler.
			good := 0
			for _, s := range tt.want {
				if s == 200 {
					good++
				}
			}
			if tt.name != "fold in a trailer" {
				assert.Equal(t, int64(good), calls.Load()-before)
			}
		})
	}
}

// TestH1GuardPassesGoodTraffic sends one keep-alive connection every
// framing a client may use, several times over and in one write
// (pipelined) and byte by byte, and expects every request answered.
func TestH1GuardPassesGoodTraffic(t *testing.T) {
	addr, _ := serveGuarded(t)
	// A body that holds what would be refused as a head.
	const smuggled = "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
	reqs := []string{
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;name=value\r\n" + strings.Repeat("x", 26) + "\r\n0\r\n\r\n",
		"POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n",
		"PUT /e HTTP/1.1\nHost: a\nContent-Length: 2\n\nhi",
		"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc\r\n",
		"GET /g HTTP/1.1\r\nHost: a\r\nX-Body: Content-Length: 3\r\nX-Te: Transfer-Encoding: chunked\r\n\r\n",
		"POST /h HTTP/1.1\r\nHost: a\r\nContent-Length: " + fmt.Sprint(len(smuggled)) + "\r\n\r\n" + smuggled,
		"GET /i HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
	}
	var all strings.Builder
	for range 3 {
		for _, r := range reqs {
			all.WriteString(r)
		}
	}
	want := 3 * len(reqs)

	t.Run("pipelined", func(t *testing.T) {
		got, bodies := exchange(t, addr, all.String())
		require.Len(t, got, want, "bodies %q", bodies)
		for i, s := range got {
			assert.Equal(t, 200, s, "request %d: %q", i, bodies[i])
		}
		assert.Equal(t, fmt.Sprintf("POST /h %d", len(smuggled)), bodies[7])
	})
	t.Run("byte by byte", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
		done := make(chan []int, 1)
		go func() {
			var got []int
			br := bufio.NewReader(c)
			for range want {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				got = append(got, resp.StatusCode)
			}
			done <- got
		}()
		s := all.String()
		for i := range len(s) {
			_, err := c.Write([]byte{s[i]})
			require.NoError(t, err)
		}
		got := <-done
		require.Len(t, got, want)
		for _, s := range got {
			assert.Equal(t, 200, s)
		}
	})
}

// TestH1GuardKeepsH2C checks that an h2c (prior knowledge) connection
// still works through the guarded listener.
func TestH1GuardKeepsH2C(t *testing.T) {
	addr, _ := serveGuarded(t)
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protos}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post("http://"+addr+"/h2", "text/plain", strings.NewReader("abc"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor)
	assert.Equal(t, "POST /h2 3", string(b))
}

// TestH1GuardSettingsFlood: a cleartext HTTP/2 client may send
// maxPeerSettings SETTINGS frames on a connection and be served; one
// more, and the proxy closes the connection, by its own count, whether
// or not the client reads (CVE-2019-9515).
func TestH1GuardSettingsFlood(t *testing.T) {
	addr, _ := serveGuarded(t)
	tests := []struct {
		name     string
		settings int
		closed   bool
	}{
		{"at the cap", maxPeerSettings, false},
		{"over the cap", maxPeerSettings + 1, true},
		{"flood", 50 * maxPeerSettings, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			// Never read while flooding: the answers pile up.
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			bw := bufio.NewWriterSize(c, 64<<10)
			fr := http2.NewFramer(bw, c)
			_, err = io.WriteString(bw, http2.ClientPreface)
			require.NoError(t, err)
			var werr error
			for i := 0; i < tt.settings && werr == nil; i++ {
				werr = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
			}
			if werr == nil {
				// A request after the SETTINGS: served unless the
				// connection was closed.
				var hb bytes.Buffer
				enc := hpack.NewEncoder(&hb)
				for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/after"}} {
					_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
				}
				werr = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			}
			if werr == nil {
				werr = bw.Flush()
			}
			// Now read everything the proxy sends until it answers the
			// request or closes the connection.
			answered := false
			for !answered {
				f, err := fr.ReadFrame()
				if err != nil {
					var ne net.Error
					require.False(t, errors.As(err, &ne) && ne.Timeout(), "neither answered nor closed")
					break
				}
				if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == 1 {
					answered = true
				}
			}
			assert.Equal(t, !tt.closed, answered, "write error: %v", werr)
		})
	}
}
