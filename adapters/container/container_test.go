package container_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/adapters/container"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

func TestRunServesUntilCancelled(t *testing.T) {
	addr := freeAddr(t)
	cfg, err := config.Load(map[string]string{"SLINKERD_LISTEN": addr, "SLINKERD_ADMIN_LISTEN": "127.0.0.1:0"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- container.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "no dtab: every name is negative")
			break
		}
		require.True(t, time.Now().Before(deadline), "the proxy did not listen: %v", err)
		<-tick.C
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunStartError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg, err := config.Load(map[string]string{"SLINKERD_LISTEN": busy.Addr().String(), "SLINKERD_ADMIN_LISTEN": "127.0.0.1:0"})
	require.NoError(t, err)
	err = container.Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	var se *app.StartError
	require.ErrorAs(t, err, &se)
	assert.True(t, app.IsConfigError(err), "names SLINKERD_LISTEN: %v", err)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
