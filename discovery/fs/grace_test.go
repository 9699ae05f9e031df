package fs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/fs"
)

// An emptied name file does not take a name's endpoints away at once: the
// last non-empty set is served for the empty grace period
// (SLINKERD_DISCOVERY_EMPTY_GRACE, 60s by default), as the other namers do
// through discovery/internal/refresh (defect 13 of issue 14: the fs namer
// ignored it). The steps share one namer and file and run in order.
func TestEmptiedFileKeepsServingForTheGrace(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users", "10.0.0.1 80\n")
	clk := clock.NewFake(t0)
	const ttl = 5 * time.Second
	n := newNamer(t, fs.Config{Dir: dir, Clock: clk, TTL: ttl})
	v := lookupVar(t, n, "/users")
	require.Equal(t, []string{"10.0.0.1:80"}, hosts(v.Peek()))

	steps := []struct {
		name    string
		write   string // new content; "" leaves the file alone
		empty   bool   // write an empty file
		advance time.Duration
		want    []string
	}{
		{name: "emptied: the last good set is served", empty: true, advance: ttl, want: []string{"10.0.0.1:80"}},
		{name: "still within the grace", advance: 50 * time.Second, want: []string{"10.0.0.1:80"}},
		{name: "refilled within the grace", write: "10.0.0.2 80\n", advance: ttl, want: []string{"10.0.0.2:80"}},
		{name: "emptied again: a new grace starts", empty: true, advance: ttl, want: []string{"10.0.0.2:80"}},
		{name: "just before the grace ends", advance: 60*time.Second - time.Nanosecond, want: []string{"10.0.0.2:80"}},
		{name: "grace over: the empty set is served", advance: time.Nanosecond, want: []string{}},
		{name: "refilled", write: "10.0.0.3 80\n", advance: ttl, want: []string{"10.0.0.3:80"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			switch {
			case s.empty:
				writeFile(t, dir, "users", "")
			case s.write != "":
				writeFile(t, dir, "users", s.write)
			}
			clk.Advance(s.advance)
			v.Sample()
			waitChanged(t, n.Idle("users"))
			a := v.Peek()
			assert.Equal(t, name.AddrBound, a.State)
			assert.Equal(t, s.want, hosts(a))
		})
	}
}

// With no grace (a negative EmptyGrace), an emptied file empties the set
// at the next check; a file empty from the start is bound to the empty set
// whatever the grace.
func TestEmptiedFileWithoutGrace(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		first string
		want  []string
	}{
		{name: "negative grace: emptied at once", grace: -1, first: "10.0.0.1 80\n", want: []string{}},
		{name: "empty from the start, default grace", first: "", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "users", tt.first)
			clk := clock.NewFake(t0)
			n := newNamer(t, fs.Config{Dir: dir, Clock: clk, TTL: time.Second, EmptyGrace: tt.grace})
			v := lookupVar(t, n, "/users")
			writeFile(t, dir, "users", "")
			clk.Advance(time.Second)
			v.Sample()
			waitChanged(t, n.Idle("users"))
			assert.Equal(t, name.AddrBound, v.Peek().State)
			assert.Equal(t, tt.want, hosts(v.Peek()))
		})
	}
}
