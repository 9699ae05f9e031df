package telemetry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// fakeSource is a proxy's state, set by the test.
type fakeSource struct {
	clients  []proxy.ClientState
	services []proxy.ServiceState
}

func (f *fakeSource) Clients() []proxy.ClientState   { return f.clients }
func (f *fakeSource) Services() []proxy.ServiceState { return f.services }

func newTel(t *testing.T, cfg telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(cfg)
	require.NoError(t, err)
	return tel
}

func ok(svc, client, ep string, lat time.Duration) *proxy.RequestEvent {
	return &proxy.RequestEvent{Service: svc, Client: client, Endpoint: ep, Status: 200, Latency: lat}
}

func findService(t *testing.T, m *telemetry.MetricsJSON, name string) telemetry.ServiceJSON {
	t.Helper()
	for _, s := range m.Services {
		if s.Service == name {
			return s
		}
	}
	t.Fatalf("no service %q in %+v", name, m.Services)
	return telemetry.ServiceJSON{}
}

func findClient(t *testing.T, m *telemetry.MetricsJSON, id string) telemetry.ClientJSON {
	t.Helper()
	for _, c := range m.Clients {
		if c.Client == id {
			return c
		}
	}
	t.Fatalf("no client %q in %+v", id, m.Clients)
	return telemetry.ClientJSON{}
}

func findEndpoint(t *testing.T, c telemetry.ClientJSON, addr string) telemetry.EndpointJSON {
	t.Helper()
	for _, e := range c.Endpoints {
		if e.Address == addr {
			return e
		}
	}
	t.Fatalf("no endpoint %q in %+v", addr, c.Endpoints)
	return telemetry.EndpointJSON{}
}

func TestMetricsCountersPerLevel(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	const users, fsUsers = "/svc/users", "/#/io.l5d.fs/users"
	for i := 0; i < 7; i++ {
		tel.Request(ok(users, fsUsers, "127.0.0.1:1", 2*time.Millisecond))
	}
	tel.Request(ok(users, fsUsers, "127.0.0.1:2", 2*time.Millisecond))
	// A backend 500 the classifier failed, after one retry.
	tel.Request(&proxy.RequestEvent{Service: users, Client: fsUsers, Endpoint: "127.0.0.1:2", Status: 500, Failed: true, Retries: 1, Latency: time.Millisecond})
	// A connect failure slinkerd answered (502), after two requeues.
	tel.Request(&proxy.RequestEvent{Service: users, Client: fsUsers, Endpoint: "127.0.0.1:3", Status: 502, Failed: true, ProxyError: true, Requeues: 2})
	// No route: no client.
	tel.Request(&proxy.RequestEvent{Service: "/svc/nosuch", Status: 502, Failed: true, ProxyError: true})
	// Unidentifiable: server totals only.
	tel.Request(&proxy.RequestEvent{Status: 400, Failed: true, ProxyError: true})

	m := tel.Snapshot()
	assert.EqualValues(t, 12, m.Server.Requests)
	assert.EqualValues(t, 8, m.Server.Successes)
	assert.EqualValues(t, 4, m.Server.Failures)
	assert.EqualValues(t, 3, m.Server.ProxyErrors)
	assert.Equal(t, map[string]uint64{"backend:5xx": 1, "proxy:5xx": 2, "proxy:4xx": 1}, m.Server.FailuresByClass)

	require.Len(t, m.Services, 2, "the unidentified request has no service")
	u := findService(t, m, users)
	assert.EqualValues(t, 10, u.Requests)
	assert.EqualValues(t, 8, u.Successes)
	assert.EqualValues(t, 2, u.Failures)
	assert.EqualValues(t, 1, u.ProxyErrors)
	assert.EqualValues(t, 1, u.Retries)
	assert.EqualValues(t, 2, u.Requeues)
	assert.EqualValues(t, 10, u.Latency.Count)
	assert.InDelta(t, 2.0, u.Latency.P50, 2.0/16)
	assert.Nil(t, u.BudgetBalance, "no source: budget unknown")

	require.Len(t, m.Clients, 1)
	c := findClient(t, m, fsUsers)
	assert.EqualValues(t, 10, c.Requests)
	assert.EqualValues(t, 7, findEndpoint(t, c, "127.0.0.1:1").Requests)
	assert.EqualValues(t, 7, findEndpoint(t, c, "127.0.0.1:1").Successes)
	e2 := findEndpoint(t, c, "127.0.0.1:2")
	assert.EqualValues(t, 2, e2.Requests)
	assert.EqualValues(t, 1, e2.Failures)
	assert.EqualValues(t, 1, e2.Retries)
	assert.False(t, e2.Live, "no source: the balancer's state is unknown")
	assert.EqualValues(t, 1, findEndpoint(t, c, "127.0.0.1:3").ProxyErrors)
}

func TestMetricsSourceStateJoinedAndBudgets(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	src := &fakeSource{
		services: []proxy.ServiceState{{Service: "/svc/a", BudgetBalance: 97, BudgetExhausted: 3}},
		clients: []proxy.ClientState{{ID: "/$/inet/127.0.0.1/1", Addr: "bound", Endpoints: []balance.EndpointStats{
			{Address: "127.0.0.1:1", Weight: 1, Pending: 2, Load: 3e6, EWMA: 1500 * time.Microsecond, State: "alive"},
			{Address: "127.0.0.1:2", Weight: 1, State: "dead", Failures: 5, DeadUntil: time.Unix(2000000000, 0)},
		}}},
	}
	tel.SetSource(src)
	tel.Request(ok("/svc/a", "/$/inet/127.0.0.1/1", "127.0.0.1:1", time.Millisecond))

	m := tel.Snapshot()
	a := findService(t, m, "/svc/a")
	require.NotNil(t, a.BudgetBalance)
	assert.Equal(t, 97, *a.BudgetBalance)
	assert.EqualValues(t, 3, a.BudgetExhausted)

	c := findClient(t, m, "/$/inet/127.0.0.1/1")
	assert.Equal(t, "bound", c.AddrState)
	assert.Equal(t, 2, c.Pending)
	assert.Equal(t, map[string]int{"alive": 1, "dead": 1}, c.States)
	e1 := findEndpoint(t, c, "127.0.0.1:1")
	assert.True(t, e1.Live)
	assert.EqualValues(t, 1, e1.Requests)
	assert.Equal(t, 2, e1.Pending)
	assert.InDelta(t, 1.5, e1.EWMAMillis, 1e-9)
	assert.Equal(t, "alive", e1.State)
	e2 := findEndpoint(t, c, "127.0.0.1:2")
	assert.True(t, e2.Live)
	assert.Zero(t, e2.Requests, "known to the balancer, no request yet")
	assert.Equal(t, "dead", e2.State)
	assert.Equal(t, 5, e2.ConsecutiveFailures)
	require.NotNil(t, e2.DeadUntil)
	assert.Equal(t, 2, m.Server.Pending)
}

func TestMetricsEndpointCapFoldsIntoOther(t *testing.T) {
	tests := []struct {
		name                 string
		max                  int
		wantOwn, wantOmitted int
		wantOtherRequests    uint64
		wantOtherEntry       bool
	}{
		// :1 and :2 served first and keep their own series; :3-:5 served
		// into "other"; :6 and :7 the balancer has, unserved, past the cap.
		{name: "cap 2 of 7", max: 2, wantOwn: 2, wantOmitted: 5, wantOtherRequests: 3, wantOtherEntry: true},
		{name: "endpoint series off", max: -1, wantOwn: 0, wantOmitted: 7, wantOtherRequests: 5, wantOtherEntry: true},
		{name: "default cap", max: 0, wantOwn: 7, wantOmitted: 0, wantOtherRequests: 0, wantOtherEntry: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTel(t, telemetry.Config{MaxEndpoints: tt.max})
			var eps []balance.EndpointStats
			for i := 1; i <= 5; i++ {
				addr := fmt.Sprintf("127.0.0.1:%d", i)
				tel.Request(ok("/svc/a", "/c", addr, time.Millisecond))
				eps = append(eps, balance.EndpointStats{Address: addr, Pending: 1, State: "alive", Weight: 1})
			}
			eps = append(eps, balance.EndpointStats{Address: "127.0.0.1:6", Pending: 1, State: "alive", Weight: 1},
				balance.EndpointStats{Address: "127.0.0.1:7", Pending: 1, State: "probing", Weight: 1})
			tel.SetSource(&fakeSource{clients: []proxy.ClientState{{ID: "/c", Addr: "bound", Endpoints: eps}}})

			c := findClient(t, tel.Snapshot(), "/c")
			assert.EqualValues(t, 5, c.Requests, "the client's totals include everything")
			assert.Equal(t, 7, c.Pending)
			assert.Equal(t, map[string]int{"alive": 6, "probing": 1}, c.States)
			own := 0
			var other *telemetry.EndpointJSON
			for i, e := range c.Endpoints {
				if e.Address == telemetry.OtherEndpoint {
					other = &c.Endpoints[i]
					continue
				}
				own++
			}
			assert.Equal(t, tt.wantOwn, own, "endpoints with their own entry")
			assert.Equal(t, tt.wantOmitted, c.Omitted)
			require.Equal(t, tt.wantOtherEntry, other != nil)
			if other != nil {
				assert.Equal(t, tt.wantOtherRequests, other.Requests)
				assert.Equal(t, tt.wantOmitted, other.Pending, "the folded endpoints' pending, summed")
			}
		})
	}
}

func TestMetricsServiceCapFoldsIntoOther(t *testing.T) {
	tel := newTel(t, telemetry.Config{MaxServices: 2})
	for i := 0; i < 5; i++ {
		tel.Request(ok(fmt.Sprintf("/svc/s%d", i), "", "", time.Millisecond))
	}
	m := tel.Snapshot()
	names := []string{}
	for _, s := range m.Services {
		names = append(names, s.Service)
	}
	assert.Equal(t, []string{"/svc/s0", "/svc/s1", "other"}, names)
	assert.EqualValues(t, 3, findService(t, m, "other").Requests)
	assert.EqualValues(t, 5, m.Server.Requests)
}

func TestMetricsQuantileWindowRotates(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tel := newTel(t, telemetry.Config{Window: 10 * time.Second, Clock: clk})
	for i := 0; i < 100; i++ {
		tel.Request(ok("/svc/a", "", "", 100*time.Millisecond))
	}
	l := findService(t, tel.Snapshot(), "/svc/a").Latency
	assert.EqualValues(t, 100, l.Count)
	assert.InDelta(t, 100, l.P99, 100.0/16)

	// A window later, the window still covers everything since start...
	clk.Advance(10 * time.Second)
	assert.EqualValues(t, 100, findService(t, tel.Snapshot(), "/svc/a").Latency.Count)
	for i := 0; i < 100; i++ {
		tel.Request(ok("/svc/a", "", "", time.Millisecond))
	}
	// ...and a window after that only the last window's fast requests.
	clk.Advance(10 * time.Second)
	l = findService(t, tel.Snapshot(), "/svc/a").Latency
	assert.EqualValues(t, 100, l.Count)
	assert.InDelta(t, 1, l.P99, 1.0/16)
	assert.InDelta(t, 1, l.Max, 1.0/16+0.001)
	// Between rotations the window grows, up to two windows.
	clk.Advance(5 * time.Second)
	tel.Request(ok("/svc/a", "", "", time.Millisecond))
	assert.EqualValues(t, 101, findService(t, tel.Snapshot(), "/svc/a").Latency.Count)
	// The cumulative counters are not windowed.
	assert.EqualValues(t, 201, findService(t, tel.Snapshot(), "/svc/a").Requests)
}

func TestMetricsConcurrentRequestsAndReads(t *testing.T) {
	tel := newTel(t, telemetry.Config{MaxEndpoints: 3})
	tel.SetSource(&fakeSource{})
	const workers, per = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				tel.Request(ok(fmt.Sprintf("/svc/s%d", i%3), "/c", fmt.Sprintf("127.0.0.1:%d", i%5), time.Millisecond))
			}
		}(w)
	}
	h := tel.MetricsHandler()
	for i := 0; i < 20; i++ {
		_ = tel.Snapshot()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusOK, rec.Code)
	}
	wg.Wait()
	m := tel.Snapshot()
	assert.EqualValues(t, workers*per, m.Server.Requests)
	assert.EqualValues(t, workers*per, findClient(t, m, "/c").Requests)
}

func TestMetricsAccessLog(t *testing.T) {
	var buf bytes.Buffer
	tel := newTel(t, telemetry.Config{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	tel.Request(&proxy.RequestEvent{Service: "/svc/a", Client: "/c", Endpoint: "127.0.0.1:1", Status: 503, Failed: true, Latency: 1500 * time.Microsecond, Retries: 1})
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	assert.Equal(t, "request", line["msg"])
	assert.Equal(t, "/svc/a", line["service"])
	assert.Equal(t, "/c", line["client"])
	assert.Equal(t, "127.0.0.1:1", line["endpoint"])
	assert.EqualValues(t, 503, line["status"])
	assert.Equal(t, true, line["failed"])
	assert.EqualValues(t, 1.5, line["latency_ms"])
	assert.EqualValues(t, 1, line["retries"])

	buf.Reset()
	quiet := newTel(t, telemetry.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	quiet.Request(ok("/svc/a", "", "", 0))
	assert.Empty(t, buf.String(), "access log off by default")
}

func TestMetricsJSONHandlerAndProcessInfo(t *testing.T) {
	tel := newTel(t, telemetry.Config{Version: "v1.2.3"})
	tel.Request(ok("/svc/a", "/c", "127.0.0.1:1", time.Millisecond))
	rec := httptest.NewRecorder()
	tel.JSONHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/metrics.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	proc := m["process"].(map[string]any)
	assert.Equal(t, "v1.2.3", proc["version"])
	assert.Greater(t, proc["rss_bytes"].(float64), 0.0, "VmRSS from /proc/self/status")
	assert.Greater(t, proc["goroutines"].(float64), 0.0)
	ep := m["clients"].([]any)[0].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
	for _, k := range []string{"address", "weight", "pending", "load", "ewma_ms", "failures", "consecutive_failures", "requests", "latency_ms"} {
		assert.Contains(t, ep, k)
	}
	_, hasConns := m["server"].(map[string]any)["open_connections"]
	assert.False(t, hasConns, "not reported until the ConnState hook is wired")

	tel.ConnState(nil, http.StateNew)
	tel.ConnState(nil, http.StateNew)
	tel.ConnState(nil, http.StateActive)
	tel.ConnState(nil, http.StateClosed)
	s := tel.Snapshot().Server
	require.NotNil(t, s.OpenConnections)
	assert.EqualValues(t, 1, *s.OpenConnections)
	assert.EqualValues(t, 2, *s.ConnectionsTotal)
}

// BenchmarkRequest is the Observer's hot path: one service, one client,
// a few endpoints, from every P at once (the worst case for contention).
func BenchmarkRequest(b *testing.B) {
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(b, err)
	svc := "/svc/users"
	evs := make([]*proxy.RequestEvent, 4)
	for i := range evs {
		evs[i] = &proxy.RequestEvent{Service: svc, Client: "/#/io.l5d.fs/users", Endpoint: fmt.Sprintf("127.0.0.1:%d", 8000+i),
			Status: 200, Latency: time.Duration(i+1) * time.Millisecond}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tel.Request(evs[i&3])
			i++
		}
	})
}
