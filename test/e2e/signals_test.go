package e2e

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSIGHUPIsIgnored: SIGHUP (sent by a closing terminal, or by tools
// that expect a reload) neither stops slinkerd nor drops a request in
// flight; slinkerd logs it once and serves on, as Envoy does (defect 7 of
// issue 14: Go's default for SIGHUP killed the process without a drain).
func TestSIGHUPIsIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "container", env: map[string]string{"SLINKERD_MODE": "container"}},
		{name: "cloudrun", env: map[string]string{"SLINKERD_MODE": "cloudrun", "K_SERVICE": "frontend", "K_REVISION": "frontend-00001-abc",
			"GCE_METADATA_HOST": "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					started <- struct{}{}
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
				_, _ = io.WriteString(w, "done "+r.URL.Path)
			}))
			env := map[string]string{"SLINKERD_DTAB": inetDtab("web", be.Port)}
			for k, v := range tt.env {
				env[k] = v
			}
			p := startSlinkerd(t, env)
			c := newH1Client(t)

			type result struct {
				status int
				body   string
				err    error
			}
			slow := make(chan result, 1)
			go func() {
				resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/slow", "web", nil))
				if err != nil {
					slow <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				slow <- result{status: resp.StatusCode, body: string(b), err: err}
			}()
			recv(t, started, 10*time.Second, "the slow request to reach the backend")

			require.NoError(t, p.Signal(syscall.SIGHUP))
			waitFor(t, 10*time.Second, "slinkerd to log the SIGHUP or exit", func() bool {
				select {
				case <-p.Exited():
					return true
				default:
				}
				return strings.Contains(p.Logs(), "SIGHUP")
			})
			select {
			case <-p.Exited():
				t.Fatalf("slinkerd exited on SIGHUP (%v) with a request in flight; its log:\n%s", p.WaitErr(), tail(p.Logs(), 20))
			default:
			}

			close(release)
			r := recv(t, slow, 10*time.Second, "the in-flight request to finish")
			require.NoError(t, r.err)
			assert.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "done /slow", r.body)

			// A second SIGHUP changes nothing either, and new requests are served.
			require.NoError(t, p.Signal(syscall.SIGHUP))
			resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/after", "web", nil))
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "done /after", string(b))
			assert.Equal(t, 1, strings.Count(p.Logs(), "SIGHUP"), "SIGHUP is logged once")
		})
	}
}
