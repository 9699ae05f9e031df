package cloudrun_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/cloudrun"
	fake "github.com/slinkerd/slinkerd/test/fakes/cloudrun"
)

// The namer binds <project>/<region>/<service> to the service's URL, as
// one https endpoint on port 443 whose Meta tells the proxy to call it
// over TLS with an ID token for the audience. A service that does not
// exist, or has never been ready, binds to Neg.
//
// Config.Endpoint points the namer at a local Cloud Run Admin API (plain
// gRPC on loopback); in production leave it empty.
func ExampleNew() {
	api, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	api.SetService(fake.ReadyService("proj", "europe-west1", "users", "https://users-abc123-ew.a.run.app"))
	api.SetService(fake.ReadyService("proj", "europe-west1", "billing", "https://billing-abc123-ew.a.run.app"))
	api.Modify(fake.ServiceName("proj", "europe-west1", "billing"), func(s *runpb.Service) {
		// The first revision is still deploying.
		s.TerminalCondition.State = runpb.Condition_CONDITION_RECONCILING
		s.LatestReadyRevision = ""
	})

	n, err := cloudrun.New(cloudrun.Config{Endpoint: api.Addr(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	ctx := context.Background()
	for _, p := range []string{"/proj/europe-west1/users/v1/list", "/proj/europe-west1/billing", "/proj/europe-west1/orders"} {
		tree, err := n.Lookup(ctx, name.MustParsePath(p))
		if err != nil {
			fmt.Println(err)
			return
		}
		if tree.Kind != name.Leaf {
			fmt.Println(p, "=>", tree.Kind)
			continue
		}
		fmt.Println(p, "=>", tree.Value.ID, "residual", tree.Value.Residual)
		for _, a := range tree.Value.Addr.Peek().Addresses {
			fmt.Println("  ", a.HostPort(), a.Meta)
		}
	}

	_, err = n.Lookup(ctx, name.MustParsePath("/proj/users"))
	fmt.Println(errors.Is(err, cloudrun.ErrInvalidPath), err)
	// Output:
	// /proj/europe-west1/users/v1/list => /#/io.l5d.cloudrun/proj/europe-west1/users residual /v1/list
	//    users-abc123-ew.a.run.app:443 map[audience:https://users-abc123-ew.a.run.app host:users-abc123-ew.a.run.app scheme:https]
	// /proj/europe-west1/billing => neg
	// /proj/europe-west1/orders => neg
	// true cloudrun: invalid path /proj/users: expected /<project>/<region>/<service>
}

// Config.Audience replaces the service URL as the ID token audience, for
// services that check a custom audience.
func ExampleNew_audience() {
	api, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	api.SetService(fake.ReadyService("proj", "europe-west1", "users", "https://users-abc123-ew.a.run.app"))

	n, err := cloudrun.New(cloudrun.Config{
		Endpoint: api.Addr(),
		Audience: "https://users.example.com",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	tree, err := n.Lookup(context.Background(), name.MustParsePath("/proj/europe-west1/users"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tree.Value.Addr.Peek().Addresses[0].Meta["audience"])
	// Output: https://users.example.com
}

// New validates its Config: Endpoint must be host:port.
func ExampleNew_invalid() {
	_, err := cloudrun.New(cloudrun.Config{Endpoint: "localhost"})
	fmt.Println(err)
	// Output:
	// cloudrun: Endpoint "localhost": want host:port: address localhost: missing port in address
}

// State reports each name the namer has bound, as /admin/discovery.json
// shows it.
func ExampleNamer_State() {
	api, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	api.SetService(fake.ReadyService("proj", "europe-west1", "users", "https://users-abc123-ew.a.run.app"))

	n, err := cloudrun.New(cloudrun.Config{Endpoint: api.Addr(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	ctx := context.Background()
	for _, p := range []string{"/proj/europe-west1/users", "/proj/europe-west1/orders"} {
		if _, err := n.Lookup(ctx, name.MustParsePath(p)); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, s := range n.State() {
		fmt.Println(s.Name, s.State, len(s.Endpoints), s.Fetches)
	}
	// Output:
	// proj/europe-west1/orders neg 0 1
	// proj/europe-west1/users bound 1 1
}

// NewClient builds the Cloud Run services client the namer uses: with an
// endpoint on loopback, plain gRPC without credentials; with none, the
// default endpoint and Application Default Credentials. Pass it as
// Config.Client to share it, or call the Admin API directly. Close it
// yourself: the namer closes only a client it built.
func ExampleNewClient() {
	api, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	api.SetService(fake.ReadyService("proj", "europe-west1", "users", "https://users-abc123-ew.a.run.app"))

	ctx := context.Background()
	client, err := cloudrun.NewClient(ctx, api.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	svc, err := client.GetService(ctx, &runpb.GetServiceRequest{Name: fake.ServiceName("proj", "europe-west1", "users")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svc.GetName(), svc.GetUri())

	n, err := cloudrun.New(cloudrun.Config{Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	tree, err := n.Lookup(ctx, name.MustParsePath("/proj/europe-west1/users"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tree.Value.ID, tree.Value.Addr.Peek().Addresses[0].HostPort())
	// Output:
	// projects/proj/locations/europe-west1/services/users https://users-abc123-ew.a.run.app
	// /#/io.l5d.cloudrun/proj/europe-west1/users users-abc123-ew.a.run.app:443
}
