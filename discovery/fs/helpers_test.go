package fs_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/fs"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// logSink is a slog.Handler that hands records to a test.
type logSink struct{ ch chan slog.Record }

func newLogSink() *logSink { return &logSink{ch: make(chan slog.Record, 256)} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	select {
	case s.ch <- r:
	default:
	}
	return nil
}

// waitWarn waits for the next record at level Warn or above.
func (s *logSink) waitWarn(t *testing.T) slog.Record {
	t.Helper()
	ctx := ctxT(t)
	for {
		select {
		case r := <-s.ch:
			if r.Level >= slog.LevelWarn {
				return r
			}
		case <-ctx.Done():
			t.Fatal("timed out waiting for a warning")
		}
	}
}

func newLogger(s *logSink) *slog.Logger { return slog.New(s) }

// newNamer returns a Namer on dir that is closed at the end of the test.
func newNamer(t *testing.T, cfg fs.Config) *fs.Namer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n, err := fs.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func writeFile(t *testing.T, dir, nm, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, nm), []byte(content), 0o644))
}

// replaceFile writes content to nm atomically, by rename.
func replaceFile(t *testing.T, dir, nm, content string) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+nm)
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, nm)))
}

func lookup(t *testing.T, n name.Namer, path string) name.Tree[name.Bound] {
	t.Helper()
	tree, err := n.Lookup(ctxT(t), name.MustParsePath(path))
	require.NoError(t, err)
	return tree
}

func lookupVar(t *testing.T, n name.Namer, path string) *name.Var {
	t.Helper()
	tree := lookup(t, n, path)
	require.Equal(t, name.Leaf, tree.Kind, "lookup %s", path)
	return tree.Value.Addr
}

// waitFor waits on v's Changed until ok holds for its snapshot, failing
// after 5s.
func waitFor(t *testing.T, v *name.Var, ok func(name.Addr) bool) name.Addr {
	t.Helper()
	ctx := ctxT(t)
	for {
		ch := v.Changed()
		if a := v.Peek(); ok(a) {
			return a
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out; last snapshot %+v", v.Peek())
		}
	}
}

// waitChanged waits for ch to close, failing the test after 5s.
func waitChanged(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-ctxT(t).Done():
		t.Fatal("timed out waiting for a change")
	}
}

func hosts(a name.Addr) []string {
	out := []string{}
	for _, ad := range a.Addresses {
		out = append(out, ad.HostPort())
	}
	return out
}

func boundTo(want ...string) func(name.Addr) bool {
	return func(a name.Addr) bool {
		if a.State != name.AddrBound || len(a.Addresses) != len(want) {
			return false
		}
		for i, h := range hosts(a) {
			if h != want[i] {
				return false
			}
		}
		return true
	}
}
