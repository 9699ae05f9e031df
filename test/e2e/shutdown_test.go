package e2e

import (
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGracefulShutdown sends SIGTERM while slow requests (HTTP/1.1 and
// h2c) are in flight: slinkerd must stop accepting at once, let them
// finish, and then exit 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan string, 2)
	release := make(chan struct{})
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.Proto
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		_, _ = io.WriteString(w, "slow done over "+r.Proto)
	}))
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB":          inetDtab("slow", be.Port),
		"SLINKERD_DRAIN_TIMEOUT": "20s",
	})

	type result struct {
		status int
		body   string
		err    error
	}
	do := func(c *http.Client) <-chan result {
		out := make(chan result, 1)
		go func() {
			resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/slow", "slow", nil))
			if err != nil {
				out <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			out <- result{status: resp.StatusCode, body: string(b), err: err}
		}()
		return out
	}
	h1 := do(newH1Client(t))
	h2 := do(newH2CClient(t))
	protos := map[string]bool{}
	protos[recv(t, started, 10*time.Second, "the first slow request to reach the backend")] = true
	protos[recv(t, started, 10*time.Second, "the second slow request to reach the backend")] = true
	require.Equal(t, map[string]bool{"HTTP/1.1": true, "HTTP/2.0": true}, protos)

	require.NoError(t, p.Signal(syscall.SIGTERM))
	waitFor(t, 5*time.Second, "new connections are refused", func() bool {
		c, err := net.DialTimeout("tcp", p.ProxyAddr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	})
	select {
	case <-p.Exited():
		t.Fatal("slinkerd exited with requests still in flight")
	default:
	}

	close(release)
	for name, c := range map[string]<-chan result{"HTTP/1.1": h1, "h2c": h2} {
		r := recv(t, c, 10*time.Second, "the "+name+" in-flight request to finish")
		if assert.NoError(t, r.err, name) {
			assert.Equal(t, http.StatusOK, r.status, name)
		}
		assert.Contains(t, r.body, "slow done over HTTP/", name)
	}
	code, ok := p.Wait(10 * time.Second)
	require.True(t, ok, "slinkerd did not exit after its in-flight requests finished")
	assert.Equal(t, 0, code, "exit code after a graceful shutdown")
}
