package fs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/fs"
)

// Pull mode: no watcher; a use after the TTL checks the file again, as on
// Lambda. The steps share one namer and file and run in order.
func TestPullRefresh(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	clk := clock.NewFake(t0)
	const ttl = 5 * time.Second
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk, TTL: ttl})
	v := lookupVar(t, n, "/users")
	require.Equal(t, []string{"10.0.0.1:80"}, hosts(v.Peek()))

	// sample uses the Var, waits for any check it started, and returns
	// what the Var then holds.
	sample := func() name.Addr {
		v.Sample()
		waitChanged(t, n.Idle("users"))
		return v.Peek()
	}

	steps := []struct {
		name    string
		write   string // new content; "-" removes the file; "" leaves it
		advance time.Duration
		want    []string // nil: Neg
		lastErr string
	}{
		{name: "fresh data is not checked", write: "10.0.0.22 80\n", advance: ttl - time.Nanosecond, want: []string{"10.0.0.1:80"}},
		{name: "stale data is checked", advance: time.Nanosecond, want: []string{"10.0.0.22:80"}},
		{name: "unchanged file", advance: ttl, want: []string{"10.0.0.22:80"}},
		{name: "malformed update keeps the last good set", write: "10.0.0.3 80\n10.0.0.4 eighty\n", advance: ttl,
			want: []string{"10.0.0.22:80"}, lastErr: filepath.Join(dir, "users") + `:2: invalid port "eighty"`},
		{name: "fixed", write: "10.0.0.3 80\n10.0.0.4 8080 * 2\n", advance: ttl, want: []string{"10.0.0.3:80", "10.0.0.4:8080"}},
		{name: "removed", write: "-", advance: ttl, want: nil},
		{name: "back", write: "10.0.0.5 80\n", advance: ttl, want: []string{"10.0.0.5:80"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			switch s.write {
			case "":
			case "-":
				require.NoError(t, os.Remove(filepath.Join(dir, "users")))
			default:
				writeFile(t, dir, "users", s.write)
			}
			clk.Advance(s.advance)
			a := sample()
			if s.want == nil {
				assert.Equal(t, name.AddrNeg, a.State)
			} else {
				assert.Equal(t, name.AddrBound, a.State)
				assert.Equal(t, s.want, hosts(a))
			}
			st := n.State()
			require.Len(t, st, 1)
			if s.lastErr != "" {
				assert.Contains(t, st[0].LastError, s.lastErr)
			} else {
				assert.Empty(t, st[0].LastError)
			}
		})
	}
}

func TestPullStaleServedWhileRefreshing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	clk := clock.NewFake(t0)
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk})
	v := lookupVar(t, n, "/users")

	writeFile(t, dir, "users", "10.0.0.22 80\n")
	clk.Advance(fs.DefaultTTL)
	ch := v.Changed()
	first := v.Sample() // starts the check; may or may not see its result
	assert.Equal(t, name.AddrBound, first.State)
	waitChanged(t, ch)
	assert.Equal(t, []string{"10.0.0.22:80"}, hosts(v.Peek()))
}

func TestPullRemovalMakesLookupNeg(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	clk := clock.NewFake(t0)
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk})
	v := lookupVar(t, n, "/users")

	require.NoError(t, os.Remove(filepath.Join(dir, "users")))
	clk.Advance(fs.DefaultTTL)
	assert.Equal(t, name.Neg, lookup(t, n, "/users").Kind, "a new lookup after the TTL sees the removal")
	assert.Equal(t, name.AddrNeg, v.Peek().State, "the existing Var goes negative")

	writeFile(t, dir, "users", "10.0.0.2 80\n")
	assert.Same(t, v, lookupVar(t, n, "/users"), "the name keeps its Var")
	assert.Equal(t, []string{"10.0.0.2:80"}, hosts(v.Peek()))
}
