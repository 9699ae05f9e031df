package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staticNamer binds /#/static/<name> to fixed address lists.
type staticNamer map[string][]string

func (s staticNamer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	if len(p) == 0 {
		return name.Tree[name.Bound]{}, nil
	}
	hostports, ok := s[p[0]]
	if !ok {
		return name.Tree[name.Bound]{}, nil
	}
	var addrs []name.Address
	for _, hp := range hostports {
		h, port, _ := net.SplitHostPort(hp)
		n, _ := strconv.Atoi(port)
		addrs = append(addrs, name.Address{Host: h, Port: n})
	}
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: addrs}, nil)
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "static", p[0]}, Residual: p[1:], Addr: v}), nil
}

func hostport(u string) string { return strings.TrimPrefix(u, "http://") }

func startProxy(t *testing.T, dtab string, names staticNamer, mut func(*proxy.Config)) string {
	t.Helper()
	addr, _ := serveProxy(t, dtab, "/#/static", names, mut)
	return addr
}

// serveProxy serves a Proxy whose only namer is n under prefix, with the
// config mut changes; it returns the proxy's address and the Proxy, and
// the test's cleanup stops it.
func serveProxy(t *testing.T, dtab, prefix string, n name.Namer, mut func(*proxy.Config)) (string, *proxy.Proxy) {
	t.Helper()
	ns := &bind.Namers{}
	require.NoError(t, ns.Add(prefix, n))
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab(dtab), Namers: ns})
	require.NoError(t, err)
	cfg := proxy.Config{Interpreter: in}
	if mut != nil {
		mut(&cfg)
	}
	p, err := proxy.New(cfg)
	require.NoError(t, err)
	srv, err := proxy.Listen(proxy.ServerConfig{Addr: "127.0.0.1:0"}, p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return srv.Addr().String(), p
}

func get(t *testing.T, proxyAddr, host, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+proxyAddr+path, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRoutesByHostAndSetsHeaders(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		seen.Store(&h)
		fmt.Fprintf(w, "hello from users %s", r.URL.Path)
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"users": {hostport(be.URL)}}, nil)

	resp := get(t, addr, "users:4140", "/x/y", map[string]string{
		"l5d-dtab": "/svc=>/#/static/evil", "l5d-dst-service": "/spoofed", "Connection": "X-Hop", "X-Hop": "1",
		"X-Forwarded-For": "6.6.6.6",
	})
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Equal(t, "hello from users /x/y", string(body))
	h := *seen.Load()
	assert.Equal(t, "/svc/users", h.Get("l5d-dst-service"))
	assert.Equal(t, "/#/static/users", h.Get("l5d-dst-client"))
	assert.Len(t, h.Get("l5d-reqid"), 16)
	assert.Empty(t, h.Get("l5d-dtab"), "dtab overrides are off by default")
	assert.Empty(t, h.Get("X-Hop"), "hop-by-hop headers named in Connection are removed")
	assert.Equal(t, "127.0.0.1", h.Get("X-Forwarded-For"), "the client's X-Forwarded-For is not trusted")
	assert.Contains(t, h.Get("Forwarded"), "for=127.0.0.1")
	assert.Equal(t, "1.1 slinkerd", h.Get("Via"))
}

func TestErrors(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"dead": {deadAddr}, "empty": {}}, nil)
	cases := []struct {
		name      string
		host      string
		status    int
		retryable bool
	}{
		{name: "unknown service", host: "nope", status: 502, retryable: true},
		{name: "empty service", host: "empty", status: 502, retryable: true},
		{name: "dead endpoint", host: "dead", status: 502, retryable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, addr, tc.host, "/", nil)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.NotEmpty(t, resp.Header.Get("l5d-err"))
			if tc.retryable {
				assert.Equal(t, "true", resp.Header.Get("l5d-retryable"))
			}
		})
	}
}

func TestRetriesReadOn503(t *testing.T) {
	var bad, good atomic.Int64
	b1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { bad.Add(1); w.WriteHeader(503) }))
	defer b1.Close()
	b2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { good.Add(1); io.WriteString(w, "ok") }))
	defer b2.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(b1.URL), hostport(b2.URL)}}, func(c *proxy.Config) {
		c.Policy = func(name.Path) (*proxy.Policy, error) { return &proxy.Policy{Classifier: retry.RetryableRead5XX}, nil }
	})
	for i := 0; i < 50; i++ {
		resp := get(t, addr, "s", "/", nil)
		require.Equal(t, 200, resp.StatusCode)
	}
	assert.Equal(t, int64(50), good.Load())
	assert.Greater(t, bad.Load(), int64(0))
}

func TestDeadlineHeaders(t *testing.T) {
	var got atomic.Pointer[http.Header]
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		got.Store(&h)
	}))
	defer be.Close()
	addr := startProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, func(c *proxy.Config) {
		c.Policy = func(name.Path) (*proxy.Policy, error) {
			return &proxy.Policy{TotalTimeout: 300 * time.Millisecond}, nil
		}
	})
	resp := get(t, addr, "s", "/", nil)
	require.Equal(t, 200, resp.StatusCode)
	h := *got.Load()
	f := strings.Fields(h.Get("l5d-ctx-deadline"))
	require.Len(t, f, 2)
	start, _ := strconv.ParseInt(f[0], 10, 64)
	end, _ := strconv.ParseInt(f[1], 10, 64)
	assert.LessOrEqual(t, end-start, int64(300*time.Millisecond))
	assert.Greater(t, end-start, int64(0))
	to := h.Get("grpc-timeout")
	require.NotEmpty(t, to)
}
