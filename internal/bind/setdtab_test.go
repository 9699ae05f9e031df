package bind_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// SetDtab swaps the base dtab at once, cache or not; a result bound
// before keeps its tree. The hooks see every bind and each non-negative
// delegation.
func TestSetDtab(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/$/t", name.NamerFunc(func(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
		return name.NewLeaf(name.Bound{ID: append(name.Path{"$", "t"}, p...), Addr: name.NewVar(name.Addr{State: name.AddrBound}, nil)}), nil
	})))
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc/x=>/$/t/a"), Namers: ns, Clock: clk, CacheTTL: time.Hour})
	require.NoError(t, err)
	var before int
	var bound []string
	in.SetHooks(&bind.Hooks{
		BeforeBind: func(context.Context, time.Time) { before++ },
		Bound:      func(p string, _ time.Time) { bound = append(bound, p) },
	})
	ctx, path := context.Background(), name.MustParsePath("/svc/x")
	old, err := in.Bind(ctx, nil, path)
	require.NoError(t, err)
	_, err = in.Bind(ctx, nil, path) // cached
	require.NoError(t, err)
	require.Equal(t, 2, before)
	require.Equal(t, []string{"/svc/x"}, bound, "Bound runs on delegation, not on cache hits")

	in.SetDtab(name.MustParseDtab("/svc/x=>~"))
	require.Equal(t, "/svc/x=>~", in.Dtab().String())
	res, err := in.Bind(ctx, nil, path)
	require.NoError(t, err)
	require.Equal(t, name.Neg, res.Kind, "the cached tree was dropped")
	require.Equal(t, []string{"/svc/x"}, bound, "a negative result is not reported")
	require.Equal(t, name.Leaf, old.Kind, "a result bound before keeps its tree")
	res, _, err = in.Delegate(ctx, nil, path)
	require.NoError(t, err)
	require.Equal(t, name.Neg, res.Kind, "Delegate uses the swapped dtab")
}
