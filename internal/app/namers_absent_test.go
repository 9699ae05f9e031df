//go:build slinkerd_nocloudmap && slinkerd_nocloudrun

package app_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In a build without the cloud namers, names under them fail with an
// error that says why, and the rest of the dtab still works.
func TestAbsentCloudNamersSayWhy(t *testing.T) {
	cfg, err := config.Load(map[string]string{
		"SLINKERD_DTAB": "/svc/a=>/#/io.l5d.cloudmap/ns/a;/svc/b=>/#/io.l5d.cloudrun/p/r/b;/svc/c=>/$/inet/127.0.0.1/9",
	})
	require.NoError(t, err)
	in, closers, err := app.NewInterpreter(cfg, slog.New(slog.DiscardHandler), false)
	require.NoError(t, err)
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for svc, tag := range map[string]string{"a": "slinkerd_nocloudmap", "b": "slinkerd_nocloudrun"} {
		_, err := in.Bind(context.Background(), nil, name.Path{"svc", svc})
		assert.ErrorContains(t, err, "not in this build of slinkerd: a Go program links it by importing github.com/slinkerd/slinkerd/discovery/", svc)
		assert.ErrorContains(t, err, "the slinkerd binary leaves it out when built with -tags "+tag, svc)
	}
	// (More when built with slinkerd_nolambdafn or slinkerd_nosigv4 too.)
	assert.Subset(t, app.LeftOut(), []string{"io.l5d.cloudmap (-tags slinkerd_nocloudmap)", "io.l5d.cloudrun (-tags slinkerd_nocloudrun)"})
	res, err := in.Bind(context.Background(), nil, name.Path{"svc", "c"})
	require.NoError(t, err)
	require.Len(t, res.Bounds, 1)
}
