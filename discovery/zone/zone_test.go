package zone_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/discovery/zone"
	"github.com/slinkerd/slinkerd/test/fakes/ecsmeta"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

func TestLearn(t *testing.T) {
	ecs, err := ecsmeta.Start("127.0.0.1:0", "us-east-1b")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ecs.Close() })
	ecsNoZone, err := ecsmeta.Start("127.0.0.1:0", "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ecsNoZone.Close() })
	gce, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	gce.Zone = "europe-west1-b"
	t.Cleanup(func() { _ = gce.Close() })
	gceNoZone, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = gceNoZone.Close() })

	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		want     string
		from     string
		noZone   bool // the error wraps ErrNoZone
		fails    bool // some other error
	}{
		{name: "explicit wins", explicit: "a", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": ecs.URL()}, want: "a", from: "SLINKERD_ZONE"},
		{name: "ecs", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": ecs.URL()}, want: "us-east-1b", from: "ecs"},
		{name: "ecs without a zone", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": ecsNoZone.URL()}, from: "ecs", noZone: true},
		{name: "ecs unreachable", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:1/v4/x"}, from: "ecs", fails: true},
		{name: "gce", env: map[string]string{"GCE_METADATA_HOST": gce.Addr()}, want: "europe-west1-b", from: "gce"},
		{name: "gce without a zone", env: map[string]string{"GCE_METADATA_HOST": gceNoZone.Addr()}, from: "gce", fails: true},
		{name: "cloud run has a region only", env: map[string]string{"K_SERVICE": "orders", "GCE_METADATA_HOST": gce.Addr()}, from: "cloudrun", noZone: true},
		{name: "lambda has none", env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, from: "lambda", noZone: true},
		{name: "nowhere", noZone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := zone.Config{Explicit: tt.explicit, Getenv: func(k string) string { return tt.env[k] }, OnGCE: func() bool { return false }}
			z, from, err := zone.Learn(context.Background(), cfg)
			assert.Equal(t, tt.want, z)
			assert.Equal(t, tt.from, from)
			switch {
			case tt.noZone:
				assert.ErrorIs(t, err, zone.ErrNoZone)
			case tt.fails:
				assert.Error(t, err)
			default:
				assert.NoError(t, err)
			}
		})
	}
}

func TestStartLearnsInTheBackground(t *testing.T) {
	ecs, err := ecsmeta.Start("127.0.0.1:0", "us-east-1c")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ecs.Close() })
	s := zone.Start(context.Background(), zone.Config{Getenv: func(k string) string {
		return map[string]string{"ECS_CONTAINER_METADATA_URI_V4": ecs.URL()}[k]
	}})
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("zone not learned within 10s")
	}
	assert.Equal(t, "us-east-1c", s.Zone())
	from, err := s.Result()
	assert.Equal(t, "ecs", from)
	assert.NoError(t, err)
	assert.Equal(t, 1, ecs.Fetches())

	explicit := zone.Start(context.Background(), zone.Config{Explicit: "a"})
	assert.Equal(t, "a", explicit.Zone(), "an explicit zone is there at once")
}

// Learnable tells, with no network call, whether a zone may be learned:
// where it is false the balancers need no zone at all.
func TestLearnable(t *testing.T) {
	cases := []struct {
		name     string
		explicit string
		env      map[string]string
		gce      bool
		want     bool
	}{
		{name: "explicit", explicit: "a", env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, want: true},
		{name: "ecs", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}, want: true},
		{name: "lambda", env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, gce: true, want: false},
		{name: "cloud run", env: map[string]string{"K_SERVICE": "s"}, gce: true, want: false},
		{name: "gce", gce: true, want: true},
		{name: "gce by metadata host", env: map[string]string{"GCE_METADATA_HOST": "127.0.0.1:1"}, want: true},
		{name: "elsewhere", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := zone.Config{Explicit: tc.explicit, Getenv: func(k string) string { return tc.env[k] }, OnGCE: func() bool { return tc.gce }}
			if got := zone.Learnable(cfg); got != tc.want {
				t.Fatalf("Learnable = %v, want %v", got, tc.want)
			}
		})
	}
}
