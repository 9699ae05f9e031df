package e2e

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWeightedUnionRoutesAroundEmptyBranch: with the dtab
// `/svc=>0.5*/#/io.l5d.fs/a & 0.5*/#/io.l5d.fs/empty` and the file
// `empty` present but empty, every request reaches a's backend, as
// Finagle's TrafficDistributor routes around empty branches (defect 8 of
// issue 14: 56 of 100 requests got 502).
func TestWeightedUnionRoutesAroundEmptyBranch(t *testing.T) {
	var hits atomic.Int64
	be := startHTTPBackend(t, counting(&hits, http.StatusOK))
	dir := writeFSDir(t, map[string][]*Backend{"a": {be}, "empty": nil})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir,
		"SLINKERD_DTAB":   "/svc=>0.5*/#/io.l5d.fs/a & 0.5*/#/io.l5d.fs/empty",
	})
	client := newH1Client(t)
	statuses := map[int]int{}
	for range 100 {
		req, err := http.NewRequest(http.MethodGet, p.URL()+"/", nil)
		require.NoError(t, err)
		req.Host = "anything"
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		statuses[resp.StatusCode]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 100}, statuses)
	assert.Equal(t, int64(100), hits.Load())
}
