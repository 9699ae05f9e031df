package app_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// recordSink is a slog.Handler that keeps every record for a test.
type recordSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (s *recordSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *recordSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *recordSink) WithGroup(string) slog.Handler            { return s }
func (s *recordSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return nil
}

// warnings returns each Warn record as "msg key=value …".
func (s *recordSink) warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		if r.Level != slog.LevelWarn {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// TestWarnsAboutUnservedNamerLeaves: at start-up, every dtab leaf under
// /#/ that no configured namer serves gets one warning naming the dentry
// and what is missing (defect 12 of issue 14: a typo or a namer without
// its configuration started silently).
func TestWarnsAboutUnservedNamerLeaves(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		want [][]string // per warning, the substrings it must hold
	}{
		{name: "namer typo", env: map[string]string{"SLINKERD_FS_DIR": dir, "SLINKERD_DTAB": "/svc=>/#/io.l5d.fss"},
			want: [][]string{{"/#/io.l5d.fss", "/svc=>/#/io.l5d.fss", "no namer serves"}}},
		{name: "fs without its directory", env: map[string]string{"SLINKERD_DTAB": "/svc/a=>/#/io.l5d.fs/a"},
			want: [][]string{{"/#/io.l5d.fs/a", "/svc/a=>/#/io.l5d.fs/a", "SLINKERD_FS_DIR"}}},
		{name: "one line per leaf, inside alternatives and unions",
			env:  map[string]string{"SLINKERD_DTAB": "/svc=>/#/io.l5d.fss | /$/inet/127.0.0.1/9;/web=>0.5*/#/io.l5d.fs/w & 0.5*/#/io.l5d.dnssrv/w"},
			want: [][]string{{"/#/io.l5d.fss", "dentry=/svc=>"}, {"/#/io.l5d.fs/w", "SLINKERD_FS_DIR", "dentry=/web=>"}}},
		{name: "every leaf served", env: map[string]string{"SLINKERD_FS_DIR": dir,
			"SLINKERD_DTAB": "/svc=>/#/io.l5d.fs | /#/io.l5d.dnssrv | /$/inet/127.0.0.1/9;/x=>/#/io.l5d.cloudmap/ns;/y=>/#/io.l5d.cloudrun/p/r"}},
		{name: "a bare /# leaf names no namer yet", env: map[string]string{"SLINKERD_DTAB": "/svc=>/#"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.env)
			require.NoError(t, err)
			sink := &recordSink{}
			_, closers, err := app.NewInterpreter(cfg, slog.New(sink), false)
			require.NoError(t, err)
			for _, c := range closers {
				require.NoError(t, c())
			}
			got := sink.warnings()
			require.Len(t, got, len(tt.want), "warnings: %q", got)
			for i, subs := range tt.want {
				for _, s := range subs {
					assert.Contains(t, got[i], s)
				}
			}
		})
	}
}
