package cloudmap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/cloudmap"
	fake "github.com/slinkerd/slinkerd/test/fakes/cloudmap"
)

// exampleConfig points the real SDK at a local Cloud Map endpoint, with
// static credentials. In production, leave Config.Client nil: the
// namer loads the default AWS configuration (AWS_REGION, the task role,
// AWS_ENDPOINT_URL_SERVICEDISCOVERY).
func exampleConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// The namer binds <namespace>/<service>, optionally narrowed by
// <attr>=<value> segments (written \x3d in a path), to the instances
// Cloud Map returns; what follows is the residual. A service that does not
// exist binds to Neg, so that a dtab can fall back past it. An endpoint's
// weight is Config.WeightAttribute's value, or 0 (the default weight, 1)
// when the instance has none.
func ExampleNew() {
	cm, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cm.Close()
	cm.Register("prod", "users", "a", map[string]string{
		cloudmap.AttrIPv4: "10.0.0.1", cloudmap.AttrPort: "8080", "version": "v2",
		cloudmap.AttrAvailabilityZone: "us-east-1a",
	})
	cm.Register("prod", "users", "b", map[string]string{
		cloudmap.AttrIPv4: "10.0.0.2", cloudmap.AttrPort: "8080", "version": "v2", "weight": "0.5",
	})
	cm.Register("prod", "users", "c", map[string]string{
		cloudmap.AttrIPv4: "10.0.0.3", cloudmap.AttrPort: "8080", "version": "v1",
	})

	n, err := cloudmap.New(cloudmap.Config{
		Client:          cloudmap.NewClient(exampleConfig(cm.URL())),
		WeightAttribute: "weight",
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	ctx := context.Background()
	for _, p := range []string{"/prod/users/v1/list", `/prod/users/version\x3dv2/v1/list`, "/prod/orders"} {
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
			fmt.Println("  ", a.HostPort(), "weight", a.Weight, "meta", a.Meta)
		}
	}

	_, err = n.Lookup(ctx, name.MustParsePath("/prod"))
	fmt.Println(errors.Is(err, cloudmap.ErrInvalidPath), err)
	// Output:
	// /prod/users/v1/list => /#/io.l5d.cloudmap/prod/users residual /v1/list
	//    10.0.0.1:8080 weight 0 meta map[zone:us-east-1a]
	//    10.0.0.2:8080 weight 0.5 meta map[]
	//    10.0.0.3:8080 weight 0 meta map[]
	// /prod/users/version\x3dv2/v1/list => /#/io.l5d.cloudmap/prod/users/version\x3dv2 residual /v1/list
	//    10.0.0.1:8080 weight 0 meta map[zone:us-east-1a]
	//    10.0.0.2:8080 weight 0.5 meta map[]
	// /prod/orders => neg
	// true cloudmap: invalid path /prod: expected /<namespace>/<service>[/<attr>=<value>…]
}

// New validates its Config: an unknown health filter is an error.
func ExampleNew_invalid() {
	_, err := cloudmap.New(cloudmap.Config{HealthStatus: "SICK"})
	fmt.Println(err)
	// Output:
	// cloudmap: HealthStatus "SICK": must be one of HEALTHY, UNHEALTHY, ALL, HEALTHY_OR_ELSE_ALL
}

// State reports each name the namer has bound, as /admin/discovery.json
// shows it.
func ExampleNamer_State() {
	cm, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cm.Close()
	if err := cm.RegisterIP("prod", "users", "a", "10.0.0.1:8080", nil); err != nil {
		fmt.Println(err)
		return
	}

	n, err := cloudmap.New(cloudmap.Config{Client: cloudmap.NewClient(exampleConfig(cm.URL())), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	ctx := context.Background()
	for _, p := range []string{"/prod/users", "/prod/orders"} {
		if _, err := n.Lookup(ctx, name.MustParsePath(p)); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, s := range n.State() {
		fmt.Println(s.Name, s.State, s.Endpoints, s.Fetches)
	}
	// Output:
	// prod/orders neg [] 1
	// prod/users bound [{10.0.0.1 8080 0 map[]}] 1
}

// NewClient builds the servicediscovery client the namer uses; pass it
// as Config.Client to share one client between namers, or call Cloud Map
// directly with it. For a local endpoint it sends no "data-" host prefix.
func ExampleNewClient() {
	cm, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cm.Close()
	if err := cm.RegisterIP("prod", "users", "a", "10.0.0.1:8080", nil); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	client := cloudmap.NewClient(exampleConfig(cm.URL()))
	out, err := client.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{
		NamespaceName: aws.String("prod"),
		ServiceName:   aws.String("users"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, in := range out.Instances {
		fmt.Println(aws.ToString(in.InstanceId), in.Attributes[cloudmap.AttrIPv4], in.Attributes[cloudmap.AttrPort])
	}
	fmt.Println("data- prefix:", strings.HasPrefix(cm.LastHost(), "data-"))

	n, err := cloudmap.New(cloudmap.Config{Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	tree, err := n.Lookup(ctx, name.MustParsePath("/prod/users"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tree.Value.ID, tree.Value.Addr.Peek().Addresses)
	// Output:
	// a 10.0.0.1 8080
	// data- prefix: false
	// /#/io.l5d.cloudmap/prod/users [{10.0.0.1 8080 0 map[]}]
}

// IsThrottle tells Cloud Map's throttling (RequestLimitExceeded) from
// other failures; the namer backs off on it and keeps the last good set.
func ExampleIsThrottle() {
	cm, err := fake.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cm.Close()
	cm.CreateService("prod", "users")

	ctx := context.Background()
	client := cloudmap.NewClient(exampleConfig(cm.URL()))
	in := &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String("prod"), ServiceName: aws.String("orders")}
	_, err = client.DiscoverInstances(ctx, in)
	fmt.Println("ServiceNotFound:", cloudmap.IsThrottle(err))

	cm.SetMode(fake.Throttle)
	_, err = client.DiscoverInstances(ctx, in)
	fmt.Println("RequestLimitExceeded:", cloudmap.IsThrottle(err))
	// Output:
	// ServiceNotFound: false
	// RequestLimitExceeded: true
}
