package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// `slinkerd dtab check` parses a candidate, shows which paths bind
// differently from SLINKERD_DTAB + the current source, and exits 2 on a
// parse error, 1 when a path that binds now would be negative.
func TestDtabCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(nm, content string) string {
		p := filepath.Join(dir, nm)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	current := write("current", "/svc/users=>/$/inet/127.0.0.1/8080")
	moved := write("moved", "/svc/users=>/$/inet/127.0.0.1/9090")
	split := write("split", "/svc/users=>9*/$/inet/127.0.0.1/8080 & 1*/$/inet/127.0.0.1/9090")
	broken := write("broken", "/svc/users=>>/x")
	negates := write("negates", "/svc/users=>~")
	// A running slinkerd's admin server, whose metrics name the services
	// it has served.
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/metrics.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"services":[{"service":"/svc/users/v2"},{"service":"other"}]}`)
	}))
	defer admin.Close()
	environ := []string{"SLINKERD_DTAB=/svc/web=>/$/inet/127.0.0.1/80", "SLINKERD_DTAB_SOURCE=file:" + current}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{name: "same", args: []string{"--source", "file:" + current}, code: exitOK,
			stdout: []string{"same     /svc/users: /$/inet/127.0.0.1/8080 -> /$/inet/127.0.0.1/8080", "same     /svc/web"}},
		{name: "moved", args: []string{"--source", "file:" + moved}, code: exitOK,
			stdout: []string{"changed  /svc/users: /$/inet/127.0.0.1/8080 -> /$/inet/127.0.0.1/9090"}},
		{name: "10% split", args: []string{"--source", "file:" + split, "--paths", "/svc/users/x"}, code: exitOK,
			stdout: []string{"changed  /svc/users/x: /$/inet/127.0.0.1/8080/x -> 0.10*/$/inet/127.0.0.1/9090/x & 0.90*/$/inet/127.0.0.1/8080/x"}},
		{name: "does not parse", args: []string{"--source", "file:" + broken}, code: exitUsage, stderr: "broken"},
		{name: "makes a bound path negative", args: []string{"--source", "file:" + negates}, code: exitNegative,
			stdout: []string{"BREAKS   /svc/users: /$/inet/127.0.0.1/8080 -> neg"}, stderr: "makes 1 path(s) negative"},
		{name: "unreachable candidate", args: []string{"--source", "file:" + filepath.Join(dir, "nosuch")}, code: exitUsage, stderr: "nosuch"},
		{name: "no source", args: nil, code: exitUsage, stderr: "usage"},
		{name: "names a running slinkerd served", args: []string{"--source", "file:" + negates, "--admin", admin.URL}, code: exitNegative,
			stdout: []string{"BREAKS   /svc/users/v2: /$/inet/127.0.0.1/8080/v2 -> neg"}, stderr: "makes 1 path(s) negative"},
		{name: "admin unreachable", args: []string{"--source", "file:" + current, "--admin", admin.URL + "/nope"}, code: exitUsage, stderr: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"dtab", "check"}, tt.args...), environ, &stdout, &stderr)
			require.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			for _, s := range tt.stdout {
				require.Contains(t, stdout.String(), s)
			}
			require.Contains(t, stderr.String(), tt.stderr)
		})
	}
}
