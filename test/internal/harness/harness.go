// Package harness runs the real slinkerd binary for whole-program tests
// (test/e2e, test/chaos): it builds the binary with `make build`'s flags,
// starts it with environment configuration, reads the addresses it
// serves on from its log, and stops it at cleanup.
//
// Nothing here sleeps to wait: every wait is on an event, or a poll at a
// short interval bounded by a deadline.
package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the module root as seen from a suite two directories below
// it (test/e2e, test/chaos): go test runs a package's tests in the
// package's own directory.
var RepoRoot = func() string {
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return d
}()

// StartTimeout bounds how long slinkerd may take to log that it serves
// and to report ready.
const StartTimeout = 15 * time.Second

// Build builds ./cmd/slinkerd of the module at repoRoot into dir with the
// flags of `make build`, so tests measure what ships, and returns the
// binary's path.
func Build(repoRoot, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build slinkerd: %w", err)
	}
	bin := filepath.Join(dir, "slinkerd")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/slinkerd")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/slinkerd: %w\n%s", err, out)
	}
	return bin, nil
}

// Run is the body of a whole-program suite's TestMain: it builds slinkerd
// (see Build) into a temporary directory, stores the binary's path in
// *bin, runs the tests, removes the directory and returns the exit code.
// suite names the suite in errors.
func Run(m *testing.M, suite, repoRoot string, bin *string) int {
	dir, err := os.MkdirTemp("", "slinkerd-"+suite+"-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(repoRoot, dir); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		return 1
	}
	return m.Run()
}

// Proc is a process started by a test: slinkerd, or another program the
// test drives the same way (the Lambda emulator).
type Proc struct {
	// ProxyAddr and AdminAddr are slinkerd's bound host:port for the proxy
	// and admin listeners, read from its "slinkerd serving" log line.
	// Empty for other programs.
	ProxyAddr, AdminAddr string

	cmd    *exec.Cmd
	logs   *LineLog
	done   chan struct{} // closed when the process has exited
	state  *os.ProcessState
	waited error
}

// StartProcess starts cmd with its output collected in logs (a new LineLog
// when nil). At cleanup the process gets SIGTERM, then SIGKILL after 15s;
// its last output lines are logged when the test failed.
func StartProcess(t testing.TB, cmd *exec.Cmd, logs *LineLog) *Proc {
	t.Helper()
	if logs == nil {
		logs = &LineLog{}
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &Proc{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		p.waited = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		code := p.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("%s (pid %d) exited with %d; its output:\n%s", filepath.Base(cmd.Path), p.PID(), code, Tail(p.Logs(), 80))
		}
	})
	return p
}

// Environ returns the test process's environment without the variables
// that would configure slinkerd behind the test's back (SLINKERD_*,
// AWS_*, K_SERVICE), plus env.
func Environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLINKERD_") || strings.HasPrefix(k, "AWS_") || k == "K_SERVICE" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// StartSlinkerd runs the slinkerd binary bin with env on top of these
// defaults: SLINKERD_LISTEN and SLINKERD_ADMIN_LISTEN on 127.0.0.1:0,
// SLINKERD_MODE=container and SLINKERD_LOG_FORMAT=json. It returns once
// the proxy has logged its addresses and the admin server answers /ready
// with 200, and stops the process at cleanup.
func StartSlinkerd(t testing.TB, bin string, env map[string]string) *Proc {
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
	serving := make(chan servingLine, 1)
	logs := &LineLog{OnLine: func(line string) {
		var sl servingLine
		if json.Unmarshal([]byte(line), &sl) == nil && sl.Message == "slinkerd serving" && sl.Proxy != "" {
			select {
			case serving <- sl:
			default:
			}
		}
	}}
	cmd := exec.Command(bin)
	cmd.Env = Environ(vars)
	p := StartProcess(t, cmd, logs)
	select {
	case sl := <-serving:
		p.ProxyAddr, p.AdminAddr = sl.Proxy, sl.Admin
	case <-p.done:
		t.Fatalf("slinkerd exited before serving (%v); its log:\n%s", p.waited, p.Logs())
	case <-time.After(StartTimeout):
		t.Fatalf("slinkerd did not log \"slinkerd serving\" within %s; its log:\n%s", StartTimeout, p.Logs())
	}
	client := &http.Client{Timeout: 2 * time.Second}
	WaitFor(t, StartTimeout, "admin /ready answers 200", func() bool {
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

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// URL returns the proxy's base URL, e.g. http://127.0.0.1:41234.
func (p *Proc) URL() string { return "http://" + p.ProxyAddr }

// AdminURL returns the admin server's base URL.
func (p *Proc) AdminURL() string { return "http://" + p.AdminAddr }

// Logs returns what the process wrote so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// WaitErr returns cmd.Wait's error; valid once Exited is closed.
func (p *Proc) WaitErr() error { return p.waited }

// ExitCode returns the exit code (-1 if killed by a signal); valid once
// Exited is closed.
func (p *Proc) ExitCode() int { return p.state.ExitCode() }

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

// LineLog collects a process's output, safe for concurrent use, and
// calls OnLine (if set) for every complete line.
type LineLog struct {
	// OnLine is called for each line, without its newline.
	OnLine func(string)

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
}

// Write implements io.Writer.
func (l *LineLog) Write(b []byte) (int, error) {
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
	if l.OnLine != nil {
		for _, line := range lines {
			l.OnLine(line)
		}
	}
	return len(b), nil
}

// String returns everything written so far.
func (l *LineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls cond every 10ms until it is true, failing the test if
// timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
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
