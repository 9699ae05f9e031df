package lambdaext_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/adapters/lambdaext/internal/extapi"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/adapters/lambdaext"
	"github.com/slinkerd/slinkerd/core/config"
)

// managedEnv is what Lambda sets on Managed Instances with a function's
// PerExecutionEnvironmentMaxConcurrency at 64.
var managedEnv = map[string]string{
	"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
	"AWS_LAMBDA_MAX_CONCURRENCY":     "64",
}

// TestExtensionManagedInstances runs the extension as on Lambda Managed
// Instances (the fake API refuses INVOKE registrations, as Lambda does
// there, and sends no INVOKE events) while 64 concurrent invocations call
// one service through the proxy: every request succeeds, and the metrics
// show one client and one retry budget for the service, counting every
// request.
func TestExtensionManagedInstances(t *testing.T) {
	const callers, perCaller = 64, 20

	// Two endpoints behind one name. The first 64 requests are held
	// until all 64 are in flight at once: the invocations really run
	// together through the proxy.
	var inflight atomic.Int64
	all := make(chan struct{})
	var allOnce sync.Once
	var served atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n := served.Add(1); n <= callers {
			if inflight.Add(1) == callers {
				allOnce.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(10 * time.Second):
			}
			inflight.Add(-1)
		}
		_, _ = io.WriteString(w, "ok")
	})
	dir := t.TempDir()
	var lines []string
	for range 2 {
		be := httptest.NewServer(handler)
		t.Cleanup(be.Close)
		lines = append(lines, strings.Replace(strings.TrimPrefix(be.URL, "http://"), ":", " ", 1))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	env := map[string]string{
		"SLINKERD_DTAB":                 "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR":               dir,
		"SLINKERD_LAMBDA_MANAGED_FLUSH": "1s",
	}
	for k, v := range managedEnv {
		env[k] = v
	}
	cfg := loadConfig(t, env)
	api := newFakeAPI(t)
	api.mu.Lock()
	api.managed = true
	api.mu.Unlock()
	logs := &syncBuffer{}
	done, _, metrics := runExtension(t, api, lambdaext.Options{Config: cfg}, logs)
	api.waitNext(t)

	api.mu.Lock()
	assert.Equal(t, map[string][]string{"events": {"SHUTDOWN"}}, api.regBody, "Managed Instances accept SHUTDOWN only")
	api.mu.Unlock()
	ready := findLog(t, logs.String(), "slinkerd lambda extension ready")
	require.NotNil(t, ready)
	assert.Equal(t, true, ready["managed_instances"])
	assert.EqualValues(t, 64, ready["max_concurrency"])
	serving := findLog(t, logs.String(), "slinkerd serving")
	proxyAddr, adminAddr := serving["proxy"].(string), serving["admin"].(string)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	t.Cleanup(client.CloseIdleConnections)
	var wg sync.WaitGroup
	var failed atomic.Int64
	errs := make(chan string, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perCaller {
				req, _ := http.NewRequest(http.MethodGet, "http://"+proxyAddr+"/", nil)
				req.Host = "users"
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					select {
					case errs <- err.Error():
					default:
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					select {
					case errs <- fmt.Sprintf("status %d, l5d-err %q", resp.StatusCode, resp.Header.Get("L5d-Err")):
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var first []string
	for e := range errs {
		first = append(first, e)
	}
	require.Zero(t, failed.Load(), "failed requests, first ones: %v", first)

	// One client, one budget, every request counted in one series.
	series := scrape(t, adminAddr)
	clients := series["slinkerd_client_requests_total"]
	require.Len(t, clients, 1, "one client for the service: %v", clients)
	assert.Equal(t, float64(callers*perCaller), clients[`client="/#/io.l5d.fs/users"`])
	assert.Equal(t, map[string]float64{`service="/svc/users"`: callers * perCaller}, series["slinkerd_service_requests_total"])
	assert.Len(t, series["slinkerd_service_retry_budget_balance"], 1, "one retry budget for the service")
	assert.Len(t, series["slinkerd_service_retry_budget_exhausted_total"], 1)

	// No event marks an invocation's end: the EMF lines come on a timer.
	deadline := time.After(10 * time.Second)
	for !strings.Contains(metrics.String(), `"/svc/users"`) {
		select {
		case <-deadline:
			t.Fatalf("no EMF line for /svc/users within 10s; metrics output: %q", metrics.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
	require.NoError(t, done.wait(t))
}

// scrape reads the admin server's Prometheus text (parsed with expfmt) and returns each
// metric's series, by label set.
func scrape(t *testing.T, adminAddr string) map[string]map[string]float64 {
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

// TestExtensionManagedInstancesInitError checks that a bad configuration
// on Lambda Managed Instances is still reported through init/error with
// its reason: the extension must tell the flavour from the platform's
// variables even without a configuration, or its INVOKE registration is
// refused and the environment fails with nothing but Extension.Crash.
func TestExtensionManagedInstancesInitError(t *testing.T) {
	for k, v := range managedEnv {
		t.Setenv(k, v)
	}
	_, err := config.Load(map[string]string{"SLINKERD_BALANCER": "fastest"})
	require.Error(t, err)
	api := newFakeAPI(t)
	api.mu.Lock()
	api.managed = true
	api.mu.Unlock()
	done, _, _ := runExtension(t, api, lambdaext.Options{ConfigErr: err})
	select {
	case rep := <-api.reported:
		assert.Equal(t, "init/error", rep.Path)
		assert.Equal(t, "Extension.ConfigInvalid", rep.Type)
		assert.Contains(t, rep.Report.ErrorMessage, "SLINKERD_BALANCER")
	case <-done.done:
		t.Fatalf("Run returned without reporting the init error: %v", done.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported to the Extensions API")
	}
	require.Error(t, done.wait(t))
}
