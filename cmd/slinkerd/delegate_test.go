package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDelegateExitsNonZeroWithoutEndpoints: `slinkerd delegate` succeeds
// only when the name has endpoints to send to, as the proxy does; for a
// name bound to no endpoints, or whose namer failed, it exits 1 and says
// why on stderr, naming the bound name and the namer's error (defect 10
// of issue 14: it printed "result: bound" and exited 0).
func TestDelegateExitsNonZeroWithoutEndpoints(t *testing.T) {
	dir := t.TempDir()
	for nm, content := range map[string]string{
		"ok":    "127.0.0.1 8080\n",
		"empty": "",
		"bad":   "not a host line at all\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, nm), []byte(content), 0o644))
	}
	environ := []string{"SLINKERD_FS_DIR=" + dir, "SLINKERD_DTAB=/svc=>/#/io.l5d.fs"}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     []string
		stderrNone bool
	}{
		{name: "bound to endpoints", args: []string{"--text", "/svc/ok"}, code: exitOK,
			stdout: "result: bound", stderrNone: true},
		{name: "empty file", args: []string{"--text", "/svc/empty"}, code: exitNegative,
			stdout: "result: empty", stderr: []string{"/svc/empty", "no endpoints", "/#/io.l5d.fs/empty"}},
		{name: "malformed file", args: []string{"--text", "/svc/bad"}, code: exitNegative,
			stdout: "result: empty", stderr: []string{"/svc/bad", "/#/io.l5d.fs/bad", "failed", "fs: "}},
		{name: "malformed file, JSON", args: []string{"/svc/bad"}, code: exitNegative,
			stdout: `"result": "empty"`, stderr: []string{"/#/io.l5d.fs/bad", "fs: "}},
		{name: "missing file", args: []string{"--text", "/svc/missing"}, code: exitNegative,
			stdout: "result: neg", stderr: []string{"/svc/missing", "negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"delegate"}, tt.args...), environ, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			for _, want := range tt.stderr {
				assert.Contains(t, stderr.String(), want)
			}
			if tt.stderrNone {
				assert.Empty(t, stderr.String())
			}
		})
	}
}
