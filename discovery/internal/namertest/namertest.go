// Package namertest holds what the discovery namers' tests share: looking
// a path up, and using a bound name as the proxy does.
package namertest

import (
	"context"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/stretchr/testify/require"
)

// Refresher is a namer whose tests can wait for its background refreshes
// (each namer package exports WaitIdle to its tests).
type Refresher interface {
	name.Namer
	// WaitIdle waits until no refresh is running.
	WaitIdle(ctx context.Context) error
}

// Lookup looks path up in n, failing t on an error, within 10 s.
func Lookup(t *testing.T, n name.Namer, path string) name.Tree[name.Bound] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tree, err := n.Lookup(ctx, name.MustParsePath(path))
	require.NoError(t, err)
	return tree
}

// Use samples a bound name as the proxy does, waits for the refresh it
// may start, and returns the name's addresses then.
func Use(t *testing.T, n Refresher, b name.Bound) name.Addr {
	t.Helper()
	b.Addr.Sample()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.WaitIdle(ctx))
	return b.Addr.Peek()
}
