package httpserve_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/httpserve"
	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "adapters/httpserve.", "net/http.(*persistConn)", "net/http.(*conn).serve")
}

// users is the called service: it answers with the traceparent it got.
func users(t *testing.T) *slinkerd.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "users saw "+r.Header.Get("Traceparent"))
	}))
	t.Cleanup(srv.Close)
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", srv.Listener.Addr().(*net.TCPAddr).Port),
	}))
	require.NoError(t, err)
	return c
}

// frontend calls the users service with the request's context; a
// request for /slow says it has arrived on entered, then waits for block.
func frontend(c *slinkerd.Client, entered chan<- struct{}, block <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-block
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://users/", nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	})
}

type running struct {
	addr string
	done chan error
}

func start(t *testing.T, ctx context.Context, c *slinkerd.Client, h http.Handler, opts ...httpserve.Option) running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := running{addr: ln.Addr().String(), done: make(chan error, 1)}
	opts = append([]httpserve.Option{httpserve.WithListener(ln), httpserve.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	go func() { r.done <- httpserve.Run(ctx, c, h, opts...) }()
	return r
}

func (r running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

// TestRunServesCarriesTraceAndCloses: the service answers, its calls
// carry the request's traceparent, and when the context ends Run returns
// nil and the Client is closed.
func TestRunServesCarriesTraceAndCloses(t *testing.T) {
	c := users(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := start(t, ctx, c, frontend(c, nil, nil))

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, err := http.NewRequest(http.MethodGet, "http://"+r.addr+"/", nil)
	require.NoError(t, err)
	req.Header.Set("Traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, "users saw "+tp, string(b))
	http.DefaultClient.CloseIdleConnections()

	cancel()
	require.NoError(t, r.wait(t))
	_, err = c.HTTPClient().Get("http://users/")
	assert.Error(t, err, "the Client is closed once Run returns")
}

// TestRunDrains: a request in flight when Run is told to stop finishes
// within the drain time; one that outlasts it makes Run say so.
func TestRunDrains(t *testing.T) {
	for _, tt := range []struct {
		name    string
		release bool // the slow request finishes within the drain
		wantErr string
	}{
		{name: "finishes within the drain", release: true},
		{name: "outlasts the drain", wantErr: "httpserve: drain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := users(t)
			entered, block := make(chan struct{}, 1), make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			drain := 5 * time.Second
			if !tt.release {
				drain = 50 * time.Millisecond
			}
			r := start(t, ctx, c, frontend(c, entered, block), httpserve.WithDrain(drain))

			got := make(chan string, 1)
			go func() {
				resp, err := http.Get("http://" + r.addr + "/slow")
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				got <- string(b)
			}()
			// Stop once the slow request is in the handler: the server then
			// has an active connection, which Shutdown waits for.
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the slow request did not arrive")
			}
			cancel()
			if tt.release {
				close(block)
				require.NoError(t, r.wait(t))
				assert.Equal(t, "users saw ", <-got, "the request in flight was answered")
				return
			}
			err := r.wait(t)
			close(block)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			<-got
		})
	}
}

// TestRunListenError: a PORT that cannot be listened on fails Run with
// the address, and the Client is closed.
func TestRunListenError(t *testing.T) {
	t.Setenv("PORT", "notaport")
	c := users(t)
	err := httpserve.Run(context.Background(), c, http.NotFoundHandler())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "httpserve: listen on :notaport")
	_, err = c.HTTPClient().Get("http://users/")
	assert.Error(t, err)
}
