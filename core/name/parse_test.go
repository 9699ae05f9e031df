package name_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    name.Path
		show    string
		wantErr string
	}{
		{name: "root", in: "/", want: nil, show: "/"},
		{name: "simple", in: "/svc/users", want: name.Path{"svc", "users"}, show: "/svc/users"},
		{name: "showable punctuation", in: "/#/io.l5d.fs/a_b:c-d%e$", want: name.Path{"#", "io.l5d.fs", "a_b:c-d%e$"}, show: "/#/io.l5d.fs/a_b:c-d%e$"},
		{name: "escape", in: `/a\x2fb/\x00`, want: name.Path{"a/b", "\x00"}, show: `/a\x2fb/\x00`},
		{name: "upper-case hex", in: `/\x2F`, want: name.Path{"/"}, show: `/\x2f`},
		{name: "white space around", in: "  /a  ", want: name.Path{"a"}, show: "/a"},
		{name: "no slash", in: "svc", wantErr: "path: offset 0: expected a path starting with '/'"},
		{name: "empty segment", in: "/a//b", wantErr: "offset 3: expected a path segment after '/'"},
		{name: "trailing slash", in: "/a/", wantErr: "offset 3: expected a path segment"},
		{name: "bad escape", in: `/a\x2g`, wantErr: "expected two hex digits"},
		{name: "short escape", in: `/a\x2`, wantErr: `expected an escape of the form \xNN`},
		{name: "space inside", in: "/a b", wantErr: "offset 3: expected end of path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := name.ParsePath(tc.in)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.show, got.String())
		})
	}
}

func TestParseDtabErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{name: "missing arrow", in: "/svc/users  /#/io.l5d.fs", want: `dtab: offset 12: expected '=>' after prefix "/svc/users", found '/'`},
		{name: "issue example", in: "/svc/a=>/b;/svc /c", want: `dtab: offset 16: expected '=>' after prefix "/svc"`},
		{name: "missing tree", in: "/svc=>", want: "dtab: offset 6: expected a path, '(', '!', '~' or '$', found end of input"},
		{name: "unclosed paren", in: "/svc=>(/a | /b", want: "dtab: offset 14: expected ')' to close '('"},
		{name: "weight without star", in: "/svc=>0.5 /a", want: "dtab: offset 10: expected '*' after weight 0.5"},
		{name: "bad weight", in: "/svc=>1.2.3*/a", want: `expected a weight (a non-negative number), found "1.2.3"`},
		{name: "negative weight", in: "/svc=>-1*/a", want: "expected a path, '(', '!', '~' or '$', found '-'"},
		{name: "junk after dentry", in: "/svc=>/a /b", want: `dtab: offset 9: expected ';' or end of dtab after dentry "/svc=>/a"`},
		{name: "prefix not a path", in: "svc=>/a", want: "dtab: offset 0: expected a prefix starting with '/'"},
		{name: "star inside a leaf", in: "/svc=>/a/*", want: "expected a path segment after '/'"},
		{name: "bare ampersand", in: "/svc=>/a &", want: "expected a path, '(', '!', '~' or '$', found end of input"},
		{name: "bad escape in prefix", in: `/s\xzz=>/a`, want: "dtab: offset 2: expected two hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := name.ParseDtab(tc.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var pe *name.ParseError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, "dtab", pe.What)
		})
	}
}

func TestDtabRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   string
		show string
	}{
		{name: "empty", in: "", show: ""},
		{name: "one", in: "/svc => /#/io.l5d.fs", show: "/svc=>/#/io.l5d.fs"},
		{name: "wildcard and root", in: "/ => /a ; /svc/*/x => /b", show: "/=>/a;/svc/*/x=>/b"},
		{name: "alt and union precedence", in: "/s => /a & /b | /c", show: "/s=>/a & /b | /c"},
		{name: "nested alt keeps parens", in: "/s => (/a | /b) | /c", show: "/s=>(/a | /b) | /c"},
		{name: "alt inside union", in: "/s => (/a | /b) & /c", show: "/s=>(/a | /b) & /c"},
		{name: "nested union keeps parens", in: "/s => (/a & /b) & /c", show: "/s=>(/a & /b) & /c"},
		{name: "weights", in: "/s => 0.9 * /a & 0.1*/b & 1.0 * /c", show: "/s=>0.9*/a & 0.1*/b & /c"},
		{name: "lone weighted branch", in: "/s => 2 * /a", show: "/s=>2*/a"},
		{name: "exponent weight", in: "/s => 1e-3*/a & 2E+2*/b", show: "/s=>0.001*/a & 200*/b"},
		{name: "specials", in: "/s => ! | ~ | $", show: "/s=>! | ~ | $"},
		{name: "escapes", in: `/s\x20x => /a\x2fb`, show: `/s\x20x=>/a\x2fb`},
		{name: "comments", in: "# base\n/svc => /#/io.l5d.fs; # fs\n/svc/b => /svc/a # override\n", show: "/svc=>/#/io.l5d.fs;/svc/b=>/svc/a"},
		{name: "parenthesised leaf collapses", in: "/s=>(/a)", show: "/s=>/a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := name.ParseDtab(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.show, d.String())
			again, err := name.ParseDtab(d.String())
			require.NoError(t, err)
			requireDtabEqual(t, d, again)
			pretty, err := name.ParseDtab(d.Pretty())
			require.NoError(t, err)
			requireDtabEqual(t, d, pretty)
		})
	}
}

func requireDtabEqual(t testing.TB, a, b name.Dtab) {
	t.Helper()
	require.Equal(t, len(a), len(b), "dentry count: %q vs %q", a, b)
	for i := range a {
		require.Equal(t, a[i].Prefix, b[i].Prefix, "prefix %d", i)
		require.True(t, name.Equal(a[i].Dst, b[i].Dst), "dst %d: %s vs %s", i, a[i].Dst, b[i].Dst)
	}
}

// FuzzParseDtab checks that the parser never panics and that printing
// round-trips: parse(print(x)) == x for every x the parser accepts.
func FuzzParseDtab(f *testing.F) {
	for _, s := range []string{
		"", "/svc=>/#/io.l5d.fs", "/s=>0.9*/a & 0.1*/b | !", "/s/*/x=>(/a | ~) & $",
		`/a\x2f=>/b`, "# c\n/a=>/b;;", "/=>/a", "/a=>1e3*/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := name.ParseDtab(s)
		if err != nil {
			var pe *name.ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("bad error for %q: %v", s, err)
			}
			return
		}
		printed := d.String()
		again, err := name.ParseDtab(printed)
		if err != nil {
			t.Fatalf("printed dtab %q (from %q) does not parse: %v", printed, s, err)
		}
		requireDtabEqual(t, d, again)
		if printed != again.String() {
			t.Fatalf("printing is not stable: %q then %q", printed, again.String())
		}
	})
}

// FuzzDelegate delegates fuzzed paths through fuzzed dtabs: it must never
// panic, must stop at the depth limit, and must agree with itself with and
// without tracing.
func FuzzDelegate(f *testing.F) {
	f.Add("/svc=>/#/t;/svc/a=>/#/t/b | /#/t/c", "/svc/a/x")
	f.Add("/a=>/b;/b=>/a", "/a")
	f.Add("/s=>0.5*/#/t/a & 0.5*(/#/t/m | /#/t/b)", "/s")
	f.Add("/*/x=>/#/t/users;/=>~", "/q/x/r")
	f.Add("/s=>/#/err | !", "/s")
	f.Fuzz(func(t *testing.T, dtabText, pathText string) {
		dtab, err := name.ParseDtab(dtabText)
		if err != nil {
			return
		}
		path, err := name.ParsePath(pathText)
		if err != nil {
			return
		}
		ctx := context.Background()
		plain := &name.Delegator{Dtab: dtab, Lookup: testLookup}
		traced := &name.Delegator{Dtab: dtab, Lookup: testLookup, Trace: true}
		t1, _, err1 := plain.Bind(ctx, path)
		t2, st, err2 := traced.Bind(ctx, path)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("trace changes the outcome: %v vs %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if a, b := show(name.Simplify(t1)), show(name.Simplify(t2)); a != b {
			t.Fatalf("trace changes the result: %s vs %s", a, b)
		}
		if st == nil {
			t.Fatalf("no trace")
		}
		name.Eval(t1)
	})
}

func TestPathHelpers(t *testing.T) {
	p := name.MustParsePath("/svc/users/v2")
	assert.True(t, p.HasPrefix(name.MustParsePath("/svc")))
	assert.True(t, p.HasPrefix(nil))
	assert.False(t, p.HasPrefix(name.MustParsePath("/svc/user")))
	assert.True(t, p.Equal(name.Path{"svc", "users", "v2"}))
	q := p[:1].Concat(name.Path{"x"})
	assert.Equal(t, "/svc/x", q.String())
	assert.Equal(t, "/svc/users/v2", p.String(), "Concat must not alias")
}

// BenchmarkDelegate50 delegates through a 50-entry dtab in which the
// matching dentry is the first (so 49 others are checked first) and the
// result takes two rewrites.
func BenchmarkDelegate50(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("/svc=>/env/prod;/env/prod=>/#/t;")
	for i := 0; i < 48; i++ {
		fmt.Fprintf(&sb, "/other%d/*/x=>/#/t/n%d | /#/t/m%d;", i, i, i)
	}
	dtab := name.MustParseDtab(sb.String())
	if len(dtab) != 50 {
		b.Fatalf("dtab has %d entries", len(dtab))
	}
	path := name.MustParsePath("/svc/users")
	d := &name.Delegator{Dtab: dtab, Lookup: testLookup}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tree, _, err := d.Bind(ctx, path)
		if err != nil || tree.Kind != name.Leaf {
			b.Fatalf("bind: %v %v", tree.Kind, err)
		}
	}
}

func BenchmarkParseDtab50(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&sb, "/svc/s%d=>/#/io.l5d.fs/s%d | 0.9*/a & 0.1*/b;", i, i)
	}
	s := sb.String()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := name.ParseDtab(s); err != nil {
			b.Fatal(err)
		}
	}
}
