package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/harness"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fakecloudrun "github.com/slinkerd/slinkerd/test/fakes/cloudrun"
	fakemetadata "github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// runService is an https server standing in for a Cloud Run service: it
// answers with the audience of the ID token it got (an empty one when
// the token is missing or malformed), and holds requests to /slow until
// released.
type runService struct {
	srv     *httptest.Server
	url     string
	started chan string // request paths, as they arrive
	release chan struct{}
	once    sync.Once
}

func startRunService(t *testing.T) *runService {
	t.Helper()
	s := &runService{started: make(chan string, 16), release: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.started <- r.URL.Path
		aud := ""
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			if c, err := fakemetadata.ParseToken(tok); err == nil {
				aud = c.Aud
			}
		}
		if r.URL.Path == "/slow" {
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"audience": aud, "path": r.URL.Path, "host": r.Host})
	}))
	s.srv.EnableHTTP2 = true
	s.srv.StartTLS()
	t.Cleanup(func() {
		s.releaseAll()
		s.srv.Close()
	})
	s.url = s.srv.URL
	return s
}

func (s *runService) releaseAll() { s.once.Do(func() { close(s.release) }) }

// caFile writes the service's self-signed certificate as a PEM CA file
// for SLINKERD_BACKEND_CA_FILE.
func (s *runService) caFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o644))
	return f
}

// startSidecar runs slinkerd as Cloud Run runs it: SLINKERD_MODE unset
// (auto) with K_SERVICE and K_REVISION set, in front of the Cloud Run
// Admin API and metadata server fakes, with the service "users".
func startSidecar(t *testing.T, users *runService, extra map[string]string) (*Proc, *fakemetadata.Server) {
	t.Helper()
	cr, err := fakecloudrun.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cr.Close() })
	md, err := fakemetadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = md.Close() })
	cr.SetService(fakecloudrun.ReadyService("proj", "europe-west1", "users", users.url))
	env := map[string]string{
		"SLINKERD_MODE":              "auto",
		"K_SERVICE":                  "frontend",
		"K_REVISION":                 "frontend-00001-abc",
		"SLINKERD_DTAB":              "/svc=>/#/io.l5d.cloudrun/proj/europe-west1",
		"SLINKERD_CLOUDRUN_ENDPOINT": cr.Addr(),
		"SLINKERD_BACKEND_CA_FILE":   users.caFile(t),
		"GCE_METADATA_HOST":          md.Addr(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return startSlinkerd(t, env), md
}

// logLine returns the first JSON log line of p with message msg.
func logLine(p *Proc, msg string) map[string]any {
	for _, line := range strings.Split(p.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			return m
		}
	}
	return nil
}

// callUsers sends GET path for the service users through the proxy.
func callUsers(c *http.Client, proxyURL, path string) (int, map[string]string, error) {
	req, err := http.NewRequest(http.MethodGet, proxyURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Host = "users"
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var seen map[string]string
	if err := json.Unmarshal(b, &seen); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %q: %w", b, err)
	}
	return resp.StatusCode, seen, nil
}

// TestCloudRunSidecar runs the binary as a Cloud Run sidecar: it picks
// cloudrun mode from K_SERVICE, attaches ID tokens to calls to Cloud Run
// services, and on SIGTERM keeps serving the app's calls until they are
// done, losing none.
func TestCloudRunSidecar(t *testing.T) {
	users := startRunService(t)
	p, md := startSidecar(t, users, map[string]string{"SLINKERD_CLOUDRUN_DRAIN_QUIET": "300ms"})
	c := newH1Client(t)

	t.Run("K_SERVICE selects cloudrun mode", func(t *testing.T) {
		serving := logLine(p, "slinkerd serving")
		require.NotNil(t, serving)
		assert.Equal(t, "cloudrun", serving["mode"])
		sidecar := logLine(p, "slinkerd cloud run sidecar")
		require.NotNil(t, sidecar, "the sidecar's start line")
		assert.Equal(t, "frontend", sidecar["service"])
		assert.Equal(t, "frontend-00001-abc", sidecar["revision"])
		assert.Equal(t, "INFO", serving["severity"], "Cloud Logging's field names")
	})

	t.Run("an ID token for the target is attached", func(t *testing.T) {
		status, seen, err := callUsers(c, p.URL(), "/profile")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, users.url, seen["audience"], "the token's audience is the service URL")
		assert.Equal(t, strings.TrimPrefix(users.url, "https://"), seen["host"])
		assert.Equal(t, 1, md.Fetches(users.url))
		recv(t, users.started, 5*time.Second, "the request at the service")
	})

	t.Run("SIGTERM drains without losing a request", func(t *testing.T) {
		type result struct {
			status int
			seen   map[string]string
			err    error
		}
		slow := make(chan result, 1)
		go func() {
			status, seen, err := callUsers(c, p.URL(), "/slow")
			slow <- result{status, seen, err}
		}()
		require.Equal(t, "/slow", recv(t, users.started, 10*time.Second, "the slow request at the service"))

		sigterm := time.Now()
		require.NoError(t, p.Signal(syscall.SIGTERM))
		waitFor(t, 5*time.Second, "the sidecar to start draining", func() bool { return logLine(p, "slinkerd draining") != nil })

		// The app is finishing its own requests and still calls out: the
		// sidecar keeps serving while anything is in flight.
		status, seen, err := callUsers(newH1Client(t), p.URL(), "/during-drain")
		require.NoError(t, err, "a call made after SIGTERM, while a request is in flight")
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, users.url, seen["audience"])
		select {
		case <-p.Exited():
			t.Fatal("the sidecar exited with a request in flight")
		default:
		}

		users.releaseAll()
		r := recv(t, slow, 10*time.Second, "the in-flight request")
		require.NoError(t, r.err, "the request in flight at SIGTERM")
		assert.Equal(t, http.StatusOK, r.status)

		code, ok := p.Wait(10 * time.Second)
		require.True(t, ok, "the sidecar did not exit within Cloud Run's 10s")
		assert.Equal(t, 0, code)
		assert.Less(t, time.Since(sigterm), 9*time.Second)
		drained := logLine(p, "slinkerd drained")
		require.NotNil(t, drained)
		assert.Equal(t, true, drained["clean"])
	})
}

// TestCloudRunIngress runs the optional ingress: requests to the ingress
// port reach the app with a deadline and are counted; on SIGTERM the
// ingress stops taking connections and finishes what is in flight.
func TestCloudRunIngress(t *testing.T) {
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	appBackend := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"host": r.Host, "deadline": r.Header.Get("L5d-Ctx-Deadline"), "xff": r.Header.Get("X-Forwarded-For"),
			"service": r.Header.Get("L5d-Dst-Service"),
		})
	}))
	users := startRunService(t)
	ingressAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	p, _ := startSidecar(t, users, map[string]string{
		"SLINKERD_INGRESS_TARGET":       appBackend.Addr,
		"SLINKERD_INGRESS_LISTEN":       ingressAddr,
		"SLINKERD_INGRESS_TIMEOUT":      "30s",
		"SLINKERD_CLOUDRUN_DRAIN_QUIET": "200ms",
	})
	sidecar := logLine(p, "slinkerd cloud run sidecar")
	require.NotNil(t, sidecar)
	assert.Equal(t, ingressAddr, sidecar["ingress"])

	c := newH1Client(t)
	get := func(path string) (int, map[string]string, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+ingressAddr+path, nil)
		if err != nil {
			return 0, nil, err
		}
		req.Host = "frontend-abc-ew.a.run.app"
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var seen map[string]string
		err = json.NewDecoder(resp.Body).Decode(&seen)
		return resp.StatusCode, seen, err
	}

	status, seen, err := get("/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "frontend-abc-ew.a.run.app", seen["host"], "the Host reaches the app unchanged")
	assert.Equal(t, "/ingress", seen["service"])
	assert.NotEmpty(t, seen["deadline"], "SLINKERD_INGRESS_TIMEOUT reaches the app as l5d-ctx-deadline")
	assert.True(t, strings.HasPrefix(seen["xff"], "203.0.113.7"), "X-Forwarded-For from Google's front end is kept: %q", seen["xff"])

	resp, err := http.Get(p.AdminURL() + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(metrics), `/ingress`, "ingress requests are counted")

	type result struct {
		status int
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		status, _, err := get("/slow")
		slow <- result{status, err}
	}()
	recv(t, started, 10*time.Second, "the slow ingress request at the app")
	require.NoError(t, p.Signal(syscall.SIGTERM))
	waitFor(t, 5*time.Second, "the ingress to stop accepting", func() bool {
		conn, err := net.DialTimeout("tcp", ingressAddr, time.Second)
		if err != nil {
			return true
		}
		_ = conn.Close()
		return false
	})
	once.Do(func() { close(release) })
	r := recv(t, slow, 10*time.Second, "the in-flight ingress request")
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	code, ok := p.Wait(10 * time.Second)
	require.True(t, ok, "the sidecar did not exit within Cloud Run's 10s")
	assert.Equal(t, 0, code)
}

// TestCloudRunSidecarExample runs examples/cloudrun-sidecar as the app
// container next to slinkerd in cloudrun mode: the app's call by name
// reaches the Cloud Run service with an ID token.
func TestCloudRunSidecarExample(t *testing.T) {
	users := startRunService(t)
	p, _ := startSidecar(t, users, nil)

	appBin := filepath.Join(t.TempDir(), "cloudrun-sidecar")
	build := exec.Command("go", "build", "-o", appBin, "./examples/cloudrun-sidecar")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./examples/cloudrun-sidecar: %s", out)

	appAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	app := exec.Command(appBin)
	app.Env = append(os.Environ(), "APP_LISTEN="+appAddr, "ROUTER_URL="+p.URL())
	harness.StartProcess(t, app, nil)

	c := newH1Client(t)
	var resp *http.Response
	waitFor(t, procStartTimeout, "the app to answer", func() bool {
		r, err := c.Get("http://" + appAddr + "/call/users/profile")
		if err != nil {
			return false
		}
		resp = r
		return true
	})
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var seen map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
	assert.Equal(t, users.url, seen["audience"], "the call carried an ID token for the service")
	assert.Equal(t, "/profile", seen["path"])
}

// On Cloud Run (no GOOGLE_CLOUD_PROJECT there), the sidecar learns the
// project id from the metadata server, off the request path, and its
// access-log lines then name their trace as Cloud Logging joins it:
// logging.googleapis.com/trace = projects/PROJECT/traces/TRACE_ID.
func TestCloudRunAccessLogNamesTheTrace(t *testing.T) {
	users := startRunService(t)
	p, _ := startSidecar(t, users, map[string]string{"SLINKERD_ACCESS_LOG": "true"})
	c := newH1Client(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	want := "projects/fake-project/traces/" + traceID
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodGet, p.URL()+"/traced", nil)
		require.NoError(t, err)
		req.Host = "users"
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		recv(t, users.started, 5*time.Second, "the request at the service")
		for _, line := range strings.Split(p.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["message"] != "request" {
				continue
			}
			if m["logging.googleapis.com/trace"] == want {
				assert.Equal(t, "/traced", m["path"])
				assert.Equal(t, "INFO", m["severity"])
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line names the trace %s; logs:\n%s", want, p.Logs())
		}
		// The project id arrives from the metadata server in the
		// background, and a line reaches the logs just after its
		// response: a later request's line carries it.
	}
}
