package e2e

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	fakecloudmap "github.com/slinkerd/slinkerd/test/fakes/cloudmap"
	"github.com/slinkerd/slinkerd/test/fakes/containercreds"
	"github.com/slinkerd/slinkerd/test/internal/harness"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Lambda tests run the real extension (bin/slinkerd as
// /opt/extensions/slinkerd) and the example function
// (examples/lambda-function) under the AWS Lambda Runtime Interface
// Emulator, installed by `make tools`. The emulator finds extensions only
// in /opt/extensions, so it runs in a private mount namespace where a
// directory of the test's own is bind-mounted over /opt: nothing outside
// the test's temporary directory changes. That needs root and unshare(1);
// without them the tests fail, saying so, rather than skip.

// requireRIE returns the emulator's path, failing the test with the
// reason when the emulator or a private mount namespace is not available.
func requireRIE(t *testing.T) string {
	t.Helper()
	rie, ok := toolPath("aws-lambda-rie")
	if !ok {
		t.Fatal("the AWS Lambda Runtime Interface Emulator is not installed in .tools/: run `make tools`")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the Lambda tests need root to bind-mount a test directory over /opt in a private mount namespace (unshare -m); run them as root, as CI does")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("the Lambda tests need unshare(1) (util-linux) to run the emulator in a private mount namespace: apt-get install util-linux")
	}
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "--", "true").CombinedOutput()
	if err != nil {
		t.Fatalf("cannot create a private mount namespace (unshare -m: %v: %s); the emulator must not see the real /opt, so the Lambda tests cannot run here", err, out)
	}
	return rie
}

// buildFunction builds examples/lambda-function as bootstrap in dir, as
// the provided.al2023 runtime expects it.
func buildFunction(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", out, "./examples/lambda-function")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./examples/lambda-function: %s", b)
	return out
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, mode))
}

// rieProc is a running emulator with its function and extensions.
type rieProc struct {
	*Proc
	// InvokeURL is the emulator's invoke endpoint.
	InvokeURL string
}

// startRIE runs the emulator with bootstrap as the function and, when
// withExtension is set, bin/slinkerd as the extension
// /opt/extensions/slinkerd. env is the function's and extensions'
// environment (the emulator passes its own on), on top of the test
// process's less any SLINKERD_* variable.
func startRIE(t *testing.T, bootstrap string, withExtension bool, env map[string]string) *rieProc {
	t.Helper()
	rie := requireRIE(t)
	opt := filepath.Join(t.TempDir(), "opt")
	require.NoError(t, os.MkdirAll(filepath.Join(opt, "extensions"), 0o755))
	if withExtension {
		copyFile(t, slinkerdBin, filepath.Join(opt, "extensions", "slinkerd"), 0o755)
	}
	invokeAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))

	environ := harness.Environ(env)
	// The mount is private to the new namespace, which ends with the
	// emulator: unshare and sh exec into it, so it is the process we
	// start, signal and wait for.
	script := `mount --bind "$1" /opt && exec "$2" --log-level debug --runtime-interface-emulator-address "$3" --runtime-api-address "$4" "$5"`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh", opt, rie, invokeAddr, apiAddr, bootstrap)
	cmd.Env = environ
	cmd.Dir = filepath.Dir(bootstrap)
	return runRIE(t, cmd, invokeAddr)
}

// runRIE starts the emulator's command and waits until it listens on
// invokeAddr, failing the test if it exits first.
func runRIE(t *testing.T, cmd *exec.Cmd, invokeAddr string) *rieProc {
	t.Helper()
	p := harness.StartProcess(t, cmd, nil)
	waitFor(t, procStartTimeout, "the emulator listens on "+invokeAddr, func() bool {
		select {
		case <-p.Exited():
			t.Fatalf("the emulator exited (%v):\n%s", p.WaitErr(), p.Logs())
		default:
		}
		c, err := net.DialTimeout("tcp", invokeAddr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	return &rieProc{Proc: p, InvokeURL: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"}
}

// invoke invokes the function with payload and returns the emulator's
// status and body.
func (r *rieProc) invoke(t *testing.T, payload string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Post(r.InvokeURL, "application/json", strings.NewReader(payload))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// functionResponse is examples/lambda-function's answer.
type functionResponse struct {
	Status  int               `json:"status"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// extLog is one JSON log line of the extension.
type extLog map[string]any

// extLogs returns the JSON log lines of the extension with message msg,
// in order. The emulator's own lines are not JSON.
func extLogs(out, msg string) []extLog {
	var found []extLog
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m extLog
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			found = append(found, m)
		}
	}
	return found
}

// waitLog waits until the output holds n log lines with message msg.
func waitLog(t *testing.T, p *Proc, msg string, n int) []extLog {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d %q log lines", n, msg), func() bool {
		return len(extLogs(p.Logs(), msg)) >= n
	})
	return extLogs(p.Logs(), msg)
}

// echoL5D is a backend that answers with the l5d headers it received.
func echoL5D(t *testing.T, reply string) *Backend {
	return startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"reply":            reply,
			"path":             r.URL.Path,
			"l5d-dst-service":  r.Header.Get("L5d-Dst-Service"),
			"l5d-dst-client":   r.Header.Get("L5d-Dst-Client"),
			"l5d-reqid":        r.Header.Get("L5d-Reqid"),
			"l5d-ctx-deadline": r.Header.Get("L5d-Ctx-Deadline"),
			"via":              r.Header.Get("Via"),
		})
	}))
}

// TestLambdaExtension runs the example function with slinkerd as its
// extension under the emulator: a call through the extension, EMF metrics
// on INVOKE, a function timeout (SHUTDOWN with reason timeout, then a new
// init), and the emulator's own shutdown (SHUTDOWN, exit inside the
// deadline).
func TestLambdaExtension(t *testing.T) {
	hello := echoL5D(t, "hello from the backend")
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	slowStarted := make(chan struct{}, 1)
	slow := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowStarted <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	bootstrap := buildFunction(t, t.TempDir())
	rie := startRIE(t, bootstrap, true, map[string]string{
		"SLINKERD_LISTEN":             fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_ADMIN_LISTEN":       fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_DTAB":               inetDtab("hello", hello.Port) + ";" + inetDtab("slow", slow.Port),
		"SLINKERD_LOG_LEVEL":          "debug",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "2",
	})

	t.Run("the function calls a backend through the extension", func(t *testing.T) {
		status, body := rie.invoke(t, `{"service":"hello","path":"/greeting"}`)
		require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
		var fr functionResponse
		require.NoError(t, json.Unmarshal(body, &fr), "function answer: %s", body)
		require.Equal(t, http.StatusOK, fr.Status, "the proxy's answer: %s", fr.Body)
		var seen map[string]string
		require.NoError(t, json.Unmarshal([]byte(fr.Body), &seen), "backend answer: %s", fr.Body)
		assert.Equal(t, "hello from the backend", seen["reply"])
		assert.Equal(t, "/greeting", seen["path"])
		assert.Equal(t, "/svc/hello", seen["l5d-dst-service"])
		assert.Equal(t, fmt.Sprintf("/$/inet/127.0.0.1/%d", hello.Port), seen["l5d-dst-client"])
		assert.NotEmpty(t, seen["l5d-reqid"])
		assert.Contains(t, seen["via"], "slinkerd")

		out := rie.Logs()
		assert.Contains(t, out, "External agent slinkerd", "the emulator registered the extension")
		assert.Contains(t, out, "subscribed to [INVOKE SHUTDOWN]")
		ready := waitLog(t, rie.Proc, "slinkerd lambda extension ready", 1)
		t.Logf("extension start-up to ready under the emulator: %v ms (register %v ms)", ready[0]["startup_ms"], ready[0]["register_ms"])
		invokes := waitLog(t, rie.Proc, "invoke", 1)
		assert.NotEmpty(t, invokes[0]["requestId"])
	})

	t.Run("INVOKE flushes metrics as EMF lines", func(t *testing.T) {
		status, body := rie.invoke(t, `{"service":"hello"}`)
		require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
		waitFor(t, 10*time.Second, "an EMF line for /svc/hello", func() bool {
			for _, line := range strings.Split(rie.Logs(), "\n") {
				if strings.Contains(line, `"_aws"`) && strings.Contains(line, `"Service":"/svc/hello"`) {
					return true
				}
			}
			return false
		})
	})

	t.Run("after a function timeout the extension shuts down in time and starts again", func(t *testing.T) {
		status, body := rie.invoke(t, `{"service":"slow"}`)
		recv(t, slowStarted, 10*time.Second, "the slow call to reach its backend")
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, string(body), "Task timed out")

		stopped := waitLog(t, rie.Proc, "slinkerd lambda extension stopped", 1)
		// Lambda says "timeout", the emulator "Timeout".
		assert.True(t, strings.EqualFold(fmt.Sprint(stopped[0]["reason"]), "timeout"), "SHUTDOWN reason %v", stopped[0]["reason"])
		left, _ := stopped[0]["deadline_left_ms"].(float64)
		assert.Positive(t, left, "the extension stopped before the SHUTDOWN deadline: %v", stopped[0])
		assert.NotContains(t, rie.Logs(), "did not exit after deadline", "the emulator had to kill a process")

		// The next invoke initialises a new execution environment: a new
		// extension process registers and serves.
		status, body = rie.invoke(t, `{"service":"hello"}`)
		require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
		var fr functionResponse
		require.NoError(t, json.Unmarshal(body, &fr), "function answer: %s", body)
		assert.Equal(t, http.StatusOK, fr.Status, "the proxy's answer: %s", fr.Body)
		assert.Len(t, waitLog(t, rie.Proc, "slinkerd lambda extension ready", 2), 2, "the extension started again")
	})

	t.Run("the emulator's shutdown sends SHUTDOWN, handled inside its deadline", func(t *testing.T) {
		require.NoError(t, rie.Signal(syscall.SIGTERM))
		code, ok := rie.Wait(15 * time.Second)
		require.True(t, ok, "the emulator did not exit within 15s of SIGTERM")
		assert.Equal(t, 0, code)
		stopped := extLogs(rie.Logs(), "slinkerd lambda extension stopped")
		require.Len(t, stopped, 2)
		left, _ := stopped[1]["deadline_left_ms"].(float64)
		assert.Positive(t, left, "the extension stopped before the SHUTDOWN deadline: %v", stopped[1])
		assert.NotContains(t, rie.Logs(), "did not exit after deadline", "the emulator had to kill a process")
		assert.Len(t, extLogs(rie.Logs(), "slinkerd stopped"), 2, "both extension processes exited by themselves")
	})
}

// TestLambdaInFunction runs the example function in its in-process mode
// (the slinkerd package's Client wrapped by adapters/awslambda, no extension) under the emulator.
func TestLambdaInFunction(t *testing.T) {
	hello := echoL5D(t, "hello in process")
	bootstrap := buildFunction(t, t.TempDir())
	rie := startRIE(t, bootstrap, false, map[string]string{
		"ROUTE_IN_PROCESS":            "1",
		"SLINKERD_DTAB":               inetDtab("hello", hello.Port),
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "5",
	})
	status, body := rie.invoke(t, `{"service":"hello","path":"/in-process"}`)
	require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
	var fr functionResponse
	require.NoError(t, json.Unmarshal(body, &fr), "function answer: %s", body)
	require.Equal(t, http.StatusOK, fr.Status, "the router's answer: %s", fr.Body)
	var seen map[string]string
	require.NoError(t, json.Unmarshal([]byte(fr.Body), &seen))
	assert.Equal(t, "hello in process", seen["reply"])
	assert.Equal(t, "/svc/hello", seen["l5d-dst-service"])
	assert.NotEmpty(t, seen["l5d-ctx-deadline"], "the invocation's deadline travels as l5d-ctx-deadline")
	assert.NotContains(t, rie.Logs(), "External agent", "no extension runs in this mode")
	waitFor(t, 10*time.Second, "the function's EMF line", func() bool {
		return strings.Contains(rie.Logs(), `"_aws"`) && strings.Contains(rie.Logs(), `"Service":"/svc/hello"`)
	})
}

// fakeExtensionsAPI is just enough of the Extensions API to time the
// extension's start: it records when register and the first event/next
// arrive, checks the proxy accepts connections at that first event/next,
// and hands out one SHUTDOWN event when told to.
type fakeExtensionsAPI struct {
	srv       *httptest.Server
	proxyAddr string

	registered chan nextSeen
	firstNext  chan nextSeen
	shutdown   chan int64 // deadline in ms
	nexts      int
	mu         sync.Mutex
}

type nextSeen struct {
	at         time.Time
	proxyReady error
}

func newFakeExtensionsAPI(t *testing.T, proxyAddr string) *fakeExtensionsAPI {
	f := &fakeExtensionsAPI{proxyAddr: proxyAddr, registered: make(chan nextSeen, 1),
		firstNext: make(chan nextSeen, 1), shutdown: make(chan int64, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2020-01-01/extension/register", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		f.registered <- nextSeen{at: at, proxyReady: f.dialProxy()}
		w.Header().Set("Lambda-Extension-Identifier", "e2e-extension-id")
		_, _ = io.WriteString(w, `{"functionName":"e2e","functionVersion":"$LATEST","handler":"bootstrap"}`)
	})
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		f.mu.Lock()
		f.nexts++
		first := f.nexts == 1
		f.mu.Unlock()
		if first {
			f.firstNext <- nextSeen{at: at, proxyReady: f.dialProxy()}
		}
		select {
		case ms := <-f.shutdown:
			_ = json.NewEncoder(w).Encode(map[string]any{"eventType": "SHUTDOWN", "deadlineMs": ms, "shutdownReason": "spindown"})
		case <-r.Context().Done():
		}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// dialProxy connects to the proxy's port and closes the connection.
func (f *fakeExtensionsAPI) dialProxy() error {
	c, err := net.DialTimeout("tcp", f.proxyAddr, time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// TestLambdaExtensionStartup measures the extension's start: from exec
// to register (its proxy already accepting connections) and to its first
// event/next, over
// several runs of the real binary, and that it exits inside a short
// SHUTDOWN deadline. The result is logged; the bound is loose, for busy
// CI machines.
func TestLambdaExtensionStartup(t *testing.T) {
	const runs = 15
	var toRegister, toNext, inProcess []time.Duration
	for i := range runs {
		proxyAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
		api := newFakeExtensionsAPI(t, proxyAddr)
		cmd := exec.Command(slinkerdBin)
		cmd.Env = []string{
			"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(api.srv.URL, "http://"),
			"SLINKERD_LISTEN=" + proxyAddr,
			"SLINKERD_ADMIN_LISTEN=127.0.0.1:0",
			"SLINKERD_DTAB=/svc/hello=>/$/inet/127.0.0.1/1",
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		reg := recv(t, api.registered, 10*time.Second, "register")
		require.NoError(t, reg.proxyReady, "run %d: the proxy must accept connections when the extension registers (Lambda then starts the runtime)", i)
		next := recv(t, api.firstNext, 10*time.Second, "the first event/next")
		require.NoError(t, next.proxyReady, "run %d: the proxy must accept connections before the first event/next", i)
		toRegister = append(toRegister, reg.at.Sub(start))
		toNext = append(toNext, next.at.Sub(start))

		deadline := time.Now().Add(500 * time.Millisecond)
		api.shutdown <- deadline.UnixMilli()
		select {
		case err := <-exited:
			require.NoError(t, err, "run %d: exit status; output:\n%s", i, out.String())
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("run %d: the extension did not exit after SHUTDOWN; output:\n%s", i, out.String())
		}
		assert.True(t, time.Now().Before(deadline.Add(50*time.Millisecond)), "run %d: exited after the SHUTDOWN deadline", i)
		if m := extLogs(out.String(), "slinkerd lambda extension ready"); len(m) == 1 {
			if v, ok := m[0]["startup_ms"].(float64); ok {
				inProcess = append(inProcess, time.Duration(v*float64(time.Millisecond)))
			}
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	t.Logf("extension start over %d runs, median (max): exec→proxy listening and registered %s (%s), exec→first event/next %s (%s); in-process start-up→ready %s (%s)",
		runs, med(toRegister), slices.Max(toRegister), med(toNext), slices.Max(toNext), med(inProcess), slices.Max(inProcess))
	assert.Less(t, med(toNext), 250*time.Millisecond, "median exec→ready")
}

// TestLayerZip runs `make layer` and checks the zip is what Lambda
// expects of an extension layer: extracted into /opt, it must give an
// executable /opt/extensions/slinkerd, a static linux ELF for the layer's
// architecture, and nothing else.
func TestLayerZip(t *testing.T) {
	if testing.Short() {
		t.Skip("links the whole binary")
	}
	makeBin, err := exec.LookPath("make")
	require.NoError(t, err, "make is needed for `make layer`")
	dir := t.TempDir()
	cmd := exec.Command(makeBin, "layer", "LAYER_DIR="+dir, "LAYER_ARCH=amd64")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make layer: %s", out)

	zr, err := zip.OpenReader(filepath.Join(dir, "slinkerd-layer-amd64.zip"))
	require.NoError(t, err)
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"extensions/", "extensions/slinkerd"}, names)
	f, err := zr.Open("extensions/slinkerd")
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	assert.True(t, st.Mode().IsRegular())
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "Lambda runs extensions/slinkerd, so it must be executable")

	// Extract it as Lambda would and check it is a static linux/amd64
	// ELF that runs.
	bin := filepath.Join(dir, "extracted-slinkerd")
	w, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	require.NoError(t, err)
	_, err = io.Copy(w, f)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	ef, err := elf.Open(bin)
	require.NoError(t, err)
	defer ef.Close()
	assert.Equal(t, elf.EM_X86_64, ef.Machine)
	for _, p := range ef.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "static: no ELF interpreter")
	}
	assert.Nil(t, ef.Section(".dynamic"), "static: no dynamic section")
	if runtime.GOARCH == "amd64" {
		v, err := exec.Command(bin, "version").Output()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(v), "slinkerd "), "%q", v)
		assert.Contains(t, string(v), "(-tags slinkerd_noawsconfig)", "the layer reads AWS settings from the environment only")
		assert.Contains(t, string(v), "(-tags slinkerd_nopromproto)", "the layer serves the text exposition only")
		layerCloudMap(t, bin)
	}

	// The lean exposition links neither expfmt nor the protobuf runtime.
	info, err := buildinfo.ReadFile(bin)
	require.NoError(t, err)
	for _, m := range info.Deps {
		assert.NotContains(t, []string{"google.golang.org/protobuf", "github.com/prometheus/common", "github.com/prometheus/client_model"}, m.Path, "the layer links %s", m.Path)
	}
}

// layerCloudMap runs the layer's binary with Cloud Map discovery and the
// credentials a SnapStart function's processes get: a container
// credentials endpoint and its token, no keys in the environment. The
// layer has no shared-config chain (-tags slinkerd_noawsconfig), so this
// is its own reading of the environment, end to end.
func layerCloudMap(t *testing.T, bin string) {
	creds, err := containercreds.Start("127.0.0.1:0", "Bearer snap", containercreds.Credentials{
		AccessKeyID: "ASIASNAP", SecretAccessKey: "secret", Token: "session"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = creds.Close() })
	cm, err := fakecloudmap.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = cm.Close() })
	backend := startIDBackend(t, "a")
	require.NoError(t, cm.RegisterIP("demo", "users", "a", backend.b.Addr, nil))

	p := harness.StartSlinkerd(t, bin, map[string]string{
		"SLINKERD_DTAB":                      "/svc=>/#/io.l5d.cloudmap/demo",
		"AWS_ENDPOINT_URL_SERVICEDISCOVERY":  cm.URL(),
		"AWS_REGION":                         "us-east-1",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.URL(),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  "Bearer snap",
	})
	req, err := http.NewRequest(http.MethodGet, p.URL()+"/", nil)
	require.NoError(t, err)
	req.Host = "users"
	resp, err := newH1Client(t).Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s\n%s", body, p.Logs())
	assert.Equal(t, "a", string(body))
	assert.Equal(t, 1, creds.Fetches(), "credentials from the container endpoint, fetched once")
	assert.Positive(t, cm.TotalCalls())

	// Its /metrics is the text format, whatever the scraper asks for, and
	// Prometheus's own parser reads it.
	req, err = http.NewRequest(http.MethodGet, p.AdminURL()+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3")
	resp, err = newH1Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", resp.Header.Get("Content-Type"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	require.Contains(t, fams, "slinkerd_server_requests_total")
	assert.EqualValues(t, 1, fams["slinkerd_server_requests_total"].GetMetric()[0].GetCounter().GetValue())
	assert.Contains(t, fams, "go_gc_duration_seconds")
}

// TestLambdaExtensionInitError gives the extension a bad configuration
// under the emulator: the extension reports it through init/error, so the
// invocation fails with the reason instead of calling a proxy that is not
// there.
func TestLambdaExtensionInitError(t *testing.T) {
	bootstrap := buildFunction(t, t.TempDir())
	rie := startRIE(t, bootstrap, true, map[string]string{
		"SLINKERD_BALANCER":           "fastest",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "5",
	})
	status, body := rie.invoke(t, `{"service":"hello"}`)
	assert.NotEqual(t, http.StatusOK, status, "the init must fail: %s", body)
	out := rie.Logs()
	// The emulator logs the API calls it gets (--log-level debug) and
	// turns an extension's init/error into the fatal error
	// Extension.InitError; Lambda shows the reported type.
	assert.Contains(t, out, "POST /2020-01-01/extension/init/error")
	assert.Contains(t, out, "Lambda-Extension-Function-Error-Type:[Extension.ConfigInvalid]")
	assert.Contains(t, out, "First fatal error stored in appctx: Extension.InitError")
	failed := extLogs(out, "slinkerd extension init failed")
	require.Len(t, failed, 1)
	assert.Contains(t, failed[0]["err"], `SLINKERD_BALANCER="fastest"`, "the extension logs the bad variable")
	assert.Contains(t, out, "INIT RTDONE(status: error)")
}
