package chaos

import (
	"bufio"
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

	"github.com/slinkerd/slinkerd/test/internal/harness"
)

// repoRoot is the module root.
var repoRoot = harness.RepoRoot

// slinkerdBin is the binary under test, built once by TestMain.
var slinkerdBin string

// backendAddrEnv, when set, makes the test binary a backend process (see
// startProcBackend) instead of running tests.
const backendAddrEnv = "CHAOS_BACKEND_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(backendAddrEnv); addr != "" {
		os.Exit(serveProcBackend(addr))
	}
	os.Exit(harness.Run(m, "chaos", repoRoot, &slinkerdBin))
}

// proc is a running slinkerd (see test/internal/harness).
type proc = harness.Proc

// startSlinkerd runs slinkerd with env (on top of container mode, JSON
// logs and loopback listeners) and returns when it reports ready. It is
// stopped at cleanup.
func startSlinkerd(t testing.TB, env map[string]string) *proc {
	t.Helper()
	return harness.StartSlinkerd(t, slinkerdBin, env)
}

// waitUntil polls cond every 10ms until it holds, failing the test after
// timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
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
