package fs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/fs"
)

// Push mode: the watcher updates Vars without any use. The TTL is long so
// that only the watcher can explain a change; there is no empty grace, so
// that an emptied file shows at once (grace_test.go covers the grace).
func newWatching(t *testing.T, dir string) (*fs.Namer, *logSink) {
	t.Helper()
	logs := newLogSink()
	n := newNamer(t, fs.Config{Dir: dir, Watch: true, TTL: time.Hour, EmptyGrace: -1, Logger: newLogger(logs)})
	return n, logs
}

func TestWatchPushesUpdates(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, dir, nm, content string)
	}{
		{name: "in place", write: writeFile},
		{name: "atomic rename", write: replaceFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "users", "10.0.0.1 80\n")
			n, _ := newWatching(t, dir)
			v := lookupVar(t, n, "/users")

			tt.write(t, dir, "users", "10.0.0.1 80\n10.0.0.2 80\n")
			waitFor(t, v, boundTo("10.0.0.1:80", "10.0.0.2:80"))

			tt.write(t, dir, "users", "")
			waitFor(t, v, boundTo())
		})
	}
}

func TestWatchMalformedKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	n, logs := newWatching(t, dir)
	v := lookupVar(t, n, "/users")
	good := v.Peek()

	replaceFile(t, dir, "users", "10.0.0.1 80\n10.0.0.2 80 * zero\n")
	r := logs.waitWarn(t)
	assert.Contains(t, r.Message, "keeping the last good addresses")
	assert.Equal(t, good, v.Peek())
	st := n.State()
	require.Len(t, st, 1)
	assert.Contains(t, st[0].LastError, filepath.Join(dir, "users")+`:2: invalid weight "zero"`)

	replaceFile(t, dir, "users", "10.0.0.3 80\n")
	waitFor(t, v, boundTo("10.0.0.3:80"))
	assert.Empty(t, n.State()[0].LastError)
}

func TestWatchRemoval(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	n, _ := newWatching(t, dir)
	v := lookupVar(t, n, "/users")

	require.NoError(t, os.Remove(filepath.Join(dir, "users")))
	waitFor(t, v, func(a name.Addr) bool { return a.State == name.AddrNeg })
	assert.Equal(t, name.Neg, lookup(t, n, "/users").Kind)

	writeFile(t, dir, "users", "10.0.0.2 80\n")
	waitFor(t, v, boundTo("10.0.0.2:80"))
	assert.Same(t, v, lookupVar(t, n, "/users"))
}

func TestWatchSymlinkSwap(t *testing.T) {
	// Kubernetes volumes: users -> ..data/users, and ..data is a symlink
	// swapped by rename to a new timestamped directory.
	dir := t.TempDir()
	mkVersion := func(ver, content string) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, ver), 0o755))
		writeFile(t, filepath.Join(dir, ver), "users", content)
	}
	mkVersion("..v1", "10.0.0.1 80\n")
	require.NoError(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "users"), filepath.Join(dir, "users")))
	n, _ := newWatching(t, dir)
	v := lookupVar(t, n, "/users")
	require.Equal(t, []string{"10.0.0.1:80"}, hosts(v.Peek()))

	mkVersion("..v2", "10.0.0.2 80\n")
	require.NoError(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	waitFor(t, v, boundTo("10.0.0.2:80"))
}
