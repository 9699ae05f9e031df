package inet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

func TestSystem(t *testing.T) {
	regs, err := inet.System(inet.Config{Resolver: newFakeResolver()})
	require.NoError(t, err)
	got := map[string]name.Namer{}
	for _, r := range regs {
		got[r.Prefix.String()] = r.Namer
	}
	require.Len(t, got, 3)

	tests := []struct {
		name   string
		prefix string
		path   name.Path
		want   name.Kind
	}{
		{name: "inet", prefix: "/$/inet", path: name.Path{"10.0.0.1", "80"}, want: name.Leaf},
		{name: "nil", prefix: "/$/nil", path: nil, want: name.Empty},
		{name: "nil with residual", prefix: "/$/nil", path: name.Path{"a", "b"}, want: name.Empty},
		{name: "fail", prefix: "/$/fail", path: nil, want: name.Fail},
		{name: "fail with residual", prefix: "/$/fail", path: name.Path{"a"}, want: name.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := got[tt.prefix]
			require.True(t, ok, "no namer for %s", tt.prefix)
			tree, err := n.Lookup(context.Background(), tt.path)
			require.NoError(t, err)
			assert.Equal(t, tt.want, tree.Kind)
		})
	}
}

func TestSystemInvalidConfig(t *testing.T) {
	_, err := inet.System(inet.Config{Timeout: -1})
	require.Error(t, err)
}
