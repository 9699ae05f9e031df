package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestPlatformVariablesPassStrictEnv(t *testing.T) {
	env := map[string]string{
		"SLINKERD_STRICT_ENV":                "on",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom",
		"OTEL_EXPORTER_OTLP_HEADERS":         "a=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":  "b=2",
		"OTEL_SERVICE_NAME":                  "edge",
		"OTEL_RESOURCE_ATTRIBUTES":           "deployment.environment.name=prod",
		"OTEL_TRACES_SAMPLER":                "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":            "0.1",
		"OTEL_SDK_DISABLED":                  "TRUE",
		"AWS_LAMBDA_FUNCTION_NAME":           "fn",
		"AWS_LAMBDA_LOG_FORMAT":              "JSON",
		"AWS_LAMBDA_LOG_LEVEL":               "WARN",
		"GOOGLE_CLOUD_PROJECT":               "proj",
	}
	cfg, err := config.Load(env)
	require.NoError(t, err, "OTEL_* and AWS_LAMBDA_* are not SLINKERD_* names")
	assert.Equal(t, config.PlatformEnv{
		OTLPEndpoint:       "http://collector:4318",
		OTLPTracesEndpoint: "http://collector:4318/custom",
		OTLPHeaders:        "b=2",
		ServiceName:        "edge",
		ResourceAttributes: "deployment.environment.name=prod",
		TracesSampler:      "parentbased_traceidratio",
		TracesSamplerArg:   "0.1",
		SDKDisabled:        true,
		LambdaFunctionName: "fn",
		LambdaLogFormat:    "JSON",
		LambdaLogLevel:     "WARN",
		GoogleCloudProject: "proj",
	}, cfg.Platform())
	assert.Equal(t, config.PlatformEnv{}, config.Default().Platform())
}
