package slinkerd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "github.com/slinkerd/slinkerd.", "net/http.(*persistConn)", "net/http.(*conn).serve")
}

// echo is an origin that answers with its Host and the trace and
// l5d headers it was sent.
func echo(t *testing.T) int {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Dst-Service", r.Header.Get("L5d-Dst-Service"))
		w.Header().Set("X-Seen-Traceparent", r.Header.Get("Traceparent"))
		_, _ = io.WriteString(w, "hello from "+r.Host)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func newClient(t *testing.T, env map[string]string) *slinkerd.Client {
	t.Helper()
	c, err := slinkerd.New(slinkerd.WithEnv(env))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func TestClientRoutesByHost(t *testing.T) {
	port := echo(t)
	c := newClient(t, map[string]string{
		"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d;/svc/billing=>/#/io.l5d.cloudmap/prod/billing", port),
	})
	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
		wantErr    string // in l5d-err
	}{
		{name: "http URL names the service", url: "http://users/profile", wantStatus: 200, wantBody: "hello from users"},
		{name: "https URL is routed the same", url: "https://users/profile", wantStatus: 200, wantBody: "hello from users"},
		{name: "port is not part of the name", url: "http://users:8080/", wantStatus: 200, wantBody: "hello from users:8080"},
		{name: "unknown service", url: "http://orders/", wantStatus: 502, wantErr: "/svc/orders"},
		{name: "namer not imported says what to import", url: "http://billing/", wantStatus: 502,
			wantErr: "links it by importing github.com/slinkerd/slinkerd/discovery/cloudmap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.HTTPClient().Get(tt.url)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantErr != "" {
				assert.Contains(t, resp.Header.Get("L5d-Err"), tt.wantErr)
				return
			}
			assert.Equal(t, tt.wantBody, string(b))
			assert.Equal(t, "/svc/users", resp.Header.Get("X-Seen-Dst-Service"))
		})
	}
}

// TestHandlerCarriesTrace: a server wrapped with Handler passes its
// request's traceparent on to the calls it makes with the request's
// context; a call with its own trace keeps it.
func TestHandlerCarriesTrace(t *testing.T) {
	port := echo(t)
	c := newClient(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port)})
	const inbound = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const own = "00-11111111111111111111111111111111-2222222222222222-01"
	h := slinkerd.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://users/", nil)
		if r.URL.Query().Get("own") != "" {
			req.Header.Set("Traceparent", own)
		}
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = resp.Body.Close()
		_, _ = io.WriteString(w, resp.Header.Get("X-Seen-Traceparent"))
	}))
	for _, tt := range []struct{ query, want string }{{"", inbound}, {"?own=1", own}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/"+tt.query, nil)
		req.Header.Set("Traceparent", inbound)
		h.ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code, rec.Body.String())
		assert.Equal(t, tt.want, rec.Body.String())
	}
}

// TestBadConfigSaysWhich: a bad variable fails New, naming it.
func TestBadConfigSaysWhich(t *testing.T) {
	_, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_BALANCER": "fastest", "SLINKERD_DTAB": "/svc=>"}))
	require.Error(t, err)
	assert.ErrorContains(t, err, "SLINKERD_BALANCER")
	assert.ErrorContains(t, err, "SLINKERD_DTAB")
}

// TestRegisteredBalancerByEnv: SLINKERD_BALANCER names a balancer a
// program registered.
func TestRegisteredBalancerByEnv(t *testing.T) {
	countingPicks.Store(0)
	port := echo(t)
	c := newClient(t, map[string]string{
		"SLINKERD_DTAB":     fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port),
		"SLINKERD_BALANCER": "example.counting",
	})
	resp, err := c.HTTPClient().Get("http://users/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(1), countingPicks.Load())
}

var countingPicks atomic.Int64

// counting balances to the first endpoint and counts its picks.
type counting struct {
	addrs atomic.Pointer[[]name.Address]
}

func (b *counting) Pick() (*balance.Pick, error) {
	addrs := b.addrs.Load()
	if addrs == nil || len(*addrs) == 0 {
		return nil, balance.ErrNoEndpoints
	}
	countingPicks.Add(1)
	return balance.NewPick((*addrs)[0], nil), nil
}
func (b *counting) Endpoints() []balance.EndpointStats { return nil }
func (b *counting) Update(addrs []name.Address)        { b.addrs.Store(&addrs) }

func init() {
	balance.Register("example.counting", func(balance.Config) (balance.Balancer, error) { return &counting{}, nil })
}

// TestClientCallDeadline: a call whose context ends fails with the
// context's error, and the Client stays usable.
func TestClientCallDeadline(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c := newClient(t, map[string]string{"SLINKERD_DTAB": "/svc/slow=>/$/inet/" + srv.Listener.Addr().(*net.TCPAddr).IP.String() + "/" + fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port)})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://slow/", nil)
	resp, err := c.HTTPClient().Do(req)
	if err == nil {
		// The proxy may answer first: its l5d-ctx-deadline passed.
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	} else {
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

// TestClientIgnoresListenerSettings: the variables of the binary's
// listeners (SLINKERD_LISTEN, SLINKERD_ADMIN_LISTEN, SLINKERD_TLS_*) do
// not apply to the in-memory proxy, so an environment written for the
// binary works for a program too.
func TestClientIgnoresListenerSettings(t *testing.T) {
	port := echo(t)
	dir := t.TempDir()
	cert, key := dir+"/cert.pem", dir+"/key.pem"
	require.NoError(t, os.WriteFile(cert, []byte("not a certificate"), 0o600))
	require.NoError(t, os.WriteFile(key, []byte("not a key"), 0o600))
	c := newClient(t, map[string]string{
		"SLINKERD_DTAB":         fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port),
		"SLINKERD_LISTEN":       "127.0.0.1:1", // a port this test cannot bind
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:1",
		"SLINKERD_TLS_CERT":     cert,
		"SLINKERD_TLS_KEY":      key,
	})
	resp, err := c.HTTPClient().Get("http://users/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
