package main

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/internal/leakcheck"
	fakecloudrun "github.com/slinkerd/slinkerd/test/fakes/cloudrun"
	fakemetadata "github.com/slinkerd/slinkerd/test/fakes/metadata"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "github.com/slinkerd/slinkerd", "net/http.(*persistConn)", "net/http.(*conn).serve")
}

// seen is what the users service was sent.
type seen struct {
	path, authorization, traceparent, deadline string
}

// startUsers starts an https server standing in for the Cloud Run
// service "users": it answers with a JSON body and reports each request
// on the returned channel. It returns the service's URL and a PEM file
// of its certificate, for SLINKERD_BACKEND_CA_FILE.
func startUsers(t *testing.T) (url, caFile string, requests <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{
			path:          r.URL.Path,
			authorization: r.Header.Get("Authorization"),
			traceparent:   r.Header.Get("Traceparent"),
			deadline:      r.Header.Get("L5d-Ctx-Deadline"),
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"user":"ada"}`)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	return srv.URL, caFile, ch
}

// startService runs the example's run on a loopback listener, configured
// as on Cloud Run but against the local fakes of the Cloud Run Admin API
// and the metadata server, and returns its URL. The service is stopped,
// and run's result checked, when the test ends.
func startService(t *testing.T, env map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		log := slog.New(slog.DiscardHandler)
		done <- run(ctx, ln, log, slinkerd.WithEnv(env), slinkerd.WithLogger(log))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run's result")
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	return "http://" + ln.Addr().String()
}

// TestCallsCloudRunServiceWithIDToken: GET /profile on the service calls
// the Cloud Run service "users", found through /#/io.l5d.cloudrun (the
// Admin API fake), over TLS, with an ID token for it from the metadata
// server (fake) in Authorization, the incoming request's traceparent and
// the call's deadline; its answer comes back.
func TestCallsCloudRunServiceWithIDToken(t *testing.T) {
	usersURL, caFile, requests := startUsers(t)
	cr, err := fakecloudrun.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cr.Close() })
	cr.SetService(fakecloudrun.ReadyService("proj", "europe-west1", "users", usersURL))
	md, err := fakemetadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = md.Close() })
	// Read by cloud.google.com/go/compute/metadata from the process's
	// environment, not from slinkerd's.
	t.Setenv("GCE_METADATA_HOST", md.Addr())

	base := startService(t, map[string]string{
		"K_SERVICE":                  "frontend",
		"K_REVISION":                 "frontend-00001-abc",
		"SLINKERD_DTAB":              "/svc=>/#/io.l5d.cloudrun/proj/europe-west1",
		"SLINKERD_CLOUDRUN_ENDPOINT": cr.Addr(),
		"SLINKERD_BACKEND_CA_FILE":   caFile,
	})

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/profile", nil)
	require.NoError(t, err)
	req.Header.Set("Traceparent", traceparent)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	sent := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %q", body)
	assert.JSONEq(t, `{"user":"ada"}`, string(body))

	var s seen
	select {
	case s = <-requests:
	default:
		t.Fatal("the users service got no request")
	}
	assert.Equal(t, "/profile", s.path)
	tok, ok := strings.CutPrefix(s.authorization, "Bearer ")
	require.True(t, ok, "Authorization %q", s.authorization)
	claims, err := fakemetadata.ParseToken(tok)
	require.NoError(t, err)
	assert.Equal(t, usersURL, claims.Aud, "the token is for the service's URL")
	assert.Equal(t, md.Email, claims.Email, "the token is the metadata server's")
	assert.Equal(t, 1, md.Fetches(usersURL))
	assert.Equal(t, traceparent, s.traceparent, "the call joins the incoming request's trace")
	fields := strings.Fields(s.deadline)
	require.Len(t, fields, 2, "l5d-ctx-deadline %q", s.deadline)
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	require.NoError(t, err)
	assert.WithinDuration(t, sent.Add(callTimeout), time.Unix(0, ns), time.Since(sent), "the call's deadline travels as l5d-ctx-deadline")
	assert.Positive(t, cr.Calls("GetService"))
}

// TestUnknownServiceIs502: a service the Admin API does not know is
// slinkerd's 502, passed back.
func TestUnknownServiceIs502(t *testing.T) {
	cr, err := fakecloudrun.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cr.Close() })
	base := startService(t, map[string]string{
		"K_SERVICE":                  "frontend",
		"SLINKERD_DTAB":              "/svc=>/#/io.l5d.cloudrun/proj/europe-west1",
		"SLINKERD_CLOUDRUN_ENDPOINT": cr.Addr(),
	})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/profile")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Contains(t, string(body), "/#/io.l5d.cloudrun/proj/europe-west1/users", "the namer was asked")
}

// TestBadConfigFailsRun: run fails, naming the variable, when the
// configuration is invalid, and closes the listener.
func TestBadConfigFailsRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	err = run(context.Background(), ln, log, slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": "/svc=>"}), slinkerd.WithLogger(log))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SLINKERD_DTAB")
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
}
