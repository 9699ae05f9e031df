package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/h2spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestH2spec runs the h2spec HTTP/2 conformance suite against Go's own h2c
// server and against slinkerd in front of such a server. Issue 3: slinkerd
// may fail only the cases that Go's server fails too.
func TestH2spec(t *testing.T) {
	bin, ok := toolPath("h2spec")
	if !ok {
		t.Skip("h2spec is not installed in .tools/: run `make tools`")
	}
	t.Parallel()
	ok200 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	bare := startH2CBackend(t, ok200)
	behind := startH2CBackend(t, ok200)
	// h2spec's :authority is 127.0.0.1:<port>: every /svc name goes to the
	// backend.
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc=>/$/inet/127.0.0.1/%d", behind.Port)})
	_, slinkerdPort, err := splitPort(p.ProxyAddr)
	require.NoError(t, err)

	// The two runs mostly wait on h2spec's per-case timeouts: run them
	// side by side.
	dir := t.TempDir()
	type run struct {
		res h2spec.Result
		err error
	}
	goRun := make(chan run, 1)
	go func() {
		res, err := h2spec.Run(bin, dir, bare.Port)
		goRun <- run{res, err}
	}()
	slRes, err := h2spec.Run(bin, dir, slinkerdPort)
	require.NoError(t, err, "h2spec against slinkerd")
	gr := recv(t, goRun, 5*time.Minute, "h2spec against Go's h2c server")
	require.NoError(t, gr.err, "h2spec against Go's h2c server")
	goR := gr.res

	// "Passed" as issue 3 counts it (Go: 140 of 145): every case not
	// failed; h2spec's own summary reports skipped cases apart.
	t.Logf("h2spec: slinkerd passed %d of %d; Go's h2c server passed %d of %d", slRes.Total-len(slRes.Failed), slRes.Total, goR.Total-len(goR.Failed), goR.Total)
	t.Logf("h2spec summaries: slinkerd %d passed, %d skipped, %d failed; Go %d passed, %d skipped, %d failed",
		slRes.Passed, slRes.Skipped, len(slRes.Failed), goR.Passed, goR.Skipped, len(goR.Failed))
	t.Logf("h2spec: Go's h2c server fails:\n%s", goR)
	t.Logf("h2spec: slinkerd fails:\n%s", slRes)
	var extra, sections []string
	for _, id := range slRes.Failed {
		if !slices.Contains(goR.Failed, id) {
			extra = append(extra, id)
			if sec := id[:strings.LastIndexByte(id, '/')]; !slices.Contains(sections, sec) {
				sections = append(sections, sec)
			}
		}
	}
	if len(extra) > 0 {
		// A case can time out on a busy machine: run the sections of the
		// extra failures again and keep only the failures that repeat.
		again, err := h2spec.Run(bin, dir, slinkerdPort, sections...)
		require.NoError(t, err, "h2spec again against slinkerd")
		var repeated []string
		for _, id := range extra {
			if slices.Contains(again.Failed, id) {
				repeated = append(repeated, id+" "+slRes.Desc[id])
			} else {
				t.Logf("h2spec: %s %s failed once against slinkerd, then passed", id, slRes.Desc[id])
			}
		}
		assert.Empty(t, repeated, "h2spec cases slinkerd fails (twice) but Go's own h2c server passes")
	}
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port in %q", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	return addr[:i], port, err
}
