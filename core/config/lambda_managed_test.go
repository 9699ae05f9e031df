package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

// TestLambdaManagedInstances checks how the Managed Instances flavour of
// Lambda is told from the classic one: by the variables Lambda sets there
// (AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances,
// AWS_LAMBDA_MAX_CONCURRENCY), unless SLINKERD_LAMBDA_MANAGED decides.
func TestLambdaManagedInstances(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mode    config.Mode
		wantOn  bool
		wantMax int
	}{
		{name: "classic lambda", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, mode: config.ModeLambda},
		{name: "no platform variables", mode: config.ModeLambda},
		{name: "initialization type", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances", "AWS_LAMBDA_MAX_CONCURRENCY": "64"},
			mode: config.ModeLambda, wantOn: true, wantMax: 64},
		{name: "max concurrency alone", env: map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": "8"}, mode: config.ModeLambda, wantOn: true, wantMax: 8},
		{name: "capped at 1600", env: map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": "5000"}, mode: config.ModeLambda, wantOn: true, wantMax: 1600},
		{name: "bad max concurrency", env: map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": "lots"}, mode: config.ModeLambda, wantOn: true},
		{name: "zero max concurrency", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances", "AWS_LAMBDA_MAX_CONCURRENCY": "0"},
			mode: config.ModeLambda, wantOn: true},
		{name: "forced off", env: map[string]string{"SLINKERD_LAMBDA_MANAGED": "false", "AWS_LAMBDA_MAX_CONCURRENCY": "64"},
			mode: config.ModeLambda, wantMax: 64},
		{name: "forced on", env: map[string]string{"SLINKERD_LAMBDA_MANAGED": "true"}, mode: config.ModeLambda, wantOn: true},
		{name: "container mode", env: map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances", "AWS_LAMBDA_MAX_CONCURRENCY": "64"},
			mode: config.ModeContainer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.env)
			require.NoError(t, err)
			gotMax, gotOn := cfg.LambdaManagedInstances(tt.mode)
			assert.Equal(t, tt.wantOn, gotOn, "on")
			assert.Equal(t, tt.wantMax, gotMax, "max concurrency")
		})
	}
}
