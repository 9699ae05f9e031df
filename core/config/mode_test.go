package config_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestResolveMode(t *testing.T) {
	tests := []struct {
		name    string
		environ map[string]string
		want    config.Mode
	}{
		{"auto, nothing set: container", nil, config.ModeContainer},
		{"auto, lambda", env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), config.ModeLambda},
		{"auto, cloud run", env("K_SERVICE", "users"), config.ModeCloudRun},
		{"auto, lambda wins over cloud run", env("AWS_LAMBDA_RUNTIME_API", "x", "K_SERVICE", "users"), config.ModeLambda},
		{"auto, empty values are unset", env("AWS_LAMBDA_RUNTIME_API", "", "K_SERVICE", ""), config.ModeContainer},
		{"explicit container beats lambda", env("SLINKERD_MODE", "container", "AWS_LAMBDA_RUNTIME_API", "x"), config.ModeContainer},
		{"explicit lambda", env("SLINKERD_MODE", "lambda"), config.ModeLambda},
		{"explicit cloudrun", env("SLINKERD_MODE", "cloudrun", "AWS_LAMBDA_RUNTIME_API", "x"), config.ModeCloudRun},
		{"explicit auto", env("SLINKERD_MODE", "auto", "K_SERVICE", "users"), config.ModeCloudRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.environ)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.ResolveMode(tt.environ))
		})
	}
}

func TestBackgroundRefresh(t *testing.T) {
	tests := []struct {
		name    string
		setting string
		mode    config.Mode
		want    bool
	}{
		{"auto container", "", config.ModeContainer, true},
		{"auto lambda", "", config.ModeLambda, false},
		{"auto cloudrun", "auto", config.ModeCloudRun, false},
		{"forced on in lambda", "true", config.ModeLambda, true},
		{"forced off in container", "false", config.ModeContainer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(env("SLINKERD_DISCOVERY_BACKGROUND", tt.setting))
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Discovery.BackgroundRefresh(tt.mode))
		})
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct {
		name string
		in   config.LogLevel
		want slog.Level
	}{
		{"debug", config.LogLevelDebug, slog.LevelDebug},
		{"info", config.LogLevelInfo, slog.LevelInfo},
		{"warn", config.LogLevelWarn, slog.LevelWarn},
		{"error", config.LogLevelError, slog.LevelError},
		{"unknown is info", "", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.in.Level())
		})
	}
}
