package e2e

// Security defaults: the admin server is on loopback and offers nothing
// that changes or stops the process; per-request dtabs and l5d-* headers
// from clients are dropped unless configured; secrets never show.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secBackend answers 200 with its name in X-Backend and sends every
// request's headers to got.
func secBackend(t *testing.T, name string, got chan<- http.Header) *Backend {
	t.Helper()
	return startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := r.Header.Clone()
		h.Set("X-Seen-Host", r.Host)
		select {
		case got <- h:
		default:
		}
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name)
	}))
}

// secGet sends a GET through the proxy with the given headers.
func secGet(t *testing.T, c *http.Client, base, host string, hdr http.Header) *http.Response {
	t.Helper()
	req := newRequest(t, http.MethodGet, base+"/", host, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// TestSecurityAdminOnLoopback: both listeners default to loopback, and a
// slinkerd started with the defaults binds the admin server to
// 127.0.0.1:9990, which no other interface of the machine reaches.
func TestSecurityAdminOnLoopback(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(slinkerdBin, "config", "--json").Output()
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(out, &cfg))
	assert.Equal(t, "127.0.0.1:9990", cfg["SLINKERD_ADMIN_LISTEN"])
	assert.Equal(t, "127.0.0.1:4140", cfg["SLINKERD_LISTEN"])
	assert.Equal(t, "off", cfg["SLINKERD_DTAB_OVERRIDE"])
	assert.Equal(t, false, cfg["SLINKERD_TRUST_L5D_HEADERS"])
	assert.Equal(t, false, cfg["SLINKERD_TRUST_FORWARDED"])
	assert.Equal(t, false, cfg["SLINKERD_ALLOW_ABSOLUTE_FORM"])

	// Start with the admin address unset (empty is the default), if the
	// default port is free on this machine.
	ln, err := net.Listen("tcp", "127.0.0.1:9990")
	if err != nil {
		t.Skipf("127.0.0.1:9990 is in use (%v): cannot start slinkerd with its default admin address", err)
	}
	require.NoError(t, ln.Close())
	p := startSlinkerd(t, map[string]string{"SLINKERD_ADMIN_LISTEN": ""})
	assert.Equal(t, "127.0.0.1:9990", p.AdminAddr)
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() {
			continue
		}
		target := net.JoinHostPort(ipn.IP.String(), "9990")
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err == nil {
			_ = c.Close()
			t.Errorf("the admin server answers on %s, a non-loopback address", target)
		}
	}
}

// TestSecurityAdminHasNoMutations probes the shutdown, drain, logging and
// profiling endpoints of linkerd, Envoy and namerd with every method: none
// may answer with success, and the process keeps serving, with the same
// configuration and routing, afterwards.
func TestSecurityAdminHasNoMutations(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 8)
	a := secBackend(t, "a", got)
	b := secBackend(t, "b", got)
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", a.Port)})
	c := newH1Client(t)
	cfgBefore := secBody(t, c, p.AdminURL()+"/config.json")

	paths := []string{
		"/admin/shutdown", "/admin/shutdown?force=true", "/quitquitquit", "/abortabortabort",
		"/healthcheck/fail", "/healthcheck/ok", "/drain_listeners", "/drain_listeners?graceful",
		"/runtime_modify?key=value", "/logging?level=debug", "/admin/logging?level=DEBUG", "/reset_counters",
		"/cpuprofiler?enable=y", "/heapprofiler?enable=y", "/admin/quit", "/admin/abort", "/admin/drain",
		"/admin/restart", "/shutdown", "/stop", "/exit", "/admin/dtab", "/dtab", "/api/1/dtabs/default",
		"/admin/tracing?enable=true", "/admin/metrics/reset", "/admin/ready", "/admin/config",
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}
	for _, path := range paths {
		for _, m := range methods {
			body := io.Reader(nil)
			if m != http.MethodGet && m != http.MethodDelete {
				body = strings.NewReader("/svc/web=>/$/inet/127.0.0.1/" + fmt.Sprint(b.Port))
			}
			req, err := http.NewRequest(m, p.AdminURL()+path, body)
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err, "%s %s", m, path)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			assert.Contains(t, []int{404, 405}, resp.StatusCode, "%s %s answered %d", m, path, resp.StatusCode)
		}
	}
	// Writes to the read-only endpoints are refused too.
	for _, path := range []string{"/config.json", "/ready", "/admin/ping", "/delegator.json"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(m, p.AdminURL()+path, strings.NewReader("{}"))
			resp, err := c.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, 405, resp.StatusCode, "%s %s", m, path)
		}
	}
	// The playground's dtab applies to that one delegation only.
	resp, err := c.Get(p.AdminURL() + "/delegator.json?path=/svc/web&dtab=" + fmt.Sprintf("/svc/web=>/$/inet/127.0.0.1/%d", b.Port))
	require.NoError(t, err)
	_ = resp.Body.Close()

	select {
	case <-p.Exited():
		t.Fatalf("slinkerd exited after the probes; its log:\n%s", p.Logs())
	default:
	}
	assert.Equal(t, 200, secStatus(t, c, p.AdminURL()+"/ready"))
	assert.Equal(t, cfgBefore, secBody(t, c, p.AdminURL()+"/config.json"), "the configuration changed")
	for range 5 {
		r := secGet(t, c, p.URL(), "web", nil)
		assert.Equal(t, 200, r.StatusCode)
		assert.Equal(t, "a", r.Header.Get("X-Backend"), "routing changed")
	}
}

func secBody(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	return string(b)
}

func secStatus(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestSecurityDtabOverride: per-request dtabs are off by default, so
// l5d-dtab and l5d-ctx-dtab neither reroute a request nor reach the
// backend (a malformed one is ignored, not an error); with
// SLINKERD_DTAB_OVERRIDE=on they reroute.
func TestSecurityDtabOverride(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	a := secBackend(t, "a", got)
	b := secBackend(t, "b", got)
	reroute := fmt.Sprintf("/svc/web=>/$/inet/127.0.0.1/%d", b.Port)
	env := map[string]string{"SLINKERD_DTAB": inetDtab("web", a.Port)}
	off := startSlinkerd(t, env)
	c := newH1Client(t)
	for _, hdr := range []string{"l5d-dtab", "l5d-ctx-dtab", "L5D-DTAB", "dtab-local"} {
		for _, val := range []string{reroute, "/svc=>"} {
			t.Run(fmt.Sprintf("off/%s %q", hdr, val), func(t *testing.T) {
				resp := secGet(t, c, off.URL(), "web", http.Header{http.CanonicalHeaderKey(hdr): {val}})
				require.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
				assert.Equal(t, "a", resp.Header.Get("X-Backend"), "the header rerouted the request")
				h := recv(t, got, 5*time.Second, "the backend's request")
				assert.Empty(t, h.Get("l5d-dtab"))
				assert.Empty(t, h.Get("l5d-ctx-dtab"))
			})
		}
	}

	env["SLINKERD_DTAB_OVERRIDE"] = "on"
	on := startSlinkerd(t, env)
	for _, hdr := range []string{"l5d-dtab", "l5d-ctx-dtab"} {
		t.Run("on/"+hdr, func(t *testing.T) {
			resp := secGet(t, c, on.URL(), "web", http.Header{http.CanonicalHeaderKey(hdr): {reroute}})
			require.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
			assert.Equal(t, "b", resp.Header.Get("X-Backend"), "the override should reroute")
			<-got
		})
	}
}

// TestSecurityL5DHeaders: l5d-* headers a client sends are removed unless
// SLINKERD_TRUST_L5D_HEADERS is on (l5d-ctx-deadline is always honoured,
// since it can only shorten the request); the proxy's own l5d-dst-*
// cannot be spoofed either way; Forwarded and X-Forwarded-For are
// replaced unless SLINKERD_TRUST_FORWARDED is on; a Connection header
// cannot make the proxy drop the headers it adds.
func TestSecurityL5DHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	be := secBackend(t, "a", got)
	spoof := http.Header{
		"L5d-Dst-Service":  {"/svc/evil"},
		"L5d-Dst-Client":   {"/$/inet/evil/1"},
		"L5d-Dst-Residual": {"/evil"},
		"L5d-Reqid":        {"attacker-id"},
		"L5d-Err":          {"fake"},
		"L5d-Retryable":    {"true"},
		"L5d-Sample":       {"1.0"},
		"L5d-Foo":          {"bar"},
		"X-Forwarded-For":  {"203.0.113.9"},
		"Forwarded":        {"for=203.0.113.9;proto=https"},
		"X-Forwarded-Host": {"evil.example"},
	}
	send := func(t *testing.T, p *Proc, hdr http.Header) http.Header {
		t.Helper()
		resp := secGet(t, newH1Client(t), p.URL(), "web", hdr)
		require.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		return recv(t, got, 5*time.Second, "the backend's request")
	}

	t.Run("untrusted", func(t *testing.T) {
		p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port)})
		h := send(t, p, spoof)
		assert.Equal(t, "/svc/web", h.Get("l5d-dst-service"))
		assert.Equal(t, fmt.Sprintf("/$/inet/127.0.0.1/%d", be.Port), h.Get("l5d-dst-client"))
		assert.Empty(t, h.Get("l5d-dst-residual"))
		assert.NotEqual(t, "attacker-id", h.Get("l5d-reqid"))
		assert.NotEmpty(t, h.Get("l5d-reqid"))
		for _, k := range []string{"l5d-err", "l5d-retryable", "l5d-sample", "l5d-foo"} {
			assert.Empty(t, h.Values(k), k)
		}
		assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"))
		assert.Len(t, h.Values("Forwarded"), 1)
		assert.True(t, strings.HasPrefix(h.Get("Forwarded"), "for=127.0.0.1;"), h.Get("Forwarded"))
		assert.NotContains(t, strings.Join(h.Values("Forwarded"), ","), "203.0.113.9")
		assert.NotEqual(t, "evil.example", h.Get("X-Forwarded-Host"))
	})
	t.Run("Connection cannot remove what the proxy adds", func(t *testing.T) {
		p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port)})
		hdr := spoof.Clone()
		hdr.Set("Connection", "l5d-dst-service, l5d-reqid, x-forwarded-for, forwarded, via, l5d-ctx-deadline")
		h := send(t, p, hdr)
		assert.Equal(t, "/svc/web", h.Get("l5d-dst-service"))
		assert.NotEmpty(t, h.Get("l5d-reqid"))
		assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"))
		assert.NotEmpty(t, h.Get("Via"))
	})
	t.Run("trusted", func(t *testing.T) {
		p := startSlinkerd(t, map[string]string{
			"SLINKERD_DTAB": inetDtab("web", be.Port), "SLINKERD_TRUST_L5D_HEADERS": "true", "SLINKERD_TRUST_FORWARDED": "true",
		})
		h := send(t, p, spoof)
		assert.Equal(t, "/svc/web", h.Get("l5d-dst-service"), "the proxy sets its own")
		assert.Equal(t, "attacker-id", h.Get("l5d-reqid"), "a trusted request id is kept")
		assert.Equal(t, "bar", h.Get("l5d-foo"))
		assert.Equal(t, "203.0.113.9, 127.0.0.1", strings.Join(h.Values("X-Forwarded-For"), ", "))
		assert.Contains(t, strings.Join(h.Values("Forwarded"), ", "), "203.0.113.9")
	})
}

// TestSecurityNoSecretsInOutput sets SLINKERD_OTLP_HEADERS, the secret
// variable, and looks for its value everywhere slinkerd prints: the
// admin server's /config.json and other pages, `slinkerd config` in both
// formats, and the process log at debug level with the access log on,
// through requests, errors and shutdown.
func TestSecurityNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	const token, key = "s3cr3t-T0KEN-9f2c", "k3y-V4LUE-77aa"
	secret := "authorization=Bearer%20" + token + ",x-api-key=" + key
	// A sink for the trace export, which legitimately carries them.
	var mu sync.Mutex
	var exported []string
	sink := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		exported = append(exported, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	be := secBackend(t, "a", make(chan http.Header))
	env := map[string]string{
		"SLINKERD_DTAB":          inetDtab("web", be.Port),
		"SLINKERD_OTLP_HEADERS":  secret,
		"SLINKERD_OTLP_ENDPOINT": fmt.Sprintf("http://127.0.0.1:%d/v1/traces", sink.Port),
		"SLINKERD_LOG_LEVEL":     "debug",
		"SLINKERD_ACCESS_LOG":    "true",
	}
	p := startSlinkerd(t, env)
	c := newH1Client(t)
	leaks := func(where, text string) {
		t.Helper()
		for _, s := range []string{token, key, "Bearer%20" + token, "Bearer " + token} {
			assert.NotContains(t, text, s, "the secret shows in %s", where)
		}
	}

	cfgJSON := secBody(t, c, p.AdminURL()+"/config.json")
	leaks("/config.json", cfgJSON)
	assert.Contains(t, cfgJSON, "SLINKERD_OTLP_HEADERS")
	assert.Contains(t, cfgJSON, "[REDACTED]")
	for _, path := range []string{"/", "/metrics", "/admin/metrics.json", "/admin/ping", "/ready", "/delegator.json?path=/svc/web"} {
		resp, err := c.Get(p.AdminURL() + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		leaks(path, string(b))
		leaks(path+" headers", fmt.Sprint(resp.Header))
	}

	for _, args := range [][]string{{"config"}, {"config", "--json"}} {
		cmd := exec.Command(slinkerdBin, args...)
		cmd.Env = []string{"SLINKERD_OTLP_HEADERS=" + secret, "SLINKERD_OTLP_ENDPOINT=" + env["SLINKERD_OTLP_ENDPOINT"]}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		leaks("slinkerd "+strings.Join(args, " "), string(out))
		assert.Contains(t, string(out), "[REDACTED]")
	}

	// Traffic, including failures, with the secret's text in the request
	// too: the proxy must not echo headers into its logs either way.
	for _, host := range []string{"web", "nosuch"} {
		secGet(t, c, p.URL(), host, http.Header{"X-Probe": {"harmless"}})
	}
	require.Equal(t, 0, p.Stop(15*time.Second))
	leaks("the process log", p.Logs())
	mu.Lock()
	t.Logf("%d trace exports reached the sink", len(exported))
	mu.Unlock()
}
