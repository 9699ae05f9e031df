package name_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testLookup is a small namer table: /#/t/<known> binds with the rest as
// residual, /#/t/<unknown> is negative, /#/fail fails, /#/err errors, and
// /$/inet/<host>/<port> binds.
func testLookup(ctx context.Context, p name.Path) (name.Tree[name.Bound], error) {
	known := map[string]bool{"a": true, "b": true, "c": true, "users": true, "x": true, "y": true}
	switch {
	case len(p) >= 3 && p[0] == "#" && p[1] == "t":
		if !known[p[2]] {
			return name.Tree[name.Bound]{}, nil
		}
		return name.NewLeaf(name.Bound{ID: p[:3], Residual: p[3:]}), nil
	case len(p) >= 2 && p[0] == "#" && p[1] == "fail":
		return name.Tree[name.Bound]{Kind: name.Fail}, nil
	case len(p) >= 2 && p[0] == "#" && p[1] == "err":
		return name.Tree[name.Bound]{}, errors.New("namer is down")
	case len(p) >= 4 && p[0] == "$" && p[1] == "inet":
		return name.NewLeaf(name.Bound{ID: p[:4], Residual: p[4:]}), nil
	}
	return name.Tree[name.Bound]{}, nil
}

// show renders a bound tree with residuals in brackets, e.g. "/#/t/a[/b]".
func show(t name.Tree[name.Bound]) string {
	return name.Map(t, func(b name.Bound) string {
		if len(b.Residual) == 0 {
			return b.ID.String()
		}
		return b.ID.String() + "[" + b.Residual.String() + "]"
	}).String()
}

func chain(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += fmt.Sprintf("/h%d=>/h%d;", i, i+1)
	}
	return s + fmt.Sprintf("/h%d=>/#/t/a", n)
}

// TestDelegateConformance checks delegation against linkerd 1 / Finagle
// semantics. want is the simplified bound tree, "neg", "fail", "empty", or
// an error substring in wantErr.
func TestDelegateConformance(t *testing.T) {
	cases := []struct {
		name    string
		dtab    string
		local   string // per-request dtab, appended after the base
		path    string
		want    string
		wantErr string
	}{
		{name: "empty dtab, logical path is negative", dtab: "", path: "/svc/a", want: "~"},
		{name: "empty dtab, namer path binds directly", dtab: "", path: "/#/t/a", want: "/#/t/a"},
		{name: "prefix rewrite to namer", dtab: "/svc=>/#/t", path: "/svc/a", want: "/#/t/a"},
		{name: "residual is appended and left to the namer", dtab: "/svc=>/#/t", path: "/svc/a/b/c", want: "/#/t/a[/b/c]"},
		{name: "exact prefix", dtab: "/svc/a=>/#/t/b", path: "/svc/a", want: "/#/t/b"},
		{name: "prefix matches whole segments only", dtab: "/svc/a=>/#/t/b", path: "/svc/ab", want: "~"},
		{name: "prefix longer than path does not match", dtab: "/svc/a/b=>/#/t/b", path: "/svc/a", want: "~"},
		{name: "last dentry wins", dtab: "/svc=>/#/t/a;/svc=>/#/t/b", path: "/svc", want: "/#/t/b"},
		{name: "negative later dentry falls back to earlier", dtab: "/svc=>/#/t/a;/svc=>/#/t", path: "/svc/zzz", want: "/#/t/a[/zzz]"},
		{name: "more specific later dentry", dtab: "/svc=>/#/t;/svc/users=>/#/t/b", path: "/svc/users", want: "/#/t/b"},
		{name: "later less specific dentry still wins", dtab: "/svc/users=>/#/t/b;/svc=>/#/t", path: "/svc/users", want: "/#/t/users"},
		{name: "wildcard matches one segment", dtab: "/svc/*/users=>/#/t/users", path: "/svc/prod/users", want: "/#/t/users"},
		{name: "wildcard needs a segment", dtab: "/svc/*=>/#/t/a", path: "/svc", want: "~"},
		{name: "wildcard consumes its segment", dtab: "/svc/*=>/#/t", path: "/svc/prod/b/c", want: "/#/t/b[/c]"},
		{name: "wildcard in first position", dtab: "/*/users=>/#/t/x", path: "/anything/users/1", want: "/#/t/x[/1]"},
		{name: "root prefix matches everything, its own output too", dtab: "/=>/#/t/a", path: "/svc/q", wantErr: "maximum depth"},
		{name: "root prefix as a catch-all fallback", dtab: "/=>!;/svc=>/#/t", path: "/other", want: "!"},
		{name: "two-step delegation", dtab: "/s=>/svc;/svc=>/#/t", path: "/s/a", want: "/#/t/a"},
		{name: "three-step delegation keeps residual", dtab: "/a=>/b;/b=>/c;/c=>/#/t", path: "/a/users/42", want: "/#/t/users[/42]"},
		{name: "alternation falls back on neg", dtab: "/svc=>/#/t/missing | /#/t/a", path: "/svc", want: "/#/t/a"},
		{name: "alternation takes the first non-negative", dtab: "/svc=>/#/t/a | /#/t/b", path: "/svc", want: "/#/t/a"},
		{name: "alternation over delegated names", dtab: "/x=>~;/svc=>/x | /#/t/a", path: "/svc", want: "/#/t/a"},
		{name: "alternation residual goes to every branch", dtab: "/svc=>/#/t/zz | /#/t", path: "/svc/b/r", want: "/#/t/b[/r]"},
		{name: "fail stops alternation", dtab: "/svc=>! | /#/t/a", path: "/svc", want: "!"},
		{name: "fail stops dentry fallback", dtab: "/svc=>/#/t/a;/svc=>!", path: "/svc", want: "!"},
		{name: "fail after a negative alternative", dtab: "/svc=>~ | ! | /#/t/a", path: "/svc", want: "!"},
		{name: "neg literal", dtab: "/svc=>~", path: "/svc", want: "~"},
		{name: "neg literal falls back to earlier dentry", dtab: "/svc=>/#/t/a;/svc=>~", path: "/svc", want: "/#/t/a"},
		{name: "empty literal", dtab: "/svc=>$", path: "/svc", want: "$"},
		{name: "empty stops alternation", dtab: "/svc=>$ | /#/t/a", path: "/svc", want: "$"},
		{name: "empty stops dentry fallback", dtab: "/svc=>/#/t/a;/svc=>$", path: "/svc", want: "$"},
		{name: "union", dtab: "/svc=>/#/t/a & /#/t/b", path: "/svc", want: "/#/t/a & /#/t/b"},
		{name: "weighted union canary", dtab: "/svc=>0.9 * /#/t/a & 0.1 * /#/t/b", path: "/svc", want: "0.9*/#/t/a & 0.1*/#/t/b"},
		{name: "union drops negative branches", dtab: "/svc=>/#/t/a & /#/t/missing", path: "/svc", want: "/#/t/a"},
		{name: "union of negatives is negative and falls back", dtab: "/svc=>/#/t/c;/svc=>/#/t/m1 & /#/t/m2", path: "/svc", want: "/#/t/c"},
		{name: "union with fail fails", dtab: "/svc=>/#/t/a & !", path: "/svc", want: "!"},
		{name: "union drops empty branches", dtab: "/svc=>/#/t/a & $", path: "/svc", want: "/#/t/a"},
		{name: "union of only empty is empty", dtab: "/svc=>$ & $", path: "/svc", want: "$"},
		{name: "union of alternations", dtab: "/svc=>(/#/t/m | /#/t/a) & /#/t/b", path: "/svc", want: "/#/t/a & /#/t/b"},
		{name: "alternation of unions", dtab: "/svc=>/#/t/m1 & /#/t/m2 | /#/t/a & /#/t/b", path: "/svc", want: "/#/t/a & /#/t/b"},
		{name: "union weights carry residuals", dtab: "/svc=>3*/#/t/a & /#/t/b", path: "/svc/r", want: "3*/#/t/a[/r] & /#/t/b[/r]"},
		{name: "recursion limit on a two-dentry loop", dtab: "/a=>/b;/b=>/a", path: "/a", wantErr: "maximum depth"},
		{name: "recursion limit on a growing self-loop", dtab: "/a=>/a/x", path: "/a", wantErr: "maximum depth"},
		{name: "a long chain under the limit binds", dtab: chain(60), path: "/h0", want: "/#/t/a"},
		{name: "a chain over the limit fails", dtab: chain(120), path: "/h0", wantErr: "maximum depth"},
		{name: "per-request dtab wins over the base", dtab: "/svc=>/#/t/a", local: "/svc=>/#/t/b", path: "/svc", want: "/#/t/b"},
		{name: "per-request dtab falls back to the base on neg", dtab: "/svc=>/#/t", local: "/svc/users=>/#/t/missing", path: "/svc/users", want: "/#/t/users"},
		{name: "per-request canary union", dtab: "/svc=>/#/t", local: "/svc/users=>0.9*/#/t/users & 0.1*/#/t/b", path: "/svc/users", want: "0.9*/#/t/users & 0.1*/#/t/b"},
		{name: "per-request dtab can rewrite the base's targets", dtab: "/svc=>/env;/env=>/#/t", local: "/env/users=>/#/t/x", path: "/svc/users", want: "/#/t/x"},
		{name: "per-request fail", dtab: "/svc=>/#/t", local: "/svc/a=>!", path: "/svc/a", want: "!"},
		{name: "system inet namer with residual", dtab: "/svc=>/$/inet/127.0.0.1/8080", path: "/svc/x/y", want: "/$/inet/127.0.0.1/8080[/x/y]"},
		{name: "namer fail", dtab: "/svc=>/#/fail | /#/t/a", path: "/svc", want: "!"},
		{name: "namer error surfaces", dtab: "/svc=>/#/err", path: "/svc", wantErr: "namer is down"},
		{name: "dtab applies before namers", dtab: "/#/t/a=>/#/t/b", path: "/#/t/a", want: "/#/t/b"},
		{name: "escaped segments match", dtab: `/svc/a\x2fb=>/#/t/a`, path: `/svc/a\x2fb`, want: "/#/t/a"},
		{name: "comments and blank dentries", dtab: "# routes\n/svc => /#/t # all services\n;;\n", path: "/svc/a", want: "/#/t/a"},
		{name: "nested parentheses", dtab: "/svc=>((/#/t/m | (/#/t/b)))", path: "/svc", want: "/#/t/b"},
		{name: "alternation in earlier dentry after later neg", dtab: "/svc=>/#/t/m | /#/t/c;/svc=>~", path: "/svc", want: "/#/t/c"},
	}
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dtab, err := name.ParseDtab(tc.dtab)
			require.NoError(t, err)
			local, err := name.ParseDtab(tc.local)
			require.NoError(t, err)
			path, err := name.ParsePath(tc.path)
			require.NoError(t, err)

			for _, trace := range []bool{false, true} {
				d := &name.Delegator{Dtab: dtab.Concat(local), Lookup: testLookup, Trace: trace}
				got, step, err := d.Bind(context.Background(), path)
				if tc.wantErr != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tc.wantErr)
					if tc.wantErr == "maximum depth" {
						assert.ErrorIs(t, err, name.ErrMaxDepth)
					}
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, tc.want, show(name.Simplify(got)), "trace=%v", trace)
				if trace {
					require.NotNil(t, step)
				}
			}
		})
	}
}

func TestEvalWeights(t *testing.T) {
	cases := []struct {
		name string
		tree string
		want map[string]float64
		kind name.Kind
	}{
		{name: "leaf", tree: "/a", want: map[string]float64{"/a": 1}, kind: name.Leaf},
		{name: "canary", tree: "0.9*/a & 0.1*/b", want: map[string]float64{"/a": 0.9, "/b": 0.1}, kind: name.Leaf},
		{name: "unnormalised weights", tree: "3*/a & /b", want: map[string]float64{"/a": 0.75, "/b": 0.25}, kind: name.Leaf},
		{name: "negative branch gives its share away", tree: "0.5*/a & 0.5*~", want: map[string]float64{"/a": 1}, kind: name.Leaf},
		{name: "nested union", tree: "0.5*/a & 0.5*(/b & /c)", want: map[string]float64{"/a": 0.5, "/b": 0.25, "/c": 0.25}, kind: name.Leaf},
		{name: "alt picks first non-neg", tree: "~ | /b | /c", want: map[string]float64{"/b": 1}, kind: name.Leaf},
		{name: "fail", tree: "~ | !", kind: name.Fail},
		{name: "neg", tree: "~ | ~", kind: name.Neg},
		{name: "empty is a leaf with no values", tree: "$ | /a", want: map[string]float64{}, kind: name.Leaf},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := name.ParseTree(tc.tree)
			require.NoError(t, err)
			kind, vs := name.Eval(tree)
			require.Equal(t, tc.kind, kind)
			got := map[string]float64{}
			for _, v := range vs {
				got[v.Value.String()] += v.Weight
			}
			if tc.kind == name.Leaf {
				require.Len(t, got, len(tc.want))
				for k, w := range tc.want {
					assert.InDelta(t, w, got[k], 1e-9, k)
				}
			}
		})
	}
}

func TestDelegateTrace(t *testing.T) {
	d := &name.Delegator{
		Dtab:   name.MustParseDtab("/svc=>/#/t/c;/svc=>/#/t/missing | /#/t/a"),
		Lookup: testLookup,
		Trace:  true,
	}
	got, st, err := d.Bind(context.Background(), name.MustParsePath("/svc"))
	require.NoError(t, err)
	assert.Equal(t, "/#/t/a", show(got))
	require.Equal(t, "delegate", st.Type)
	assert.Equal(t, "/svc", st.Path)
	// Two dentries match, so the delegate node has an alt of them, the
	// last dentry first.
	require.Equal(t, "alt", st.Delegate.Type)
	first := st.Delegate.Alt[0]
	require.Len(t, st.Delegate.Alt, 1, "the earlier dentry is never tried once the later binds")
	assert.Equal(t, "alt", first.Type)
	require.NotNil(t, first.Dentry)
	assert.Equal(t, 1, first.Dentry.Index)
	assert.Equal(t, "/svc", first.Dentry.Prefix)
	require.Len(t, first.Alt, 2)
	assert.Equal(t, "neg", first.Alt[0].Type)
	assert.Equal(t, "/#/t/missing", first.Alt[0].Path)
	assert.Equal(t, "leaf", first.Alt[1].Type)
	assert.Equal(t, "/#/t/a", first.Alt[1].Bound.ID)
}

func TestDelegateCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &name.Delegator{Dtab: name.MustParseDtab("/svc=>/#/t"), Lookup: testLookup}
	_, _, err := d.Bind(ctx, name.MustParsePath("/svc/a"))
	require.ErrorIs(t, err, context.Canceled)
}
