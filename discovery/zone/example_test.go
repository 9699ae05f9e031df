package zone_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slinkerd/slinkerd/discovery/zone"
	"github.com/slinkerd/slinkerd/test/fakes/ecsmeta"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// env returns a Getenv over a fixed environment.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// notGCE stands in for the DMI check, so the examples behave the same on
// any machine.
func notGCE() bool { return false }

func ExampleLearn() {
	// On GCE (here the local fake metadata server), instance/zone.
	gce, err := metadata.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer gce.Close()
	gce.Zone = "europe-west1-b"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	z, from, err := zone.Learn(ctx, zone.Config{Getenv: env(map[string]string{"GCE_METADATA_HOST": gce.Addr()}), OnGCE: notGCE})
	fmt.Println(z, from, err)

	// SLINKERD_ZONE wins without asking anything.
	z, from, err = zone.Learn(ctx, zone.Config{Explicit: "zone-a", Getenv: env(nil), OnGCE: notGCE})
	fmt.Println(z, from, err)

	// Lambda has no zone.
	_, from, err = zone.Learn(ctx, zone.Config{Getenv: env(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "orders"}), OnGCE: notGCE})
	fmt.Println(from, errors.Is(err, zone.ErrNoZone))
	// Output:
	// europe-west1-b gce <nil>
	// zone-a SLINKERD_ZONE <nil>
	// lambda true
}

func ExampleLearnable() {
	for _, vars := range []map[string]string{
		{"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:51678/v4/task-id"},
		{"GCE_METADATA_HOST": "127.0.0.1:8081"},
		{"K_SERVICE": "orders"},
		{"AWS_LAMBDA_FUNCTION_NAME": "orders"},
	} {
		fmt.Println(vars, zone.Learnable(zone.Config{Getenv: env(vars), OnGCE: notGCE}))
	}
	// Output:
	// map[ECS_CONTAINER_METADATA_URI_V4:http://127.0.0.1:51678/v4/task-id] true
	// map[GCE_METADATA_HOST:127.0.0.1:8081] true
	// map[K_SERVICE:orders] false
	// map[AWS_LAMBDA_FUNCTION_NAME:orders] false
}

// Start learns the zone in the background (here from the ECS task metadata
// endpoint, a local fake); Zone is cheap enough to call on every pick.
func ExampleStart() {
	ecs, err := ecsmeta.Start("127.0.0.1:0", "us-east-1b")
	if err != nil {
		panic(err)
	}
	defer ecs.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := zone.Start(ctx, zone.Config{Getenv: env(map[string]string{"ECS_CONTAINER_METADATA_URI_V4": ecs.URL()}), OnGCE: notGCE})
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		fmt.Println("timed out")
		return
	}
	from, err := s.Result()
	fmt.Println(s.Zone(), from, err)
	// Output:
	// us-east-1b ecs <nil>
}
