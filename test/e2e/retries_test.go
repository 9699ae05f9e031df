package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/load"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counting returns a handler that counts its calls and answers status
// (200 with "ok" when status is 200).
func counting(n *atomic.Int64, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		if status == 200 {
			_, _ = io.WriteString(w, "ok")
		}
	})
}

func openLoop(t *testing.T, client *http.Client, url, host string, rate float64, d time.Duration) load.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	rs := load.Run(ctx, rate, d, load.HTTPGet(client, url, host))
	return load.Summarize(rs, 0)
}

// TestRetryOneBadEndpointOfThree: one of three endpoints answers 503 to
// every GET. With retryableRead5XX the caller sees ≥ 99.9% success, and
// the backends see at most 1.2 × requests + 10/s × duration attempts.
func TestRetryOneBadEndpointOfThree(t *testing.T) {
	for _, balancer := range []string{"ewma", "roundrobin"} {
		t.Run(balancer, func(t *testing.T) {
			var good1, good2, bad atomic.Int64
			b1 := startHTTPBackend(t, counting(&good1, 200))
			b2 := startHTTPBackend(t, counting(&good2, 200))
			b3 := startHTTPBackend(t, counting(&bad, 503))
			dir := writeFSDir(t, map[string][]*Backend{"pool": {b1, b2, b3}})
			p := startSlinkerd(t, map[string]string{
				"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_CLASSIFIER": "retryableRead5XX",
				"SLINKERD_BALANCER": balancer,
				// Probe the bad endpoint often, so that retries keep happening.
				"SLINKERD_ACCRUAL_BACKOFF_MIN": "100ms", "SLINKERD_ACCRUAL_BACKOFF_MAX": "200ms",
			})
			const rate, d = 200.0, 4 * time.Second
			sum := openLoop(t, newH1Client(t), p.URL()+"/", "pool", rate, d)
			attempts := good1.Load() + good2.Load() + bad.Load()
			success := float64(sum.OK) / float64(sum.Count)
			bound := 1.2*float64(sum.Count) + 10*d.Seconds()
			t.Logf("%s: requests %d, success %.3f%%, backend attempts %d (bound %.0f; the 503 endpoint saw %d)", balancer, sum.Count, 100*success, attempts, bound, bad.Load())
			assert.GreaterOrEqual(t, success, 0.999, "errors: %v", sum.Errors)
			assert.LessOrEqual(t, float64(attempts), bound)
			assert.Greater(t, bad.Load(), int64(0), "the bad endpoint was tried")
		})
	}
}

// TestRetryBudgetStopsStorm: every endpoint answers 503; retries stop at
// the budget (10/s reserve over the 10 s window plus 20% of requests).
func TestRetryBudgetStopsStorm(t *testing.T) {
	var n atomic.Int64
	b1 := startHTTPBackend(t, counting(&n, 503))
	b2 := startHTTPBackend(t, counting(&n, 503))
	dir := writeFSDir(t, map[string][]*Backend{"down": {b1, b2}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_CLASSIFIER": "retryableRead5XX",
		"SLINKERD_RETRY_BACKOFF_MIN": "0s", "SLINKERD_RETRY_BACKOFF_MAX": "0s",
	})
	const rate, d = 100.0, 3 * time.Second
	sum := openLoop(t, newH1Client(t), p.URL()+"/", "down", rate, d)
	attempts := n.Load()
	retries := attempts - int64(sum.Count)
	// Budget: minRetriesPerSec × ttl = 100 plus 20% of the requests.
	budget := 100 + 0.2*float64(sum.Count)
	t.Logf("requests %d, backend attempts %d, retries %d (budget allows %.0f); without a budget up to 25 attempts per request", sum.Count, attempts, retries, budget)
	assert.Equal(t, 0, sum.OK, "every response is a 503")
	assert.LessOrEqual(t, float64(retries), budget+1)
	assert.Greater(t, retries, int64(0), "some retries were made")
}

// TestRequeuePOSTToRefusedEndpoint: a POST to an endpoint that refuses
// connections is requeued and succeeds on another; a POST answered 503
// is not retried under retryableRead5XX.
func TestRequeuePOSTToRefusedEndpoint(t *testing.T) {
	var ok atomic.Int64
	live := startHTTPBackend(t, counting(&ok, 200))
	dead := &Backend{Port: closedPort(t)}
	var n503 atomic.Int64
	failing := startHTTPBackend(t, counting(&n503, 503))
	dir := writeFSDir(t, map[string][]*Backend{"mixed": {dead, live}, "failing": {failing}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_CLASSIFIER": "retryableRead5XX",
	})
	client := newH1Client(t)
	post := func(host string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader("payload"))
		require.NoError(t, err)
		req.Host = host
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 40; i++ {
		resp := post("mixed")
		require.Equal(t, 200, resp.StatusCode, "POST %d: l5d-err %q", i, resp.Header.Get("l5d-err"))
	}
	assert.Equal(t, int64(40), ok.Load())

	for i := 0; i < 10; i++ {
		resp := post("failing")
		assert.Equal(t, 503, resp.StatusCode)
	}
	assert.Equal(t, int64(10), n503.Load(), "a POST answered 503 is never retried under retryableRead5XX")
}

// TestAttemptTimeoutRetriesHungBackend: a backend that hangs is cut off
// by the per-attempt timeout and the retry reaches a healthy endpoint
// within the total timeout.
func TestAttemptTimeoutRetriesHungBackend(t *testing.T) {
	var hung, ok atomic.Int64
	hang := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		<-r.Context().Done()
	}))
	healthy := startHTTPBackend(t, counting(&ok, 200))
	dir := writeFSDir(t, map[string][]*Backend{"h": {hang, healthy}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_CLASSIFIER": "retryableRead5XX",
		"SLINKERD_TIMEOUT_ATTEMPT": "200ms", "SLINKERD_TIMEOUT_TOTAL": "2s", "SLINKERD_BALANCER": "roundrobin",
	})
	client := newH1Client(t)
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest(http.MethodGet, p.URL()+"/", nil)
		req.Host = "h"
		start := time.Now()
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Less(t, time.Since(start), 2*time.Second, "within the total timeout")
	}
	assert.Greater(t, hung.Load(), int64(0), "the hung backend was tried")
	assert.Equal(t, int64(10), ok.Load())
}

// TestTotalTimeoutPropagates: a 300 ms total timeout reaches the backend
// as l5d-ctx-deadline and grpc-timeout of at most 300 ms; a stricter
// incoming deadline wins; an expired one is refused at once with 504.
func TestTotalTimeoutPropagates(t *testing.T) {
	headers := make(chan http.Header, 4)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
	}))
	hung := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB": inetDtab("s", be.Port) + ";" + inetDtab("hung", hung.Port), "SLINKERD_TIMEOUT_TOTAL": "300ms",
	})
	client := newH1Client(t)
	do := func(host string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, p.URL()+"/", nil)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	budget := func(h http.Header) (time.Duration, time.Duration) {
		f := strings.Fields(h.Get("l5d-ctx-deadline"))
		require.Len(t, f, 2, "l5d-ctx-deadline %q", h.Get("l5d-ctx-deadline"))
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		end, err2 := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err1)
		require.NoError(t, err2)
		to := h.Get("grpc-timeout")
		require.NotEmpty(t, to)
		n, err := strconv.ParseInt(to[:len(to)-1], 10, 64)
		require.NoError(t, err)
		unit := map[byte]time.Duration{'n': time.Nanosecond, 'u': time.Microsecond, 'm': time.Millisecond, 'S': time.Second, 'M': time.Minute, 'H': time.Hour}[to[len(to)-1]]
		require.NotZero(t, unit, "grpc-timeout unit in %q", to)
		return time.Duration(end - start), time.Duration(n) * unit
	}

	require.Equal(t, 200, do("s", nil).StatusCode)
	ctxBudget, grpcBudget := budget(recv(t, headers, 5*time.Second, "backend request"))
	t.Logf("l5d-ctx-deadline budget %s, grpc-timeout %s", ctxBudget, grpcBudget)
	assert.LessOrEqual(t, ctxBudget, 300*time.Millisecond)
	assert.Greater(t, ctxBudget, 200*time.Millisecond)
	assert.LessOrEqual(t, grpcBudget, 300*time.Millisecond)
	assert.Greater(t, grpcBudget, 200*time.Millisecond)

	now := time.Now()
	strict := fmt.Sprintf("%d %d", now.UnixNano(), now.Add(100*time.Millisecond).UnixNano())
	require.Equal(t, 200, do("s", map[string]string{"l5d-ctx-deadline": strict}).StatusCode)
	ctxBudget, _ = budget(recv(t, headers, 5*time.Second, "backend request"))
	assert.LessOrEqual(t, ctxBudget, 100*time.Millisecond, "the caller's stricter deadline wins")

	expired := fmt.Sprintf("%d %d", now.Add(-time.Second).UnixNano(), now.Add(-time.Millisecond).UnixNano())
	resp := do("s", map[string]string{"l5d-ctx-deadline": expired})
	assert.Equal(t, 504, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("l5d-err"))
	select {
	case <-headers:
		t.Fatal("an expired request reached the backend")
	default:
	}

	start := time.Now()
	resp = do("hung", nil)
	assert.Equal(t, 504, resp.StatusCode, "a hung backend times out at the total timeout")
	assert.Contains(t, resp.Header.Get("l5d-err"), "timed out")
	assert.Less(t, time.Since(start), 2*time.Second)
}

// TestStreamingUploadNotBufferedWithRetries: with retries enabled, a
// 1 GiB streaming upload passes through without being buffered.
func TestStreamingUploadNotBufferedWithRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload")
	}
	var got atomic.Int64
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
	}))
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB": inetDtab("up", be.Port), "SLINKERD_CLASSIFIER": "retryableAll5XX", "SLINKERD_TIMEOUT_ATTEMPT": "30s",
	})
	const size = 1 << 30
	req, _ := http.NewRequest(http.MethodPost, p.URL()+"/", io.LimitReader(zeros{}, size))
	req.Host = "up"
	resp, err := newH1Client(t).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(size), got.Load())
	_, peak, err := procMemory(p.PID())
	require.NoError(t, err)
	t.Logf("1 GiB upload with retries on: proxy peak RSS %d MB", peak>>20)
	assert.Less(t, peak, uint64(50<<20))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
