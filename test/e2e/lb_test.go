package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/load"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFSFile atomically replaces one io.l5d.fs file.
func writeFSFile(t *testing.T, dir, name string, bs ...*Backend) {
	t.Helper()
	var data []byte
	for _, b := range bs {
		data = fmt.Appendf(data, "127.0.0.1 %d\n", b.Port)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

// TestEndpointChurnUnderLoad removes and adds endpoints while steady
// open-loop load flows, for every balancer, and checks that no request
// fails, that removed endpoints stop getting new requests, and that
// added ones start getting them.
func TestEndpointChurnUnderLoad(t *testing.T) {
	for _, balancer := range []string{"ewma", "p2c", "roundrobin"} {
		t.Run(balancer, func(t *testing.T) {
			counts := make([]*atomic.Int64, 5)
			bs := make([]*Backend, 5)
			for i := range bs {
				counts[i] = new(atomic.Int64)
				bs[i] = startHTTPBackend(t, counting(counts[i], 200))
			}
			dir := writeFSDir(t, map[string][]*Backend{"churn": bs[:3]})
			p := startSlinkerd(t, map[string]string{
				"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fs", "SLINKERD_BALANCER": balancer,
				"SLINKERD_DISCOVERY_BACKGROUND": "true",
			})
			client := newH1Client(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			// The load flows until the churn below is done (at most a
			// minute): a fixed length could end before a busy machine has
			// seen the changes. Ending it does not cancel requests in flight.
			get := load.HTTPGet(client, p.URL()+"/", "churn")
			done := make(chan []load.Result, 1)
			go func() {
				done <- load.Run(ctx, 300, time.Minute, func(_ context.Context, i int) (int, error) { return get(context.Background(), i) })
			}()

			// Wait until traffic flows to the first set, then churn. (Not
			// to backend 0 in particular: on a busy machine a latency
			// balancer may send it little until an early slow answer has
			// decayed, which says nothing about churn.)
			waitFor(t, 10*time.Second, "traffic reaches the first set", func() bool {
				return counts[0].Load()+counts[1].Load()+counts[2].Load() > 60
			})
			writeFSFile(t, dir, "churn", bs[1], bs[2], bs[3]) // remove 0, add 3
			waitFor(t, 10*time.Second, "traffic reaches added backend 3", func() bool { return counts[3].Load() > 20 })
			removed := counts[0].Load()
			writeFSFile(t, dir, "churn", bs[2], bs[3], bs[4]) // remove 1, add 4
			waitFor(t, 10*time.Second, "traffic reaches added backend 4", func() bool { return counts[4].Load() > 20 })
			removed1 := counts[1].Load()
			cancel()

			rs := <-done
			sum := load.Summarize(rs, 0)
			t.Logf("%s: %d requests, %d ok; per backend %d %d %d %d %d", balancer, sum.Count, sum.OK,
				counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load(), counts[4].Load())
			assert.Equal(t, sum.Count, sum.OK, "no request lost: %v", sum.Errors)
			// Removed endpoints get nothing new once the change was seen (a
			// few requests may have been picked just before).
			assert.LessOrEqual(t, counts[0].Load()-removed, int64(5), "backend 0 after removal")
			assert.LessOrEqual(t, counts[1].Load()-removed1, int64(5), "backend 1 after removal")
		})
	}
}
