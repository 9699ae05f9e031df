package e2e

// Bad configuration: every SLINKERD_* variable given a wrong value stops
// the binary before it binds anything, with exit code 2 and an error that
// names the variable; malformed dtabs, from the environment or from a
// request header, are refused with the parse position.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runResult is one run of the binary that was expected to exit.
type runResult struct {
	Code   int
	Output string // stdout and stderr
	// Answered counts connections the configured proxy or admin address
	// accepted while the process ran.
	Answered int64
}

// cfgFreeAddr returns a loopback address nothing listens on.
func cfgFreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", closedPort(t))
}

// runExpectingExit runs bin/slinkerd with args and exactly env (plus
// PATH and HOME), watching watch (addresses it must never bind) until it
// exits, and fails the test if it is still running after 10s.
func runExpectingExit(t testing.TB, env map[string]string, watch []string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, slinkerdBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())

	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, addr := range watch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
					answered.Add(1)
					_ = c.Close()
				}
			}
		}()
	}
	err := cmd.Wait()
	close(stop)
	wg.Wait()
	require.NoError(t, ctx.Err(), "slinkerd did not exit within 10s; output:\n%s", out.String())
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run: %v", err)
		code = ee.ExitCode()
	}
	return runResult{Code: code, Output: out.String(), Answered: answered.Load()}
}

// cfgBadValues returns wrong values for v: junk that no type or check
// accepts (a space and a control character), and for numbers with a
// documented range, a negative number (every range starts at 0 or more).
func cfgBadValues(v config.Variable) []string {
	vals := []string{"bad value\x01"}
	if v.Allowed != "" {
		switch v.Type {
		case "duration":
			vals = append(vals, "-5s")
		case "int":
			vals = append(vals, "-1")
		case "float":
			vals = append(vals, "-0.5")
		}
	}
	switch v.Type {
	case "duration":
		vals = append(vals, "10") // a unit is required
	case "float":
		vals = append(vals, "NaN")
	case "bool":
		vals = append(vals, "yes please")
	}
	return vals
}

// TestConfigEveryVariableRejected gives every variable that Config reads
// (core/config.Variables) each of its wrong values. The binary must exit
// with 2, name the variable, never print a secret's value, and never
// accept a connection on the proxy or admin address it was given.
func TestConfigEveryVariableRejected(t *testing.T) {
	t.Parallel()
	vars := config.Variables()
	require.NotEmpty(t, vars)
	sem := make(chan struct{}, 4)
	for _, v := range vars {
		for i, bad := range cfgBadValues(v) {
			t.Run(fmt.Sprintf("%s/%d", v.Name, i), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				proxyAddr, adminAddr := cfgFreeAddr(t), cfgFreeAddr(t)
				env := map[string]string{
					"SLINKERD_MODE":         "container",
					"SLINKERD_LISTEN":       proxyAddr,
					"SLINKERD_ADMIN_LISTEN": adminAddr,
				}
				env[v.Name] = bad
				watch := []string{proxyAddr, adminAddr}
				if v.Name == "SLINKERD_LISTEN" || v.Name == "SLINKERD_ADMIN_LISTEN" {
					watch = []string{map[bool]string{true: adminAddr, false: proxyAddr}[v.Name == "SLINKERD_LISTEN"]}
				}
				res := runExpectingExit(t, env, watch)
				assert.Equal(t, 2, res.Code, "exit code; output:\n%s", res.Output)
				assert.Contains(t, res.Output, v.Name+"=", "the error names the variable")
				assert.NotContains(t, res.Output, "slinkerd serving")
				assert.Zero(t, res.Answered, "a listener accepted connections although the configuration is bad")
				if v.Secret {
					assert.NotContains(t, res.Output, "bad value", "a secret's value is printed")
					assert.Contains(t, res.Output, config.Redacted)
				}
				// `slinkerd config` refuses it the same way.
				res = runExpectingExit(t, env, nil, "config")
				assert.Equal(t, 2, res.Code)
				assert.Contains(t, res.Output, v.Name+"=")
			})
		}
	}
}

// TestConfigLateErrors covers configuration that validates but cannot be
// used: addresses already in use, a TLS certificate that is not one, an
// unknown variable. The process exits 2 naming the variable and leaves
// nothing listening.
func TestConfigLateErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() }) // after the parallel subtests
	notPEM := filepath.Join(t.TempDir(), "cert.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))

	tests := []struct {
		name  string
		env   map[string]string
		names string // a variable the error must name
	}{
		{"proxy address in use", map[string]string{"SLINKERD_LISTEN": busy.Addr().String()}, "SLINKERD_LISTEN"},
		{"admin address in use", map[string]string{"SLINKERD_ADMIN_LISTEN": busy.Addr().String()}, "SLINKERD_ADMIN_LISTEN"},
		{"TLS certificate that is not one", map[string]string{"SLINKERD_TLS_CERT": notPEM, "SLINKERD_TLS_KEY": notPEM}, "SLINKERD_TLS_CERT"},
		{"TLS certificate without a key", map[string]string{"SLINKERD_TLS_CERT": notPEM}, "SLINKERD_TLS_KEY"},
		{"unknown variable", map[string]string{"SLINKERD_BALANCR": "p2c"}, "SLINKERD_BALANCR"},
		{"bad mode", map[string]string{"SLINKERD_MODE": "kubernetes"}, "SLINKERD_MODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proxyAddr, adminAddr := cfgFreeAddr(t), cfgFreeAddr(t)
			env := map[string]string{"SLINKERD_MODE": "container", "SLINKERD_LISTEN": proxyAddr, "SLINKERD_ADMIN_LISTEN": adminAddr}
			for k, v := range tt.env {
				env[k] = v
			}
			var watch []string
			for _, a := range []string{env["SLINKERD_LISTEN"], env["SLINKERD_ADMIN_LISTEN"]} {
				if a != busy.Addr().String() {
					watch = append(watch, a)
				}
			}
			res := runExpectingExit(t, env, nil)
			assert.Equal(t, 2, res.Code, "output:\n%s", res.Output)
			assert.Contains(t, res.Output, tt.names)
			assert.NotContains(t, res.Output, "slinkerd serving")
			// Whatever it bound on the way, nothing is left listening.
			for _, a := range watch {
				if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
					_ = c.Close()
					t.Errorf("%s is still listening after the process exited", a)
				}
			}
		})
	}
}

// cfgOffsetRe matches the parse position in a dtab error.
var cfgOffsetRe = regexp.MustCompile(`offset \d+`)

// TestConfigMalformedDtab: a malformed dtab is refused with the position
// of the problem, from SLINKERD_DTAB, from `slinkerd delegate --dtab`, and
// from l5d-dtab or l5d-ctx-dtab headers when overrides are on (400).
func TestConfigMalformedDtab(t *testing.T) {
	t.Parallel()
	bad := []struct{ dtab, offset string }{
		{"/svc=>/a|", "offset 9"},
		{"/svc=>", "offset 6"},
		{"/svc/*/x=>/a;/svc=>(/b", "offset 22"},
		{"svc=>/a", "offset 0"},
		{"/svc=>/a & & /b", ""},
		{"/svc=>0.5 * ", ""},
		{"/s\x01vc=>/a", ""},
	}
	for _, b := range bad {
		t.Run(fmt.Sprintf("env %q", b.dtab), func(t *testing.T) {
			t.Parallel()
			addr := cfgFreeAddr(t)
			res := runExpectingExit(t, map[string]string{"SLINKERD_DTAB": b.dtab, "SLINKERD_LISTEN": addr, "SLINKERD_ADMIN_LISTEN": cfgFreeAddr(t)}, []string{addr})
			assert.Equal(t, 2, res.Code, res.Output)
			assert.Contains(t, res.Output, "SLINKERD_DTAB=")
			assert.Regexp(t, cfgOffsetRe, res.Output)
			if b.offset != "" {
				assert.Contains(t, res.Output, b.offset)
			}
			assert.Zero(t, res.Answered)

			res = runExpectingExit(t, nil, nil, "delegate", "--dtab", b.dtab, "/svc/x")
			assert.Equal(t, 2, res.Code, res.Output)
			assert.Regexp(t, cfgOffsetRe, res.Output)
		})
	}

	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port), "SLINKERD_DTAB_OVERRIDE": "on"})
	c := newH1Client(t)
	for _, hdr := range []string{"l5d-dtab", "l5d-ctx-dtab"} {
		for _, b := range bad {
			if strings.ContainsAny(b.dtab, "\x01") {
				continue // not a valid header value
			}
			t.Run(fmt.Sprintf("%s %q", hdr, b.dtab), func(t *testing.T) {
				req := newRequest(t, http.MethodGet, p.URL()+"/", "web", nil)
				req.Header.Set(hdr, b.dtab)
				resp, err := c.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, 400, resp.StatusCode)
				l5dErr := resp.Header.Get("l5d-err")
				assert.Contains(t, l5dErr, hdr)
				assert.Regexp(t, cfgOffsetRe, l5dErr)
				if b.offset != "" {
					assert.Contains(t, l5dErr, b.offset)
				}
			})
		}
	}
}

// TestConfigStrictEnvOff: with SLINKERD_STRICT_ENV=off an unknown
// variable does not stop the start; the binary serves and warns once,
// naming it (issue 15: on Lambda one stray variable failed the init).
func TestConfigStrictEnvOff(t *testing.T) {
	t.Parallel()
	p := startSlinkerd(t, map[string]string{"SLINKERD_STRICT_ENV": "off", "SLINKERD_BALANCR": "p2c"})
	resp, err := http.Get(p.AdminURL() + "/admin/ping")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, p.Logs(), "SLINKERD_BALANCR")
	assert.Contains(t, p.Logs(), "SLINKERD_STRICT_ENV=off")
}
