package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fakecloudmap "github.com/slinkerd/slinkerd/test/fakes/cloudmap"
	fakecloudrun "github.com/slinkerd/slinkerd/test/fakes/cloudrun"
	fakemetadata "github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// outagePeriod is how long the Cloud Map fake throttles, then is down, in
// TestCloudMapDiscovery: a few seconds by default, longer (60s in a chaos
// run) with SLINKERD_E2E_OUTAGE=60s.
func outagePeriod(t *testing.T) time.Duration {
	if v := os.Getenv("SLINKERD_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SLINKERD_E2E_OUTAGE")
		return d
	}
	return 3 * time.Second
}

// idBackend answers with its id and counts requests.
type idBackend struct {
	id   string
	b    *Backend
	hits atomic.Int64
	last atomic.Int64 // unix ns of the last request
}

func startIDBackend(t *testing.T, id string) *idBackend {
	t.Helper()
	ib := &idBackend{id: id}
	ib.b = startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ib.hits.Add(1)
		ib.last.Store(time.Now().UnixNano())
		_, _ = io.WriteString(w, id)
	}))
	return ib
}

// traffic sends requests for host through the proxy at a steady rate
// until stopped, counting failures.
type traffic struct {
	// sent counts requests sent; dropped those the client could not send
	// on time because 512 were in flight (the test machine is saturated:
	// not a failure of the proxy); failed those that got an error.
	sent, dropped, failed atomic.Int64
	mu                    sync.Mutex
	errs                  []string
	stop                  chan struct{}
	done                  chan struct{}
}

// startTraffic sends rate requests per second (open loop: requests are
// sent on schedule whatever the responses, at most 512 in flight) to url
// with Host host.
func startTraffic(t *testing.T, url, host string, rate int) *traffic {
	t.Helper()
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	client := newH1Client(t)
	client.Timeout = 10 * time.Second
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 512 // reuse connections at any rate
	sem := make(chan struct{}, 512)
	go func() {
		defer close(tr.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		// Every tick sends the requests due by then, so the rate holds even
		// when ticks come late.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			due := int64(time.Since(start).Seconds()*float64(rate)) - tr.sent.Load() - tr.dropped.Load()
			for range due {
				tr.send(client, sem, &wg, url, host)
			}
		}
	}()
	t.Cleanup(tr.Stop)
	return tr
}

// send starts one request, unless 512 are in flight.
func (tr *traffic) send(client *http.Client, sem chan struct{}, wg *sync.WaitGroup, url, host string) {
	select {
	case sem <- struct{}{}:
	default:
		tr.dropped.Add(1)
		return
	}
	tr.sent.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-sem }()
		req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			tr.fail(err.Error())
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tr.fail(fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("l5d-err")))
		}
	}()
}

func (tr *traffic) fail(msg string) {
	tr.failed.Add(1)
	tr.mu.Lock()
	if len(tr.errs) < 10 {
		tr.errs = append(tr.errs, msg)
	}
	tr.mu.Unlock()
}

// Stop stops sending and waits for requests in flight.
func (tr *traffic) Stop() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
}

func (tr *traffic) requireNoFailure(t *testing.T, phase string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	require.Zero(t, tr.failed.Load(), "%s: %d of %d requests failed, e.g. %v", phase, tr.failed.Load(), tr.sent.Load(), tr.errs)
}

// waitServed waits until b gets traffic.
func waitServed(t *testing.T, b *idBackend, within time.Duration) {
	t.Helper()
	n := b.hits.Load()
	waitFor(t, within, b.id+" gets traffic", func() bool { return b.hits.Load() > n })
}

// waitDrained waits until b has had no request for quiet.
func waitDrained(t *testing.T, b *idBackend, quiet, within time.Duration) {
	t.Helper()
	waitFor(t, within, b.id+" gets no more traffic", func() bool {
		return time.Since(time.Unix(0, b.last.Load())) > quiet
	})
}

// TestCloudMapDiscovery runs the real binary against the Cloud Map fake:
// traffic follows instances that are added, marked unhealthy and removed,
// and keeps flowing to the last good set while the fake throttles and is
// down; no request fails throughout.
func TestCloudMapDiscovery(t *testing.T) {
	outage := outagePeriod(t)
	cm, err := fakecloudmap.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cm.Close() })
	a, b, c := startIDBackend(t, "a"), startIDBackend(t, "b"), startIDBackend(t, "c")
	require.NoError(t, cm.RegisterIP("demo", "users", "a", a.b.Addr, nil))
	require.NoError(t, cm.RegisterIP("demo", "users", "b", b.b.Addr, nil))

	env := fakecloudmap.SDKEnv(cm.URL())
	env["SLINKERD_DTAB"] = "/svc=>/#/io.l5d.cloudmap/demo"
	env["SLINKERD_DISCOVERY_TTL"] = "1s"
	env["SLINKERD_CLOUDMAP_FULL_REFRESH"] = "2s"
	// Lazy refresh, as in Lambda and Cloud Run: only traffic drives it.
	env["SLINKERD_DISCOVERY_BACKGROUND"] = "false"
	p := startSlinkerd(t, env)
	assert.Zero(t, cm.TotalCalls(), "no discovery call before the first request")

	tr := startTraffic(t, p.URL(), "users", 200)
	waitServed(t, a, 5*time.Second)
	waitServed(t, b, 5*time.Second)

	// Added: within a revision poll (TTL 1s).
	require.NoError(t, cm.RegisterIP("demo", "users", "c", c.b.Addr, nil))
	start := time.Now()
	waitServed(t, c, 5*time.Second)
	t.Logf("registered instance served after %s", time.Since(start).Round(time.Millisecond))

	// Unhealthy: the revision does not change; the full refresh (2s) sees it.
	cm.SetHealthy("demo", "users", "a", false)
	waitDrained(t, a, time.Second, 8*time.Second)

	// Removed: within a revision poll.
	require.True(t, cm.Deregister("demo", "users", "b"))
	waitDrained(t, b, time.Second, 6*time.Second)
	tr.requireNoFailure(t, "changes")

	// Throttled, then down: the last good set (c) keeps serving. Each
	// outage lasts the period and at least until slinkerd has tried (and
	// failed) once; then the fake answers until slinkerd has recovered.
	for _, mode := range []fakecloudmap.Mode{fakecloudmap.Throttle, fakecloudmap.Down} {
		cm.SetMode(mode)
		calls, served, start := cm.TotalCalls(), c.hits.Load(), time.Now()
		waitFor(t, outage+70*time.Second, "the outage to pass with a failed call", func() bool {
			return time.Since(start) >= outage && cm.TotalCalls() > calls
		})
		failedCalls, lasted := cm.TotalCalls()-calls, time.Since(start)
		cm.SetMode(fakecloudmap.Normal)
		recovered := cm.TotalCalls()
		waitFor(t, 70*time.Second, "a successful discovery call", func() bool { return cm.TotalCalls() > recovered })
		t.Logf("mode %d for %s: %d failed discovery calls (backing off), %d requests served; recovered %s after the outage ended",
			mode, lasted.Round(time.Millisecond), failedCalls, c.hits.Load()-served, (time.Since(start) - lasted).Round(time.Millisecond))
		assert.Greater(t, c.hits.Load(), served)
		tr.requireNoFailure(t, fmt.Sprintf("outage mode %d", mode))
	}
	// Recovered: a new registration is seen again (after the backoff).
	cm.SetHealthy("demo", "users", "a", true)
	waitServed(t, a, 15*time.Second)
	tr.Stop()
	tr.requireNoFailure(t, "whole run")
	t.Logf("%d requests, none failed", tr.sent.Load())

	// The admin endpoint shows the name.
	st := discoveryState(t, p, "/#/io.l5d.cloudmap")
	require.Len(t, st, 1)
	assert.Equal(t, "demo/users", st[0]["name"])
	assert.Len(t, st[0]["endpoints"], 2)
	assert.Contains(t, st[0], "lastRefresh")
	assert.Contains(t, st[0], "age")
}

// discoveryState returns one section of /admin/discovery.json.
func discoveryState(t *testing.T, p *Proc, section string) []map[string]any {
	t.Helper()
	resp, err := http.Get(p.AdminURL() + "/admin/discovery.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Sections []struct {
			Name  string           `json:"name"`
			State []map[string]any `json:"state"`
		} `json:"sections"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	for _, s := range out.Sections {
		if s.Name == section {
			return s.State
		}
	}
	t.Fatalf("no section %s in /admin/discovery.json", section)
	return nil
}

// tlsBackend is an https server with httptest's self-signed certificate
// (for 127.0.0.1) that checks each request's ID token.
type tlsBackend struct {
	srv    *httptest.Server
	url    string
	ok     atomic.Int64
	bad    atomic.Int64
	mu     sync.Mutex
	tokens map[string]bool
	errs   []string
}

func startTLSBackend(t *testing.T) *tlsBackend {
	t.Helper()
	tb := &tlsBackend{tokens: map[string]bool{}}
	tb.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims, err := fakemetadata.ParseToken(tok)
		switch {
		case !found || err != nil:
			tb.reject("no or malformed bearer token: " + r.Header.Get("Authorization"))
		case claims.Aud != tb.url:
			tb.reject("audience " + claims.Aud + ", want " + tb.url)
		case r.Host != strings.TrimPrefix(tb.url, "https://"):
			tb.reject("Host " + r.Host)
		case r.TLS == nil:
			tb.reject("not TLS")
		default:
			tb.ok.Add(1)
			tb.mu.Lock()
			tb.tokens[tok] = true
			tb.mu.Unlock()
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tb.srv.EnableHTTP2 = true
	tb.srv.StartTLS()
	t.Cleanup(tb.srv.Close)
	tb.url = tb.srv.URL // https://127.0.0.1:port
	return tb
}

func (tb *tlsBackend) reject(msg string) {
	tb.bad.Add(1)
	tb.mu.Lock()
	if len(tb.errs) < 5 {
		tb.errs = append(tb.errs, msg)
	}
	tb.mu.Unlock()
}

// writeCA writes the backends' certificate (httptest's, self-signed) as a
// PEM CA file for SLINKERD_BACKEND_CA_FILE.
func writeCA(t *testing.T, tb *tlsBackend) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tb.srv.Certificate().Raw}), 0o644))
	return f
}

// TestCloudRunIDTokens runs the real binary against the Cloud Run and
// metadata fakes: requests reach the services' https URLs with an ID token
// for each service's audience, and the metadata server is asked once per
// audience per token lifetime, whatever the traffic.
func TestCloudRunIDTokens(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		run      time.Duration
		want     int // fetches per audience
	}{
		// An hour-long token: one fetch for all of the traffic.
		{name: "one token per audience", lifetime: time.Hour, run: 2 * time.Second, want: 1},
		// A 4s token is replaced a quarter of its life before expiry (3s),
		// so 4.5s of traffic needs exactly two.
		{name: "one fetch per token lifetime", lifetime: 4 * time.Second, run: 4500 * time.Millisecond, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, err := fakecloudrun.Start("127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = cr.Close() })
			md, err := fakemetadata.Start("127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = md.Close() })
			md.SetLifetime(tt.lifetime)
			users, orders := startTLSBackend(t), startTLSBackend(t)
			cr.SetService(fakecloudrun.ReadyService("proj", "europe-west1", "users", users.url))
			cr.SetService(fakecloudrun.ReadyService("proj", "europe-west1", "orders", orders.url))

			p := startSlinkerd(t, map[string]string{
				"SLINKERD_DTAB":              "/svc=>/#/io.l5d.cloudrun/proj/europe-west1",
				"SLINKERD_CLOUDRUN_ENDPOINT": cr.Addr(),
				"SLINKERD_BACKEND_CA_FILE":   writeCA(t, users),
				"GCE_METADATA_HOST":          md.Addr(),
			})
			tu := startTraffic(t, p.URL(), "users", 200)
			to := startTraffic(t, p.URL(), "orders", 200)
			deadline := time.After(tt.run)
			waitFor(t, tt.run+5*time.Second, "the run to end", func() bool {
				select {
				case <-deadline:
					return true
				default:
					return false
				}
			})
			tu.Stop()
			to.Stop()
			tu.requireNoFailure(t, "users")
			to.requireNoFailure(t, "orders")
			for _, b := range []*tlsBackend{users, orders} {
				b.mu.Lock()
				assert.Zero(t, b.bad.Load(), "%s rejected requests: %v", b.url, b.errs)
				b.mu.Unlock()
				assert.Positive(t, b.ok.Load())
				assert.Equal(t, tt.want, md.Fetches(b.url), "token fetches for %s", b.url)
				t.Logf("%s: %d requests with a valid token, %d token fetches, %d distinct tokens",
					b.url, b.ok.Load(), md.Fetches(b.url), len(b.tokens))
			}
			assert.Equal(t, 2*tt.want, md.TotalFetches())
			st := discoveryState(t, p, "idTokens")
			assert.Len(t, st, 2)
		})
	}
}

// TestDiscoveryCallsDoNotDependOnTraffic measures Cloud Map API calls under
// 1000 and 100 requests per second with lazy refresh (the Lambda and Cloud
// Run mode, where only traffic drives refreshes) and a 1s TTL, the worst
// case: calls per minute are bounded by the TTL, not by the traffic.
// SLINKERD_E2E_LOAD=20s lengthens each run.
func TestDiscoveryCallsDoNotDependOnTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	run := 6 * time.Second
	if v := os.Getenv("SLINKERD_E2E_LOAD"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SLINKERD_E2E_LOAD")
		run = d
	}
	cm, err := fakecloudmap.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cm.Close() })
	a, b := startIDBackend(t, "a"), startIDBackend(t, "b")
	require.NoError(t, cm.RegisterIP("demo", "users", "a", a.b.Addr, nil))
	require.NoError(t, cm.RegisterIP("demo", "users", "b", b.b.Addr, nil))
	env := fakecloudmap.SDKEnv(cm.URL())
	env["SLINKERD_DTAB"] = "/svc=>/#/io.l5d.cloudmap/demo"
	env["SLINKERD_DISCOVERY_TTL"] = "1s"
	env["SLINKERD_CLOUDMAP_FULL_REFRESH"] = "10s"
	env["SLINKERD_DISCOVERY_BACKGROUND"] = "false"
	p := startSlinkerd(t, env)

	perMinute := map[int]float64{}
	for _, rate := range []int{1000, 100} {
		tr := startTraffic(t, p.URL(), "users", rate)
		// Warmed up once either instance answers: with two endpoints, P2C
		// over peak EWMA may leave the slower one idle for a while.
		n := a.hits.Load() + b.hits.Load()
		waitFor(t, 5*time.Second, "traffic reaches an instance", func() bool { return a.hits.Load()+b.hits.Load() > n })
		c0, r0, t0 := cm.TotalCalls(), tr.sent.Load(), time.Now()
		deadline := time.After(run)
		waitFor(t, run+5*time.Second, "the run to end", func() bool {
			select {
			case <-deadline:
				return true
			default:
				return false
			}
		})
		calls, reqs, el := cm.TotalCalls()-c0, tr.sent.Load()-r0, time.Since(t0)
		tr.Stop()
		tr.requireNoFailure(t, strconv.Itoa(rate)+" req/s")
		perMinute[rate] = float64(calls) / el.Minutes()
		t.Logf("%d req/s offered: %d requests (%.0f req/s achieved, %d not sent: machine saturated) and %d Cloud Map calls in %s = %.0f calls/min",
			rate, reqs, float64(reqs)/el.Seconds(), tr.dropped.Load(), calls, el.Round(time.Millisecond), perMinute[rate])
	}
	// TTL 1s: at most one revision poll per second plus backoff-free full
	// fetches every 10s, i.e. ~66/min, whatever the rate.
	for rate, pm := range perMinute {
		assert.LessOrEqual(t, pm, 80.0, "calls per minute at %d req/s", rate)
	}
	assert.InDelta(t, perMinute[100], perMinute[1000], 15, "calls per minute must not depend on traffic")
	t.Logf("discovery calls/min: %.0f at 1000 req/s, %.0f at 100 req/s (TTL 1s; with the default TTL 30s and full refresh 60s: ≤ 3/min)",
		perMinute[1000], perMinute[100])
}
