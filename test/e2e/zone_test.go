package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZoneAwareRouting is issue 20's acceptance for zone-aware routing:
// 9 backends, 3 in each of zones a, b and c (the fs namer's zone=), and
// slinkerd in zone a (SLINKERD_ZONE): at least 95% of requests stay in a
// while all are healthy; when a's three backends are stopped mid-run no
// request fails (refused connections are requeued to other endpoints, and
// failure accrual then takes a's endpoints out).
func TestZoneAwareRouting(t *testing.T) {
	zones := []string{"a", "b", "c"}
	var counts [9]atomic.Int64
	srvs := make([]*http.Server, 9)
	var lines []byte
	for i := range srvs {
		ln, b := listenLoopback(t)
		srvs[i] = &http.Server{Handler: counting(&counts[i], 200), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
		go func() { _ = srvs[i].Serve(ln) }()
		srv := srvs[i]
		t.Cleanup(func() { _ = srv.Close() })
		lines = fmt.Appendf(lines, "127.0.0.1 %d zone=%s\n", b.Port, zones[i/3])
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "orders"), lines, 0o644))
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_ZONE": "a",
	})
	client := newH1Client(t)

	// run sends n requests from 4 workers and returns how many failed.
	run := func(n int, after func(i int)) (failed []string) {
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					if after != nil {
						after(i)
					}
					req, _ := http.NewRequest(http.MethodGet, p.URL()+"/", nil)
					req.Host = "orders"
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						if resp.StatusCode != 200 {
							err = fmt.Errorf("status %d, l5d-err %q", resp.StatusCode, resp.Header.Get("l5d-err"))
						}
					}
					if err != nil {
						mu.Lock()
						failed = append(failed, err.Error())
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return failed
	}
	byZone := func() (out [3]int64) {
		for i := range counts {
			out[i/3] += counts[i].Load()
		}
		return out
	}

	const n = 1000
	require.Empty(t, run(n, nil), "no request fails while all are healthy")
	healthy := byZone()
	t.Logf("healthy: a %d, b %d, c %d", healthy[0], healthy[1], healthy[2])
	assert.GreaterOrEqual(t, healthy[0], int64(n*95/100), "≥ 95%% in zone a")

	// Stop a's backends a quarter of the way into the next run.
	var once sync.Once
	failed := run(n, func(i int) {
		if i == n/4 {
			once.Do(func() {
				for _, s := range srvs[:3] {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = s.Shutdown(ctx)
					cancel()
				}
			})
		}
	})
	assert.Empty(t, failed, "no request fails when zone a dies")
	before := byZone()
	require.Empty(t, run(n, nil))
	after := byZone()
	t.Logf("after a died: b %d, c %d", after[1]-before[1], after[2]-before[2])
	assert.Equal(t, before[0], after[0], "nothing reaches zone a")
	assert.Greater(t, after[1]-before[1], int64(n/4), "b takes a share")
	assert.Greater(t, after[2]-before[2], int64(n/4), "c takes a share")
}
