//go:build unix

package app_test

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/app"
)

// chanSink hands each log record's message to a channel.
type chanSink chan string

func (s chanSink) Enabled(context.Context, slog.Level) bool { return true }
func (s chanSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s chanSink) WithGroup(string) slog.Handler            { return s }
func (s chanSink) Handle(_ context.Context, r slog.Record) error {
	s <- r.Message
	return nil
}

// ShutdownContext, which every mode (container, cloudrun, lambda) runs
// under, ignores SIGHUP and logs it once, and ends on SIGTERM (defect 7 of
// issue 14; test/e2e/signals_test.go runs the binary).
func TestShutdownContextIgnoresSIGHUP(t *testing.T) {
	logs := make(chanSink, 8)
	ctx, stop := app.ShutdownContext(context.Background(), slog.New(logs))
	defer stop()

	for range 2 {
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	}
	select {
	case msg := <-logs:
		assert.Contains(t, msg, "SIGHUP")
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP was not logged")
	}
	require.NoError(t, ctx.Err(), "SIGHUP must not start a shutdown")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not end the context")
	}
	stop()
	assert.Empty(t, logs, "SIGHUP is logged once")
	// After stop, SIGHUP stays ignored: a late one cannot kill a drain.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
}
