package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/internal/harness"
)

// startManagedRIE runs the emulator as Lambda Managed Instances: the
// emulator switches to its Managed Instances mode when
// AWS_LAMBDA_MAX_CONCURRENCY is set, starts that many runtime workers
// (aws-lambda-go runs one goroutine per worker) and lets external
// extensions register for SHUTDOWN only. In that mode it takes the
// function from /opt/bootstrap and runs it in /var/task, so the private
// mount namespace also gets a tmpfs over /var.
func startManagedRIE(t *testing.T, maxConcurrency int, env map[string]string) *rieProc {
	t.Helper()
	rie := requireRIE(t)
	opt := filepath.Join(t.TempDir(), "opt")
	require.NoError(t, os.MkdirAll(filepath.Join(opt, "extensions"), 0o755))
	copyFile(t, slinkerdBin, filepath.Join(opt, "extensions", "slinkerd"), 0o755)
	buildFunction(t, opt) // opt/bootstrap
	invokeAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))

	vars := map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": strconv.Itoa(maxConcurrency)}
	for k, v := range env {
		vars[k] = v
	}
	script := `mount --bind "$1" /opt && mount -t tmpfs tmpfs /var && mkdir /var/task && exec "$2" --log-level debug --runtime-interface-emulator-address "$3" --runtime-api-address "$4"`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh", opt, rie, invokeAddr, apiAddr)
	cmd.Env = harness.Environ(vars)
	return runRIE(t, cmd, invokeAddr)
}

// TestLambdaManagedInstances runs the example function with slinkerd as
// its extension under the emulator's Managed Instances mode, 64
// invocations at once in one execution environment, each calling one
// service through the extension: every invocation succeeds, the first 64
// calls are in the proxy together, and the metrics show one client and
// one retry budget for the service, counting every call, in Prometheus
// and in the EMF lines that the extension writes on a timer.
func TestLambdaManagedInstances(t *testing.T) {
	const concurrency, rounds = 64, 3

	// Two endpoints behind one name (the fs namer); the first 64 calls
	// are held until all 64 are in flight.
	var inflight, served atomic.Int64
	all := make(chan struct{})
	var allOnce sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if served.Add(1) <= concurrency {
			if inflight.Add(1) == concurrency {
				allOnce.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(20 * time.Second):
			}
		}
		_, _ = fmt.Fprint(w, "ok")
	})
	b1, b2 := startHTTPBackend(t, h), startHTTPBackend(t, h)
	// The extension the emulator starts in this mode cannot read a 0700
	// directory, even as root.
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"),
		fmt.Appendf(nil, "127.0.0.1 %d\n127.0.0.1 %d\n", b1.Port, b2.Port), 0o644))

	adminAddr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	rie := startManagedRIE(t, concurrency, map[string]string{
		"SLINKERD_LISTEN":               fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_ADMIN_LISTEN":         adminAddr,
		"SLINKERD_DTAB":                 "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR":               dir,
		"SLINKERD_LAMBDA_MANAGED_FLUSH": "1s",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":   "30",
	})

	ready := waitLog(t, rie.Proc, "slinkerd lambda extension ready", 1)
	assert.Equal(t, true, ready[0]["managed_instances"])
	assert.EqualValues(t, concurrency, ready[0]["max_concurrency"])
	assert.Contains(t, rie.Logs(), "events=[SHUTDOWN]", "the emulator registered the extension for SHUTDOWN only")

	// A worker asks for its next invocation when it starts and after each
	// answer; the emulator refuses an invocation when no worker is idle
	// (Runtime.Unavailable), so each round waits for all of them.
	nexts := func() int { return strings.Count(rie.Logs(), "url=/2018-06-01/runtime/invocation/next") }
	for round := range rounds {
		waitFor(t, 30*time.Second, fmt.Sprintf("%d runtime workers idle", concurrency), func() bool {
			return nexts() >= concurrency*(round+1)
		})
		var wg sync.WaitGroup
		failures := make(chan string, concurrency)
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, body := rie.invoke(t, `{"service":"users","path":"/"}`)
				var fr functionResponse
				if status != http.StatusOK || json.Unmarshal(body, &fr) != nil || fr.Status != http.StatusOK {
					failures <- fmt.Sprintf("emulator %d: %s", status, body)
				}
			}()
		}
		wg.Wait()
		close(failures)
		for f := range failures {
			t.Errorf("round %d: failed invocation: %s", round, f)
		}
		if round == 0 {
			select {
			case <-all:
			default:
				t.Errorf("the first %d calls were never in the proxy at once (at most %d)", concurrency, inflight.Load())
			}
		}
	}
	want := float64(concurrency * rounds)

	series := scrapeMetrics(t, adminAddr)
	assert.Equal(t, map[string]float64{`client="/#/io.l5d.fs/users"`: want}, series["slinkerd_client_requests_total"], "one client")
	assert.Equal(t, map[string]float64{`service="/svc/users"`: want}, series["slinkerd_service_requests_total"])
	assert.Len(t, series["slinkerd_service_retry_budget_balance"], 1, "one retry budget")
	assert.Equal(t, map[string]float64{`service="/svc/users"`: 0}, series["slinkerd_service_retry_budget_exhausted_total"])

	// The EMF lines come on the extension's timer, as no event marks the
	// end of an invocation there.
	waitFor(t, 15*time.Second, "EMF lines counting every call", func() bool {
		return emfRequests(rie.Logs(), "/svc/users") == want
	})
}

// emfRequests sums the Requests of the EMF lines for service in out.
func emfRequests(out, service string) float64 {
	var n float64
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"_aws"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["Service"] != service {
			continue
		}
		if v, ok := m["Requests"].(float64); ok {
			n += v
		}
	}
	return n
}

// scrapeMetrics reads the admin server's Prometheus text (parsed with expfmt) and returns
// each metric's series, by label set.
func scrapeMetrics(t *testing.T, adminAddr string) map[string]map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "parse /metrics")
	out := map[string]map[string]float64{}
	for name, mf := range fams {
		out[name] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			out[name][strings.Join(labels, ",")] = v
		}
	}
	return out
}
