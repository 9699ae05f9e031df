package fs_test

import (
	"context"
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

func TestNewValidatesConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "file", "")
	tests := []struct {
		name string
		cfg  fs.Config
		want string
	}{
		{name: "no dir", cfg: fs.Config{}, want: "Config.Dir is empty"},
		{name: "missing dir", cfg: fs.Config{Dir: filepath.Join(dir, "nope")}, want: "no such file or directory"},
		{name: "not a dir", cfg: fs.Config{Dir: filepath.Join(dir, "file")}, want: "not a directory"},
		{name: "negative ttl", cfg: fs.Config{Dir: dir, TTL: -time.Second}, want: "Config.TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := fs.New(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, n)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "fs: ")
		})
	}
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "# users\n10.0.0.1 8080\n10.0.0.2 8080 * 0.5\n")
	writeFile(t, dir, "empty", "")
	writeFile(t, dir, "comments", "# nothing here yet\n\n")
	writeFile(t, dir, "broken", "10.0.0.1 8080\n10.0.0.2\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o755))
	n := newNamer(t, fs.Config{Dir: dir})

	tests := []struct {
		name     string
		path     string
		kind     name.Kind
		id       string
		residual string
		state    name.AddrState
		hosts    []string
		err      string // in Addr.Err
	}{
		{name: "present", path: "/users", kind: name.Leaf, id: "/#/io.l5d.fs/users", residual: "/",
			state: name.AddrBound, hosts: []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{name: "residual", path: "/users/v1/list", kind: name.Leaf, id: "/#/io.l5d.fs/users", residual: "/v1/list",
			state: name.AddrBound, hosts: []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{name: "missing", path: "/orders", kind: name.Neg},
		{name: "missing with residual", path: "/orders/v1", kind: name.Neg},
		{name: "empty file", path: "/empty", kind: name.Leaf, id: "/#/io.l5d.fs/empty", residual: "/",
			state: name.AddrBound, hosts: []string{}},
		{name: "only comments", path: "/comments", kind: name.Leaf, id: "/#/io.l5d.fs/comments", residual: "/",
			state: name.AddrBound, hosts: []string{}},
		{name: "malformed from the start", path: "/broken", kind: name.Leaf, id: "/#/io.l5d.fs/broken", residual: "/",
			state: name.AddrFailed, hosts: []string{}, err: filepath.Join(dir, "broken") + `:2: expected "host port"`},
		{name: "directory", path: "/subdir", kind: name.Leaf, id: "/#/io.l5d.fs/subdir", residual: "/",
			state: name.AddrFailed, hosts: []string{}, err: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := lookup(t, n, tt.path)
			require.Equal(t, tt.kind, tree.Kind)
			if tt.kind != name.Leaf {
				return
			}
			b := tree.Value
			assert.Equal(t, tt.id, b.ID.String())
			assert.Equal(t, tt.residual, b.Residual.String())
			a := b.Addr.Sample()
			assert.Equal(t, tt.state, a.State)
			assert.Equal(t, tt.hosts, hosts(a))
			if tt.err != "" {
				require.Error(t, a.Err)
				assert.Contains(t, a.Err.Error(), tt.err)
			} else {
				assert.NoError(t, a.Err)
			}
		})
	}
}

func TestLookupWeights(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80 * 0.9\n10.0.0.2 80\n")
	n := newNamer(t, fs.Config{Dir: dir})
	a := lookupVar(t, n, "/users").Peek()
	require.Len(t, a.Addresses, 2)
	assert.Equal(t, 0.9, a.Addresses[0].EffectiveWeight())
	assert.Equal(t, 1.0, a.Addresses[1].EffectiveWeight())
}

func TestLookupInvalidNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, ".hidden", "10.0.0.1 80")
	n := newNamer(t, fs.Config{Dir: dir})
	tests := []struct {
		name string
		path name.Path
		want string
	}{
		{name: "no name", path: nil, want: "missing /<name>"},
		{name: "empty", path: name.Path{""}, want: "empty"},
		{name: "dot", path: name.Path{"."}, want: `starts with "."`},
		{name: "dot dot", path: name.Path{".."}, want: `starts with "."`},
		{name: "dot dot with residual", path: name.Path{"..", "etc", "passwd"}, want: `starts with "."`},
		{name: "hidden", path: name.Path{".hidden"}, want: `starts with "."`},
		{name: "escaped slash", path: name.Path{"a/b"}, want: "path separator"},
		{name: "backslash", path: name.Path{`a\b`}, want: "path separator"},
		{name: "nul", path: name.Path{"a\x00"}, want: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := n.Lookup(context.Background(), tt.path)
			require.ErrorIs(t, err, fs.ErrInvalidName)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, name.Neg, tree.Kind)
		})
	}
}

func TestLookupSharesOneVarPerName(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80")
	writeFile(t, dir, "orders", "10.0.0.2 80")
	n := newNamer(t, fs.Config{Dir: dir})
	v1 := lookupVar(t, n, "/users")
	v2 := lookupVar(t, n, "/users/with/residual")
	v3 := lookupVar(t, n, "/orders")
	assert.Same(t, v1, v2)
	assert.NotSame(t, v1, v3)
}

func TestLookupFindsFileCreatedLater(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk}) // no watcher, no time passing
	assert.Equal(t, name.Neg, lookup(t, n, "/users").Kind)
	writeFile(t, dir, "users", "10.0.0.1 80")
	v := lookupVar(t, n, "/users")
	assert.Equal(t, []string{"10.0.0.1:80"}, hosts(v.Peek()))
}

func TestLookupPrefix(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80")
	n := newNamer(t, fs.Config{Dir: dir, Prefix: name.Path{"#", "staging"}})
	tree := lookup(t, n, "/users/x")
	require.Equal(t, name.Leaf, tree.Kind)
	assert.Equal(t, "/#/staging/users/x", tree.Value.String())
}

func TestLookupContextAndClose(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80")
	n, err := fs.New(fs.Config{Dir: dir, Watch: true})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = n.Lookup(ctx, name.Path{"users"})
	require.ErrorIs(t, err, context.Canceled)

	v := lookupVar(t, n, "/users")
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	_, err = n.Lookup(context.Background(), name.Path{"users"})
	require.ErrorIs(t, err, fs.ErrClosed)
	assert.Equal(t, name.AddrBound, v.Sample().State, "Vars keep their last value")
}

func TestState(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80")
	writeFile(t, dir, "broken", "nope")
	clk := clock.NewFake(t0)
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk})
	lookup(t, n, "/users")
	lookup(t, n, "/broken")
	lookup(t, n, "/missing")
	clk.Advance(2 * time.Second)

	st := n.State()
	require.Len(t, st, 2, "missing names are not remembered")
	assert.Equal(t, "broken", st[0].Name)
	assert.Equal(t, "failed", st[0].State)
	assert.Empty(t, st[0].Addresses)
	assert.Contains(t, st[0].LastError, filepath.Join(dir, "broken")+":1:")
	assert.Equal(t, fs.NameState{
		Name:        "users",
		File:        filepath.Join(dir, "users"),
		State:       "bound",
		Addresses:   []name.Address{{Host: "10.0.0.1", Port: 80}},
		LastRefresh: t0,
		Age:         2 * time.Second,
	}, st[1])
}
