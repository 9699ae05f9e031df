package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// newPolicyProxy returns a proxy (not listening: tests call ServeHTTP)
// over dtab and names, with the given policy function.
func newPolicyProxy(t *testing.T, dtab string, names staticNamer, pol func(name.Path) (*proxy.Policy, error), obs proxy.Observer) *proxy.Proxy {
	t.Helper()
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/static", names))
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab(dtab), Namers: ns})
	require.NoError(t, err)
	p, err := proxy.New(proxy.Config{Interpreter: in, Policy: pol, Observer: obs})
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	return p
}

// serve sends one request for host through p and returns the status.
func serve(t *testing.T, p *proxy.Proxy, method, host, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(context.Background(), method, "/", rd)
	req.Host = host
	req.RemoteAddr = "127.0.0.1:1234"
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	return w.Code
}

// TestPolicyStateIsBounded: every distinct Host used to leave a policy
// entry with its own retry budget, never freed (defect 4 of issue 14:
// 40k hosts took RSS from 25 to 140 MB and each /metrics scrape then
// allocated 66 MB). Here 20k Hosts that all bind (a wildcard dentry) leave
// at most MaxServicePolicies entries plus the shared overflow, the
// /metrics output stays small, and a service seen before the flood keeps
// its own budget: nothing evicts it, so it is never reset.
func TestPolicyStateIsBounded(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "pay" {
			w.WriteHeader(503)
		}
	}))
	defer be.Close()
	var calls atomic.Int64
	clk := clock.NewFake(time.Unix(1e9, 0)) // budgets never refill by themselves
	pol := func(svc name.Path) (*proxy.Policy, error) {
		calls.Add(1)
		b, err := retry.NewBudget(retry.BudgetConfig{TTL: retry.DefaultBudgetTTL, MinRetriesPerSec: 1, Clock: clk})
		if err != nil {
			return nil, err
		}
		return &proxy.Policy{Classifier: retry.RetryableRead5XX, Budget: b, ReplayLimit: retry.DefaultReplayBufferBytes}, nil
	}
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	p := newPolicyProxy(t, "/svc/*=>/#/static/s", staticNamer{"s": {hostport(be.URL)}}, pol, tel)
	tel.SetSource(p)

	// A service seen first exhausts its own budget (10 retries in 10s).
	for range 20 {
		require.Equal(t, 503, serve(t, p, "GET", "pay", ""))
	}
	pay := serviceState(t, p, "/svc/pay")
	require.Positive(t, pay.BudgetExhausted)

	const hosts = 20000
	for i := range hosts {
		serve(t, p, "GET", fmt.Sprintf("h%d", i), "")
	}
	services := p.Services()
	t.Logf("%d hosts: %d service states, %d policy resolutions", hosts, len(services), calls.Load())
	assert.LessOrEqual(t, len(services), proxy.MaxServicePolicies+1, "per-service policy entries are capped (plus one shared overflow)")

	overflow := serviceState(t, p, proxy.OverflowService)
	assert.Positive(t, overflow.BudgetBalance, "the services past the cap share one budget")
	after := serviceState(t, p, "/svc/pay")
	assert.GreaterOrEqual(t, after.BudgetExhausted, pay.BudgetExhausted, "the early service's budget was not reset")
	assert.LessOrEqual(t, after.BudgetBalance, pay.BudgetBalance, "the early service's budget was not refilled")

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	t.Logf("/metrics: %d bytes", rec.Body.Len())
	assert.Less(t, rec.Body.Len(), 4<<20, "/metrics output stays bounded")
}

func serviceState(t *testing.T, p *proxy.Proxy, svc string) proxy.ServiceState {
	t.Helper()
	for _, s := range p.Services() {
		if s.Service == svc {
			return s
		}
	}
	t.Fatalf("no service state for %s", svc)
	return proxy.ServiceState{}
}

// TestPolicyOnlyForNamesThatBind: a Host that binds to nothing gets its
// 502 without a policy being resolved or kept for it.
func TestPolicyOnlyForNamesThatBind(t *testing.T) {
	var calls atomic.Int64
	pol := func(name.Path) (*proxy.Policy, error) { calls.Add(1); return &proxy.Policy{}, nil }
	p := newPolicyProxy(t, "/svc=>/#/static", staticNamer{}, pol, nil)
	for i := range 1000 {
		require.Equal(t, 502, serve(t, p, "GET", fmt.Sprintf("nope%d", i), ""))
	}
	assert.Zero(t, calls.Load(), "no policy is resolved for names that do not bind to endpoints")
	assert.Empty(t, p.Services())
}

// TestPolicyErrorStillAnswers502: a policy function that fails still
// gets the caller a 502 naming the service, after the name bound.
func TestPolicyErrorStillAnswers502(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer be.Close()
	pol := func(name.Path) (*proxy.Policy, error) { return nil, fmt.Errorf("bad policy") }
	p := newPolicyProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, pol, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "s"
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	assert.Equal(t, 502, w.Code)
	assert.Contains(t, w.Header().Get("l5d-err"), "no policy for /svc/s")
}

// TestReplayLimitZeroNeverReplays: ReplayLimit 0 means a request body is
// never replayed (defect 9 of issue 14: 0 became 64 KiB on the way to
// the proxy, and a POST reached the origin twice).
func TestReplayLimitZeroNeverReplays(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		wantPOST int64 // how many times the origin sees the POST body
	}{
		{name: "zero never replays", limit: 0, wantPOST: 1},
		{name: "default replays", limit: retry.DefaultReplayBufferBytes, wantPOST: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var posts atomic.Int64
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if string(b) == "payload" && posts.Add(1) == 1 {
					w.WriteHeader(503)
				}
			}))
			defer be.Close()
			pol := func(name.Path) (*proxy.Policy, error) {
				return &proxy.Policy{Classifier: retry.RetryableAll5XX, ReplayLimit: tt.limit}, nil
			}
			p := newPolicyProxy(t, "/svc=>/#/static", staticNamer{"s": {hostport(be.URL)}}, pol, nil)
			serve(t, p, "POST", "s", "payload")
			assert.Equal(t, tt.wantPOST, posts.Load())
		})
	}
}
