package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

// backendAddrEnv, when set, makes the test binary a backend process (see
// startProcBackend) instead of running tests.
const backendAddrEnv = "CHAOS_BACKEND_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(backendAddrEnv); addr != "" {
		os.Exit(serveProcBackend(addr))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "slinkerd-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	slinkerdBin = filepath.Join(dir, "slinkerd")
	// The flags of `make build`, so the suite measures what ships.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", slinkerdBin, "./cmd/slinkerd")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: go build ./cmd/slinkerd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proc is a running slinkerd.
type proc struct {
	proxyAddr, adminAddr string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads, that
// also reports the "slinkerd serving" line.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	partial []byte
	serving chan servingLine
}

type servingLine struct {
	Message string `json:"message"`
	Proxy   string `json:"proxy"`
	Admin   string `json:"admin"`
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		var sl servingLine
		if json.Unmarshal(s.partial[:i], &sl) == nil && sl.Message == "slinkerd serving" {
			select {
			case s.serving <- sl:
			default:
			}
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSlinkerd runs slinkerd with env (on top of container mode, JSON
// logs and a loopback admin port) and returns when it reports ready. It
// is stopped at cleanup.
func startSlinkerd(t testing.TB, env map[string]string) *proc {
	t.Helper()
	vars := map[string]string{
		"SLINKERD_LISTEN":       "127.0.0.1:0",
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
		"SLINKERD_MODE":         "container",
		"SLINKERD_LOG_FORMAT":   "json",
	}
	for k, v := range env {
		vars[k] = v
	}
	var environ []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SLINKERD_") || strings.HasPrefix(k, "AWS_") || k == "K_SERVICE" {
			continue
		}
		environ = append(environ, kv)
	}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	logs := &syncBuffer{serving: make(chan servingLine, 1)}
	cmd := exec.Command(slinkerdBin)
	cmd.Env, cmd.Stdout, cmd.Stderr = environ, logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slinkerd: %v", err)
	}
	p := &proc{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(15 * time.Second)
		if t.Failed() {
			t.Logf("slinkerd (pid %d) log, last lines:\n%s", cmd.Process.Pid, lastLines(logs.String(), 40))
		}
	})
	select {
	case sl := <-logs.serving:
		p.proxyAddr, p.adminAddr = sl.Proxy, sl.Admin
	case <-p.done:
		t.Fatalf("slinkerd exited before serving:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("slinkerd did not serve within 15s:\n%s", logs.String())
	}
	waitUntil(t, 15*time.Second, "slinkerd is ready", func() bool {
		resp, err := http.Get("http://" + p.adminAddr + "/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (p *proc) stop(timeout time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitUntil polls cond every 10ms until it holds, failing the test after
// timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
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

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// Backend modes.
const (
	modeOK   = iota // 200 "ok"
	modeHang        // never answer; wait for the request to be cancelled
	mode503         // 503
)

// backend is an in-process HTTP/1.1 backend on 127.0.0.1 whose behaviour
// the scenario switches, and which can be stopped (listener and every
// connection closed) and started again on the same port. Every answer
// carries X-Backend, so a failure the backend made is told from one the
// proxy made.
type backend struct {
	name string
	port int
	mode atomic.Int32
	hits atomic.Int64

	// /slow requests wait for release (or their cancellation).
	slowSeen chan struct{}
	release  chan struct{}

	mu  sync.Mutex
	srv *http.Server
}

func startBackend(t testing.TB, name string) *backend {
	t.Helper()
	b := &backend{name: name, slowSeen: make(chan struct{}, 64), release: make(chan struct{})}
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

func (b *backend) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// start listens (on the backend's port, once it has one) and serves.
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", b.port))
	if err != nil {
		return fmt.Errorf("backend %s: %w", b.name, err)
	}
	b.port = ln.Addr().(*net.TCPAddr).Port
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return nil
}

// stop closes the listener and every connection at once, as a crashed
// or stopped process would.
func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	w.Header().Set("X-Backend", b.name)
	if r.URL.Path == "/slow" {
		b.slowSeen <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
	}
	_, _ = io.Copy(io.Discard, r.Body)
	switch b.mode.Load() {
	case modeHang:
		<-r.Context().Done()
		return
	case mode503:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "busy")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// procBackend is a backend in its own OS process (this test binary, run
// again with CHAOS_BACKEND_ADDR), so that it can be killed for real.
type procBackend struct {
	name string
	addr string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcBackend starts a backend process on addr ("127.0.0.1:0" for
// any port) and returns when it listens.
func startProcBackend(t testing.TB, name, addr string) *procBackend {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), backendAddrEnv+"="+addr, "CHAOS_BACKEND_NAME="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pb := &procBackend{name: name, cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(pb.done)
	}()
	t.Cleanup(pb.kill)
	select {
	case line := <-lines:
		a, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			t.Fatalf("backend process said %q", line)
		}
		pb.addr = a
		_, port, _ := net.SplitHostPort(a)
		_, _ = fmt.Sscan(port, &pb.port)
	case <-pb.done:
		t.Fatalf("backend process %s exited before listening", name)
	case <-time.After(10 * time.Second):
		t.Fatalf("backend process %s did not listen within 10s", name)
	}
	return pb
}

// kill sends SIGKILL and waits for the process to be gone.
func (pb *procBackend) kill() {
	select {
	case <-pb.done:
		return
	default:
	}
	_ = pb.cmd.Process.Signal(syscall.SIGKILL)
	<-pb.done
}

// serveProcBackend is the backend process: it serves 200 "ok" on addr
// until it is killed.
func serveProcBackend(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		return 1
	}
	fmt.Println("listening", ln.Addr().String())
	name := os.Getenv("CHAOS_BACKEND_NAME")
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})}
	_ = srv.Serve(ln)
	return 0
}

// fsFile atomically writes the io.l5d.fs file name in dir with content.
func fsFile(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// fsLines lists ports as io.l5d.fs lines.
func fsLines(ports ...int) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "127.0.0.1 %d\n", p)
	}
	return b.String()
}

// awsEnv points the AWS SDK inside slinkerd at a Cloud Map fake, with
// static credentials and nothing read from the machine.
func awsEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SERVICEDISCOVERY": endpoint,
		"AWS_REGION":                        "us-east-1",
		"AWS_ACCESS_KEY_ID":                 "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":             "secret",
		"AWS_CONFIG_FILE":                   os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":       os.DevNull,
		"AWS_EC2_METADATA_DISABLED":         "true",
	}
}
