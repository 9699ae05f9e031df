// Package e2e holds slinkerd's whole-program tests: each test starts the
// real bin/slinkerd (built once by TestMain) with environment configuration,
// in front of real backends on 127.0.0.1, and talks to it as a client would.
//
// The harness in this file is meant to be reused by later whole-program
// suites (chaos, retries, discovery): startSlinkerd runs the binary and
// stops it at cleanup, the start*Backend helpers run HTTP/1.1, h2c and gRPC
// servers, and inetDtab / writeFSDir route names to them.
//
// Nothing here sleeps to wait: every wait is on an event, or a poll at a
// short interval bounded by a deadline.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/harness"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// repoRoot is the module root.
var repoRoot = harness.RepoRoot

// slinkerdBin is the binary under test, built once by TestMain.
var slinkerdBin string

// toolPath returns the path of an external test tool installed by
// `make tools`, and whether it is there.
func toolPath(name string) (string, bool) {
	p := filepath.Join(repoRoot, ".tools", name)
	st, err := os.Stat(p)
	return p, err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func TestMain(m *testing.M) {
	os.Exit(harness.Run(m, "e2e", repoRoot, &slinkerdBin))
}

// Proc is a running process started by a test (see test/internal/harness).
type Proc = harness.Proc

// procStartTimeout bounds how long slinkerd may take to log that it serves
// and to report ready.
const procStartTimeout = harness.StartTimeout

// startSlinkerd runs the slinkerd binary with env on top of the harness
// defaults (loopback listeners on port 0, container mode, JSON logs) and
// a 5s drain; see harness.StartSlinkerd.
func startSlinkerd(t testing.TB, env map[string]string) *Proc {
	t.Helper()
	vars := map[string]string{"SLINKERD_DRAIN_TIMEOUT": "5s"}
	// E2E_FAST_PATH=off runs the suite on net/http's server and client
	// (`make test` runs the HTTP/1 tests both ways, as a differential).
	if fp := os.Getenv("E2E_FAST_PATH"); fp != "" {
		vars["SLINKERD_FAST_PATH"] = fp
	}
	for k, v := range env {
		vars[k] = v
	}
	return harness.StartSlinkerd(t, slinkerdBin, vars)
}

// tail returns the last n lines of s.
func tail(s string, n int) string { return harness.Tail(s, n) }

// waitFor polls cond every 10ms until it is true, failing the test if
// timeout passes first.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
}

// recv receives one value from c, failing the test after timeout.
func recv[T any](t testing.TB, c <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
		panic("unreachable")
	}
}

// Backend is a server started by a test on 127.0.0.1.
type Backend struct {
	// Addr is host:port, always 127.0.0.1.
	Addr string
	// Port is the bound port.
	Port int
}

// URL returns http://Addr.
func (b *Backend) URL() string { return "http://" + b.Addr }

func listenLoopback(t testing.TB) (net.Listener, *Backend) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	return ln, &Backend{Addr: ln.Addr().String(), Port: port}
}

// startHTTPBackend serves h on 127.0.0.1 over HTTP/1.1 and cleartext
// HTTP/2 with prior knowledge (h2c) on the same port, until cleanup.
func startHTTPBackend(t testing.TB, h http.Handler) *Backend {
	t.Helper()
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	return startHTTPServer(t, &http.Server{Handler: h, Protocols: protos, ReadHeaderTimeout: 10 * time.Second})
}

// startH2CBackend serves h on 127.0.0.1 over h2c only.
func startH2CBackend(t testing.TB, h http.Handler) *Backend {
	t.Helper()
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	return startHTTPServer(t, &http.Server{Handler: h, Protocols: protos, ReadHeaderTimeout: 10 * time.Second})
}

func startHTTPServer(t testing.TB, srv *http.Server) *Backend {
	t.Helper()
	ln, b := listenLoopback(t)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	})
	return b
}

// startGRPCBackend serves the gRPC services that register adds on
// 127.0.0.1 until cleanup.
func startGRPCBackend(t testing.TB, register func(*grpc.Server)) *Backend {
	t.Helper()
	ln, b := listenLoopback(t)
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return b
}

// closedPort returns a loopback port that nothing listens on (it was
// bound and closed, so it is very unlikely to be reused at once).
func closedPort(t testing.TB) int {
	t.Helper()
	ln, b := listenLoopback(t)
	require.NoError(t, ln.Close())
	return b.Port
}

// inetDtab returns the dentry /svc/<svc>=>/$/inet/127.0.0.1/<port>.
func inetDtab(svc string, port int) string {
	return fmt.Sprintf("/svc/%s=>/$/inet/127.0.0.1/%d", svc, port)
}

// writeFSDir writes an io.l5d.fs directory (for SLINKERD_FS_DIR): one
// file per name listing its backends, one "host port" line each.
func writeFSDir(t testing.TB, names map[string][]*Backend) string {
	t.Helper()
	dir := t.TempDir()
	for n, bs := range names {
		var b strings.Builder
		for _, be := range bs {
			fmt.Fprintf(&b, "127.0.0.1 %d\n", be.Port)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(b.String()), 0o644))
	}
	return dir
}

// procMemory reads a process's resident set size (VmRSS) and its peak
// (VmHWM, the high-water mark) from /proc/<pid>/status, in bytes.
func procMemory(pid int) (rss, peak uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	var haveRSS, havePeak bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, k, sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss, haveRSS = n<<10, true
		} else {
			peak, havePeak = n<<10, true
		}
	}
	if !haveRSS || !havePeak {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc status (not Linux?)")
	}
	return rss, peak, nil
}

// newH1Client returns a client that speaks HTTP/1.1 only, with its own
// connection pool, closed at cleanup.
func newH1Client(t testing.TB) *http.Client {
	t.Helper()
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	tr := &http.Transport{Protocols: protos, DisableCompression: true, WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// newH2CClient returns a client that speaks cleartext HTTP/2 with prior
// knowledge only, with its own connection pool, closed at cleanup.
func newH2CClient(t testing.TB) *http.Client {
	t.Helper()
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protos, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// rawRoundTrip writes raw (a complete HTTP/1.1 request) on a new
// connection to addr and reads one response, its body read whole. It is
// for requests a Go client would not send as written: hop-by-hop headers,
// odd framing.
func rawRoundTrip(t testing.TB, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp, string(body)
}

// rawRequest builds an HTTP/1.1 request from a request line and header
// lines, ending with an empty line.
func rawRequest(requestLine string, headers ...string) string {
	var b strings.Builder
	b.WriteString(requestLine + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}
