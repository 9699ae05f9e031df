package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/test/internal/harness"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionIsStamped: a binary built by make from a git checkout says
// which build it is, not "dev", and says the same in `slinkerd version`,
// the start-up log line and /admin/metrics.json (issue 15).
func TestVersionIsStamped(t *testing.T) {
	t.Parallel()
	git := exec.Command("git", "rev-parse", "--git-dir")
	git.Dir = repoRoot
	if err := git.Run(); err != nil {
		t.Skip("not a git checkout: make stamps no version")
	}
	bin := filepath.Join(repoRoot, "bin", "slinkerd") // make test builds it first
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/slinkerd is not built: run make build")
	}
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	fields := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(fields), 2, "%q", out)
	v := fields[1]
	assert.NotEqual(t, "dev", v, "make build stamps the checkout's version")

	p := harness.StartSlinkerd(t, bin, map[string]string{"SLINKERD_DRAIN_TIMEOUT": "5s"})
	assert.Contains(t, p.Logs(), `"version":"`+v+`"`, "the start-up line names the version")
	resp, err := http.Get(p.AdminURL() + "/admin/metrics.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var m struct {
		Process struct {
			Version string `json:"version"`
		} `json:"process"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	assert.Equal(t, v, m.Process.Version)

	// /config.json names the build that runs the configuration.
	var cfg map[string]any
	getJSON(t, p.AdminURL()+"/config.json", &cfg)
	assert.Equal(t, v, cfg["version"], "/config.json")
	assert.Contains(t, cfg, "SLINKERD_DTAB", "/config.json still lists the variables")

	// The Prometheus exposition's build_info metric carries it as a label.
	resp2, err := http.Get(p.AdminURL() + "/metrics")
	require.NoError(t, err)
	defer resp2.Body.Close()
	prom, err := io.ReadAll(resp2.Body)
	require.NoError(t, err)
	assert.Contains(t, string(prom), `slinkerd_build_info{goversion="`+runtime.Version()+`",version="`+v+`"} 1`)
}
