package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fakeappconfig "github.com/slinkerd/slinkerd/test/fakes/appconfig"
	fakessm "github.com/slinkerd/slinkerd/test/fakes/ssm"
)

// dtabSourceState reads /config.json's dtabSource.
func dtabSourceState(t *testing.T, p *Proc) map[string]any {
	t.Helper()
	resp, err := http.Get(p.AdminURL() + "/config.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	st, _ := out["dtabSource"].(map[string]any)
	return st
}

// metricValue reads one sample's value from /metrics ("" when absent).
func metricValue(t *testing.T, p *Proc, series string) string {
	t.Helper()
	resp, err := http.Get(p.AdminURL() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestDtabSourceSSM runs the real binary against the Parameter Store fake
// through the real SDK, refreshing lazily (as on Lambda): a new version
// reaches traffic within its TTL with no failed request; a malformed
// version, and one that makes a name in use negative, are rejected and the
// old dtab kept; the store throttling and down costs no request.
func TestDtabSourceSSM(t *testing.T) {
	outage := outagePeriod(t)
	ssm, err := fakessm.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ssm.Close() })
	a, b := startIDBackend(t, "a"), startIDBackend(t, "b")
	ssm.Put("/slinkerd/dtab", inetDtab("users", a.b.Port))

	env := fakessm.SDKEnv(ssm.URL())
	env["SLINKERD_DTAB"] = "/svc/other=>/$/inet/127.0.0.1/1"
	env["SLINKERD_DTAB_SOURCE"] = "ssm:/slinkerd/dtab"
	env["SLINKERD_DTAB_SOURCE_TTL"] = "1s"
	env["SLINKERD_DISCOVERY_BACKGROUND"] = "false" // lazy only, as on Lambda
	p := startSlinkerd(t, env)
	require.Equal(t, "1", dtabSourceState(t, p)["version"])

	tr := startTraffic(t, p.URL(), "users", 200)
	waitServed(t, a, 5*time.Second)

	// A new version: in force within the TTL (plus a fetch).
	ssm.Put("/slinkerd/dtab", inetDtab("users", b.b.Port))
	start := time.Now()
	waitServed(t, b, 5*time.Second)
	t.Logf("new version served after %s (TTL 1s)", time.Since(start).Round(time.Millisecond))
	waitDrained(t, a, 500*time.Millisecond, 5*time.Second)
	require.Equal(t, "2", dtabSourceState(t, p)["version"])
	tr.requireNoFailure(t, "change")

	// Rejected: does not parse; then makes /svc/users negative.
	for i, bad := range []string{"/svc/users=>>/nope", "/svc/users=>~"} {
		ssm.Put("/slinkerd/dtab", bad)
		waitFor(t, 5*time.Second, "the rejection", func() bool {
			return metricValue(t, p, `slinkerd_dtab_source_fetches_total{result="rejected"}`) == fmt.Sprint(i+1)
		})
		st := dtabSourceState(t, p)
		assert.Equal(t, "2", st["version"], "the last good version stays in force")
		assert.Contains(t, st["rejected"], fmt.Sprint(3+i)+": ")
	}
	assert.Equal(t, "1", metricValue(t, p, `slinkerd_dtab_source_rejections_total{reason="parse"}`))
	assert.Equal(t, "1", metricValue(t, p, `slinkerd_dtab_source_rejections_total{reason="negative"}`))
	assert.Equal(t, "1", metricValue(t, p, `slinkerd_dtab_source_info{source="ssm:/slinkerd/dtab",version="2"}`))
	assert.Contains(t, p.Logs(), "rejected a new dtab")
	served := b.hits.Load()
	waitServed(t, b, 5*time.Second)
	tr.requireNoFailure(t, "rejections")

	// Throttled, then down, for the outage period: b keeps serving.
	for _, mode := range []fakessm.Mode{fakessm.Throttle, fakessm.Down} {
		ssm.SetMode(mode)
		calls, start := ssm.Calls(), time.Now()
		waitFor(t, outage+8*time.Minute, "the outage to pass with a failed call", func() bool {
			return time.Since(start) >= outage && ssm.Calls() > calls
		})
		failed, lasted := ssm.Calls()-calls, time.Since(start)
		ssm.SetMode(fakessm.Normal)
		// The backoff after a long outage reaches its cap (5m, plus
		// jitter); with the default 3s outage it is a few seconds.
		recovered := ssm.Calls()
		waitFor(t, 8*time.Minute, "a successful call to the store", func() bool { return ssm.Calls() > recovered })
		t.Logf("mode %d for %s: %d calls to the store (backing off); recovered %s after the outage ended",
			mode, lasted.Round(time.Millisecond), failed, (time.Since(start) - lasted).Round(time.Millisecond))
		tr.requireNoFailure(t, fmt.Sprintf("outage mode %d", mode))
	}
	assert.Greater(t, b.hits.Load(), served)
	// Recovered: a new version is taken again.
	ssm.Put("/slinkerd/dtab", inetDtab("users", a.b.Port))
	waitServed(t, a, 10*time.Second)
	tr.Stop()
	tr.requireNoFailure(t, "whole run")
	t.Logf("%d requests, none failed", tr.sent.Load())
}

// TestDtabSourceCallsIndependentOfTraffic counts store calls at 10 and
// 1000 requests per second, with background refresh on (container mode):
// at most one per TTL either way.
func TestDtabSourceCallsIndependentOfTraffic(t *testing.T) {
	ssm, err := fakessm.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ssm.Close() })
	a := startIDBackend(t, "a")
	ssm.Put("/slinkerd/dtab", inetDtab("users", a.b.Port))
	env := fakessm.SDKEnv(ssm.URL())
	env["SLINKERD_DTAB_SOURCE"] = "ssm:/slinkerd/dtab"
	env["SLINKERD_DTAB_SOURCE_TTL"] = "1s"
	p := startSlinkerd(t, env)

	const window = 4 * time.Second
	for _, rate := range []int{10, 1000} {
		tr := startTraffic(t, p.URL(), "users", rate)
		waitServed(t, a, 5*time.Second)
		calls, start := ssm.Calls(), time.Now()
		waitFor(t, 2*window, "the window", func() bool { return time.Since(start) >= window })
		n, took := ssm.Calls()-calls, time.Since(start)
		tr.Stop()
		tr.requireNoFailure(t, fmt.Sprintf("%d req/s", rate))
		perMin := float64(n) / took.Minutes()
		t.Logf("%d req/s: %d requests, %d store calls in %s = %.0f calls/minute (TTL 1s: at most 60)",
			rate, tr.sent.Load(), n, took.Round(time.Millisecond), perMin)
		assert.LessOrEqual(t, n, int(took/time.Second)+1, "at most one call per TTL")
	}
}

// TestDtabSourceAppConfig runs the real binary against the AppConfig
// Data fake: one session, then polls at the service's interval; a new
// deployment is in force within it, with no failed request.
func TestDtabSourceAppConfig(t *testing.T) {
	ac, err := fakeappconfig.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ac.Close() })
	ac.SetPollInterval(2)
	a, b := startIDBackend(t, "a"), startIDBackend(t, "b")
	ac.Deploy("slinkerd", "prod", "dtab", "text/plain", "v1", []byte(inetDtab("users", a.b.Port)))

	env := fakeappconfig.SDKEnv(ac.URL())
	env["SLINKERD_DTAB_SOURCE"] = "appconfig:slinkerd/prod/dtab"
	env["SLINKERD_DTAB_SOURCE_TTL"] = "1s" // the service's 2s wins
	p := startSlinkerd(t, env)
	require.Equal(t, "v1", dtabSourceState(t, p)["version"])

	tr := startTraffic(t, p.URL(), "users", 100)
	waitServed(t, a, 5*time.Second)
	// A 10% canary of b, then all of b, as a rollout would shift it.
	ac.Deploy("slinkerd", "prod", "dtab", "text/plain", "v2",
		[]byte(fmt.Sprintf("/svc/users=>9*/$/inet/127.0.0.1/%d & 1*/$/inet/127.0.0.1/%d", a.b.Port, b.b.Port)))
	waitServed(t, b, 6*time.Second)
	ac.Deploy("slinkerd", "prod", "dtab", "text/plain", "v3", []byte(inetDtab("users", b.b.Port)))
	waitFor(t, 6*time.Second, "v3 in force", func() bool { return dtabSourceState(t, p)["version"] == "v3" })
	waitDrained(t, a, 500*time.Millisecond, 5*time.Second)
	tr.Stop()
	tr.requireNoFailure(t, "rollout")
	assert.Equal(t, 1, ac.Calls("StartConfigurationSession"))
	t.Logf("%d requests, none failed; %d GetLatestConfiguration calls", tr.sent.Load(), ac.Calls("GetLatestConfiguration"))
}

// TestDtabSourceLambda runs slinkerd as the Lambda extension under the
// emulator, with its dtab in the Parameter Store fake: nothing calls the
// store between invocations (no timers), and a dtab changed between two
// invocations is in force at the first invocation after its TTL, which
// waits for the fetch it starts.
func TestDtabSourceLambda(t *testing.T) {
	ssm, err := fakessm.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ssm.Close() })
	one, two := echoL5D(t, "one"), echoL5D(t, "two")
	ssm.Put("/slinkerd/dtab", inetDtab("hello", one.Port))
	env := fakessm.SDKEnv(ssm.URL())
	for k, v := range map[string]string{
		"SLINKERD_LISTEN":          fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_ADMIN_LISTEN":    fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_DTAB_SOURCE":     "ssm:/slinkerd/dtab",
		"SLINKERD_DTAB_SOURCE_TTL": "1s",
	} {
		env[k] = v
	}
	rie := startRIE(t, buildFunction(t, t.TempDir()), true, env)
	reply := func() string {
		t.Helper()
		status, body := rie.invoke(t, `{"service":"hello"}`)
		require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
		var fr functionResponse
		require.NoError(t, json.Unmarshal(body, &fr), "function answer: %s", body)
		require.Equal(t, http.StatusOK, fr.Status, "the proxy's answer: %s", fr.Body)
		var seen map[string]string
		require.NoError(t, json.Unmarshal([]byte(fr.Body), &seen), "backend answer: %s", fr.Body)
		return seen["reply"]
	}
	require.Equal(t, "one", reply())

	ssm.Put("/slinkerd/dtab", inetDtab("hello", two.Port))
	calls, changed := ssm.Calls(), time.Now()
	waitFor(t, 10*time.Second, "the TTL to pass", func() bool { return time.Since(changed) > 1500*time.Millisecond })
	assert.Equal(t, calls, ssm.Calls(), "no call to the store between invocations")
	require.Equal(t, "two", reply(), "the first invocation after the TTL runs the new dtab")
	assert.Equal(t, calls+1, ssm.Calls())
}
