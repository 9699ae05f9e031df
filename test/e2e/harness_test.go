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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// repoRoot is the module root, two levels above this package.
var repoRoot = func() string {
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return d
}()

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
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "slinkerd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	slinkerdBin = filepath.Join(dir, "slinkerd")
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is needed to build bin/slinkerd:", err)
		return 1
	}
	// The same flags as `make build`, so the tests measure what ships.
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", slinkerdBin, "./cmd/slinkerd")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/slinkerd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Proc is a running slinkerd.
type Proc struct {
	// ProxyAddr and AdminAddr are the bound host:port of the proxy and
	// admin listeners, read from the "slinkerd serving" log line.
	ProxyAddr, AdminAddr string

	cmd    *exec.Cmd
	logs   *lineLog
	done   chan struct{} // closed when the process has exited
	state  *os.ProcessState
	waited error
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// URL returns the proxy's base URL, e.g. http://127.0.0.1:41234.
func (p *Proc) URL() string { return "http://" + p.ProxyAddr }

// AdminURL returns the admin server's base URL.
func (p *Proc) AdminURL() string { return "http://" + p.AdminAddr }

// Logs returns what the process wrote to stderr so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if it was killed by a signal). ok is false on timeout.
func (p *Proc) Wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// then kills it. It returns the exit code, or -1 if it had to be killed.
func (p *Proc) Stop(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.state.ExitCode()
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(timeout); ok {
		return code
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return -1
}

// procStartTimeout bounds how long slinkerd may take to log that it serves
// and to report ready.
const procStartTimeout = 15 * time.Second

// startSlinkerd runs the slinkerd binary with env on top of the harness
// defaults: SLINKERD_LISTEN and SLINKERD_ADMIN_LISTEN on 127.0.0.1:0,
// SLINKERD_MODE=container, SLINKERD_LOG_FORMAT=json and a 5s drain. Any
// SLINKERD_* variable of the test process's own environment is dropped, so
// only env configures it. It returns once the proxy has logged its
// addresses and the admin server answers /ready with 200. At cleanup the
// process gets SIGTERM, and SIGKILL if it has not exited within 15s; its
// log is printed when the test failed.
func startSlinkerd(t testing.TB, env map[string]string) *Proc {
	t.Helper()
	vars := map[string]string{
		"SLINKERD_LISTEN":        "127.0.0.1:0",
		"SLINKERD_ADMIN_LISTEN":  "127.0.0.1:0",
		"SLINKERD_MODE":          "container",
		"SLINKERD_LOG_FORMAT":    "json",
		"SLINKERD_DRAIN_TIMEOUT": "5s",
	}
	for k, v := range env {
		vars[k] = v
	}
	var environ []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLINKERD_") || k == "AWS_LAMBDA_RUNTIME_API" || k == "K_SERVICE" {
			continue
		}
		environ = append(environ, kv)
	}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}

	serving := make(chan servingLine, 1)
	logs := &lineLog{onLine: func(line string) {
		var sl servingLine
		if json.Unmarshal([]byte(line), &sl) == nil && sl.Message == "slinkerd serving" && sl.Proxy != "" {
			select {
			case serving <- sl:
			default:
			}
		}
	}}
	cmd := exec.Command(slinkerdBin)
	cmd.Env = environ
	cmd.Stdout = logs
	cmd.Stderr = logs
	require.NoError(t, cmd.Start(), "start slinkerd")
	p := &Proc{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		p.waited = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		code := p.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("slinkerd (pid %d) exited with %d; its log:\n%s", p.PID(), code, tail(p.Logs(), 60))
		}
	})

	select {
	case sl := <-serving:
		p.ProxyAddr, p.AdminAddr = sl.Proxy, sl.Admin
	case <-p.done:
		t.Fatalf("slinkerd exited before serving (%v); its log:\n%s", p.waited, p.Logs())
	case <-time.After(procStartTimeout):
		t.Fatalf("slinkerd did not log \"slinkerd serving\" within %s; its log:\n%s", procStartTimeout, p.Logs())
	}
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, procStartTimeout, "admin /ready answers 200", func() bool {
		resp, err := client.Get(p.AdminURL() + "/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// servingLine is the JSON log line slinkerd writes when it serves.
type servingLine struct {
	Message string `json:"message"`
	Proxy   string `json:"proxy"`
	Admin   string `json:"admin"`
}

// lineLog collects a process's output and calls onLine for every line.
type lineLog struct {
	onLine func(string)

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.all.Write(b)
	l.partial = append(l.partial, b...)
	var lines []string
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	l.mu.Unlock()
	for _, line := range lines {
		if l.onLine != nil {
			l.onLine(line)
		}
	}
	return len(b), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 10ms until it is true, failing the test if
// timeout passes first.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		<-tick.C
	}
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
