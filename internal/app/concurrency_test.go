package app_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/app"
)

func TestConcurrencyFor(t *testing.T) {
	tests := []struct {
		name           string
		maxConcurrency int
		want           app.Concurrency
	}{
		{name: "unknown keeps the defaults", maxConcurrency: 0, want: app.Concurrency{IdleConnsPerHost: 256, StreamsPerConn: 250}},
		{name: "classic lambda", maxConcurrency: 1, want: app.Concurrency{IdleConnsPerHost: 256, StreamsPerConn: 250}},
		{name: "below the defaults", maxConcurrency: 64, want: app.Concurrency{IdleConnsPerHost: 256, StreamsPerConn: 250}},
		{name: "between the defaults", maxConcurrency: 252, want: app.Concurrency{IdleConnsPerHost: 256, StreamsPerConn: 252}},
		{name: "the most Lambda allows", maxConcurrency: 1600, want: app.Concurrency{IdleConnsPerHost: 1600, StreamsPerConn: 1600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, app.ConcurrencyFor(tt.maxConcurrency))
		})
	}
}

// TestBuildManagedInstances checks that Build tells Lambda Managed
// Instances from classic Lambda and sizes the pools from
// AWS_LAMBDA_MAX_CONCURRENCY there.
func TestBuildManagedInstances(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		mode        config.Mode
		wantManaged bool
		wantIdle    int
	}{
		{name: "classic lambda", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, mode: config.ModeLambda, wantIdle: 256},
		{name: "managed instances", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances", "AWS_LAMBDA_MAX_CONCURRENCY": "1000"},
			mode: config.ModeLambda, wantManaged: true, wantIdle: 1000},
		{name: "container ignores the lambda variables", env: map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": "1000"},
			mode: config.ModeContainer, wantIdle: 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SLINKERD_DTAB": "/svc=>/$/inet/127.0.0.1/1"}
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := config.Load(env)
			require.NoError(t, err)
			a, err := app.Build(cfg, tt.mode, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			t.Cleanup(a.Close)
			assert.Equal(t, tt.wantManaged, a.ManagedInstances)
			assert.Equal(t, tt.wantIdle, a.Concurrency.IdleConnsPerHost)
		})
	}
}

// TestBuildManagedInstancesRefreshesInBackground checks that on Lambda
// Managed Instances, which are never frozen, discovery is pushed in the
// background as in a container: a change to an fs-namer file reaches a
// bound name without any use of it.
func TestBuildManagedInstancesRefreshesInBackground(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.1 1001\n"), 0o600))
	cfg, err := config.Load(map[string]string{
		"SLINKERD_DTAB":                  "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR":                dir,
		"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
		"AWS_LAMBDA_MAX_CONCURRENCY":     "64",
	})
	require.NoError(t, err)
	a, err := app.Build(cfg, config.ModeLambda, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(a.Close)

	res, err := a.Interpreter.Bind(context.Background(), nil, name.Path{"svc", "users"})
	require.NoError(t, err)
	require.Len(t, res.Bounds, 1)
	v := res.Bounds[0].Value.Addr
	require.Equal(t, 1001, v.Peek().Addresses[0].Port)

	changed := v.Changed()
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.1 1002\n"), 0o600))
	deadline := time.After(10 * time.Second)
	for v.Peek().Addresses[0].Port != 1002 {
		select {
		case <-changed:
			changed = v.Changed()
		case <-deadline:
			t.Fatal("the change was not pushed within 10s: discovery does not refresh in the background")
		}
	}
}
