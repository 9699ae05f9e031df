package main

import "testing"

// TestLambdaMode covers the one mode decision made without a loaded
// configuration: whether to report a configuration error to Lambda.
func TestLambdaMode(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{name: "auto in Lambda", env: map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, want: true},
		{name: "explicit auto in Lambda", env: map[string]string{"SLINKERD_MODE": "auto", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, want: true},
		{name: "explicit lambda", env: map[string]string{"SLINKERD_MODE": "lambda", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, want: true},
		{name: "lambda without the API cannot report", env: map[string]string{"SLINKERD_MODE": "lambda"}, want: false},
		{name: "container in Lambda", env: map[string]string{"SLINKERD_MODE": "container", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, want: false},
		{name: "invalid mode", env: map[string]string{"SLINKERD_MODE": "lamda", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, want: false},
		{name: "Cloud Run", env: map[string]string{"K_SERVICE": "frontend"}, want: false},
		{name: "nothing", env: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lambdaMode(tt.env); got != tt.want {
				t.Errorf("lambdaMode(%v) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}
