package cloudrun

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestWaitQuiet(t *testing.T) {
	const quiet = 50 * time.Millisecond

	t.Run("idle: quiet counted from since", func(t *testing.T) {
		f := newInflight()
		start := time.Now()
		require.NoError(t, f.waitQuiet(context.Background(), quiet, start))
		assert.GreaterOrEqual(t, time.Since(start), quiet)
	})

	t.Run("waits for the request in flight, then quiet", func(t *testing.T) {
		f := newInflight()
		f.add(1)
		done := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() { done <- f.waitQuiet(ctx, quiet, time.Now()) }()
		select {
		case err := <-done:
			t.Fatalf("returned with a request in flight: %v", err)
		default:
		}
		ended := time.Now()
		f.add(-1)
		select {
		case err := <-done:
			require.NoError(t, err)
			assert.GreaterOrEqual(t, time.Since(ended), quiet, "quiet is counted from the end of the last request")
		case <-time.After(5 * time.Second):
			t.Fatal("did not return after the request ended")
		}
	})

	t.Run("gives up at the deadline", func(t *testing.T) {
		f := newInflight()
		f.add(1)
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		defer cancel()
		err := f.waitQuiet(ctx, quiet, time.Now())
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	})
}

func TestIngressListen(t *testing.T) {
	tests := []struct {
		name    string
		listen  string
		environ map[string]string
		want    string
	}{
		{name: "explicit", listen: "127.0.0.1:9000", environ: map[string]string{"PORT": "8080"}, want: "127.0.0.1:9000"},
		{name: "Cloud Run's PORT", environ: map[string]string{"PORT": "8081"}, want: "0.0.0.0:8081"},
		{name: "no PORT", want: "0.0.0.0:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Ingress: config.IngressConfig{Listen: tt.listen}}
			assert.Equal(t, tt.want, ingressListen(cfg, tt.environ))
		})
	}
}
