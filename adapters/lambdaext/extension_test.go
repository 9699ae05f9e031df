package lambdaext_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/adapters/lambdaext/internal/extapi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/adapters/lambdaext"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// backend is a test server that counts the connections it accepts.
type backend struct {
	srv   *httptest.Server
	conns atomic.Int64
	port  int
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Dst-Service", r.Header.Get("L5d-Dst-Service"))
		w.Header().Set("X-Seen-Deadline", r.Header.Get("L5d-Ctx-Deadline"))
		w.Header().Set("X-Seen-Trace", r.Header.Get("X-Amzn-Trace-Id"))
		_, _ = io.WriteString(w, "hello from "+r.Host)
	}))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	b.port = b.srv.Listener.Addr().(*net.TCPAddr).Port
	return b
}

func loadConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	vars := map[string]string{"SLINKERD_LISTEN": "127.0.0.1:0", "SLINKERD_ADMIN_LISTEN": "127.0.0.1:0"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(vars)
	require.NoError(t, err)
	return cfg
}

// run is a lambdaext.Run in progress.
type run struct {
	done chan struct{} // closed when Run has returned
	err  error
}

// wait waits up to 10s for Run to return and returns its error.
func (r *run) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("lambdaext.Run did not return within 10s")
		return nil
	}
}

// runExtension starts lambdaext.Run against api and returns it, its log and
// its metrics output. logs, if not nil, is where the log goes.
func runExtension(t *testing.T, api *fakeAPI, o lambdaext.Options, logs ...*syncBuffer) (*run, *syncBuffer, *syncBuffer) {
	t.Helper()
	metrics := &syncBuffer{}
	if len(logs) == 0 {
		logs = append(logs, &syncBuffer{})
	}
	log := logs[0]
	o.RuntimeAPI = api.hostPort()
	o.Name = "slinkerd"
	o.Log = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Metrics = metrics
	r := &run{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.err = lambdaext.Run(ctx, o)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("lambdaext.Run did not return within 15s of cancel")
		}
		if t.Failed() {
			t.Logf("extension log:\n%s", log.String())
		}
	})
	return r, log, metrics
}

func proxyGet(t *testing.T, proxyAddr, host string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+proxyAddr+"/", nil)
	require.NoError(t, err)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestExtensionLifecycle(t *testing.T) {
	be := newBackend(t)
	api := newFakeAPI(t)
	cfg := loadConfig(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)})

	// Inside the first event/next the proxy must already route: the
	// function may call it during its own init.
	logs := &syncBuffer{}
	servedBeforeNext := make(chan error, 1)
	api.onFirstNext = func() {
		serving := findLog(t, logs.String(), "slinkerd serving")
		if serving == nil {
			servedBeforeNext <- errors.New(`no "slinkerd serving" log line before the first event/next`)
			return
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+serving["proxy"].(string)+"/", nil)
		req.Host = "users"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		servedBeforeNext <- err
	}
	done, _, metrics := runExtension(t, api, lambdaext.Options{Config: cfg, Started: time.Now()}, logs)
	api.waitNext(t)
	select {
	case err := <-servedBeforeNext:
		require.NoError(t, err, "the proxy must route before the first event/next")
	case <-time.After(10 * time.Second):
		t.Fatal("first event/next did not check the proxy")
	}

	api.mu.Lock()
	assert.Equal(t, "slinkerd", api.registered.Get("Lambda-Extension-Name"))
	assert.Equal(t, map[string][]string{"events": {"INVOKE", "SHUTDOWN"}}, api.regBody)
	api.mu.Unlock()
	ready := findLog(t, logs.String(), "slinkerd lambda extension ready")
	require.NotNil(t, ready)
	assert.Contains(t, ready, "startup_ms")
	t.Logf("start-up to ready, in process: %v ms (register %v ms)", ready["startup_ms"], ready["register_ms"])
	proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

	// INVOKE: the requests since the last flush come out as EMF lines.
	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-1", DeadlineMs: time.Now().Add(3 * time.Second).UnixMilli(),
		Tracing: &extapi.Tracing{Type: "X-Amzn-Trace-Id", Value: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}})
	api.waitNext(t)
	assert.Contains(t, metrics.String(), `"_aws"`, "EMF line on INVOKE")
	assert.Contains(t, metrics.String(), `/svc/users`)

	// During the invocation a request without a trace header gets the
	// invocation's.
	resp, body := proxyGet(t, proxyAddr, "users")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "hello from users", body)
	assert.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", resp.Header.Get("X-Seen-Trace"))

	// SHUTDOWN: drain and return well inside the deadline.
	deadline := time.Now().Add(2 * time.Second)
	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: deadline.UnixMilli()})
	require.NoError(t, done.wait(t))
	assert.True(t, time.Now().Before(deadline), "Run returned after the SHUTDOWN deadline")
	stopped := findLog(t, logs.String(), "slinkerd lambda extension stopped")
	require.NotNil(t, stopped)
	assert.Equal(t, "spindown", stopped["reason"])
	_, err := net.DialTimeout("tcp", proxyAddr, time.Second)
	assert.Error(t, err, "the proxy listener is closed after SHUTDOWN")
}

func TestExtensionThawClosesIdleConnections(t *testing.T) {
	tests := []struct {
		name      string
		thawGap   string
		wantConns int64
	}{
		{name: "gap 0 closes at every invocation", thawGap: "0", wantConns: 2},
		{name: "short idle keeps the pool", thawGap: "1h", wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			api := newFakeAPI(t)
			cfg := loadConfig(t, map[string]string{
				"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
				"SLINKERD_LAMBDA_THAW_GAP": tt.thawGap,
			})
			done, logs, _ := runExtension(t, api, lambdaext.Options{Config: cfg})
			api.waitNext(t)
			proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

			resp, _ := proxyGet(t, proxyAddr, "users")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-2", DeadlineMs: time.Now().Add(3 * time.Second).UnixMilli()})
			api.waitNext(t)
			resp, _ = proxyGet(t, proxyAddr, "users")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, tt.wantConns, be.conns.Load(), "connections the backend accepted")

			api.send(extapi.Event{EventType: extapi.Shutdown, DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
			require.NoError(t, done.wait(t))
		})
	}
}

func TestExtensionInitErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() })

	tests := []struct {
		name     string
		opts     func(t *testing.T) lambdaext.Options
		wantType string
		wantMsg  string
	}{
		{
			name: "invalid configuration",
			opts: func(t *testing.T) lambdaext.Options {
				_, err := config.Load(map[string]string{"SLINKERD_BALANCER": "fastest"})
				require.Error(t, err)
				return lambdaext.Options{ConfigErr: err}
			},
			wantType: "Extension.ConfigInvalid", wantMsg: "SLINKERD_BALANCER",
		},
		{
			name: "proxy port in use",
			opts: func(t *testing.T) lambdaext.Options {
				return lambdaext.Options{Config: loadConfig(t, map[string]string{"SLINKERD_LISTEN": busy.Addr().String()})}
			},
			wantType: "Extension.ListenFailed", wantMsg: "SLINKERD_LISTEN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			done, _, _ := runExtension(t, api, tt.opts(t))
			var rep reportedError
			select {
			case rep = <-api.reported:
			case <-time.After(10 * time.Second):
				t.Fatal("no error reported to the Extensions API")
			}
			assert.Equal(t, "init/error", rep.Path)
			assert.Equal(t, tt.wantType, rep.Type)
			assert.Equal(t, fakeID, rep.ID)
			assert.Equal(t, tt.wantType, rep.Report.ErrorType)
			assert.Contains(t, rep.Report.ErrorMessage, tt.wantMsg)
			err := done.wait(t)
			var se *app.StartError
			require.ErrorAs(t, err, &se)
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantType), err.Error())
			select {
			case <-api.nexts:
				t.Error("event/next called after an init error")
			default:
			}
		})
	}
}

// relay forwards TCP connections to a target until blackhole is called:
// then the connections it already has swallow everything, with no FIN
// and no RST, like connections whose NAT mapping or server-side state
// went away while the Lambda environment was frozen. New connections
// work.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*relayConn
	wg     sync.WaitGroup
}

type relayConn struct {
	a, b net.Conn
	dead atomic.Bool
}

func newRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				_ = a.Close()
				continue
			}
			rc := &relayConn{a: a, b: b}
			r.mu.Lock()
			r.conns = append(r.conns, rc)
			r.mu.Unlock()
			r.wg.Add(2)
			go rc.pipe(&r.wg, a, b)
			go rc.pipe(&r.wg, b, a)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			_ = c.a.Close()
			_ = c.b.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (c *relayConn) pipe(wg *sync.WaitGroup, from, to net.Conn) {
	defer wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !c.dead.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !c.dead.Load() {
				_ = to.Close()
			}
			return
		}
	}
}

func (r *relay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// blackhole makes every existing connection swallow its traffic.
func (r *relay) blackhole() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.dead.Store(true)
	}
}

// TestExtensionThawDropsDeadPooledConnections: a pooled connection that
// died silently during a freeze would swallow the next request (a POST
// cannot be requeued once written). After a gap of SLINKERD_LAMBDA_THAW_GAP
// the INVOKE closes idle connections first, so the request goes out on a
// fresh one.
func TestExtensionThawDropsDeadPooledConnections(t *testing.T) {
	tests := []struct {
		name       string
		thawGap    string
		wantStatus int
	}{
		{name: "after the gap the pool is dropped", thawGap: "0", wantStatus: http.StatusOK},
		// What the thaw handling prevents: the dead connection is reused
		// and the request times out.
		{name: "without it the dead connection is reused", thawGap: "1h", wantStatus: http.StatusGatewayTimeout},
	}
	// GETs and POSTs are pooled apart (a bodiless GET goes through the
	// proxy's own HTTP/1.1 client, a POST through net/http's): both pools
	// must be dropped.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tt := range tests {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				be := newBackend(t)
				rl := newRelay(t, be.srv.Listener.Addr().String())
				api := newFakeAPI(t)
				cfg := loadConfig(t, map[string]string{
					"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", rl.port()),
					"SLINKERD_LAMBDA_THAW_GAP": tt.thawGap,
					"SLINKERD_TIMEOUT_TOTAL":   "1s",
				})
				done, logs, _ := runExtension(t, api, lambdaext.Options{Config: cfg})
				api.waitNext(t)
				proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

				send := func() int {
					var body io.Reader
					if method == http.MethodPost {
						body = strings.NewReader(`{"n":1}`)
					}
					req, err := http.NewRequest(method, "http://"+proxyAddr+"/orders", body)
					require.NoError(t, err)
					req.Host = "users"
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					return resp.StatusCode
				}
				require.Equal(t, http.StatusOK, send())
				rl.blackhole() // the freeze
				api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "after-thaw", DeadlineMs: time.Now().Add(3 * time.Second).UnixMilli()})
				api.waitNext(t)
				assert.Equal(t, tt.wantStatus, send())

				api.send(extapi.Event{EventType: extapi.Shutdown, DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
				require.NoError(t, done.wait(t))
			})
		}
	}
}

// TestExtensionGCPercent: the extension runs the collector at
// ExtensionGCPercent unless GOGC says otherwise.
func TestExtensionGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	run := func() {
		// No Runtime API: Run fails at once, after setting the collector.
		err := lambdaext.Run(context.Background(), lambdaext.Options{Log: slog.New(slog.DiscardHandler)})
		require.Error(t, err)
	}

	t.Setenv("GOGC", "") // restored after the test
	require.NoError(t, os.Unsetenv("GOGC"))
	run()
	assert.Equal(t, lambdaext.ExtensionGCPercent, debug.SetGCPercent(100), "GOGC unset")

	t.Setenv("GOGC", "100")
	run()
	assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC set: left as the runtime read it")
}
