// Command fakecloud runs the local cloud fakes of test/fakes on 127.0.0.1:
// the Cloud Map data plane (awsJson1_1), the Cloud Run Admin API v2
// (gRPC) and the metadata server (ID tokens). It prints the environment
// that points slinkerd (and the AWS and Google SDKs) at them, then serves
// until interrupted.
//
//	go run ./test/fakes/cmd/fakecloud -cloudmap-instance prod/users/a=127.0.0.1:8080 \
//	    -cloudrun-service proj/europe-west1/hello=https://127.0.0.1:8443
//
// Flags add Cloud Map instances and Cloud Run services at start; the fakes'
// Go APIs (test/fakes/cloudmap, cloudrun, metadata) do the rest in tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slinkerd/slinkerd/test/fakes/cloudmap"
	"github.com/slinkerd/slinkerd/test/fakes/cloudrun"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var instances, services list
	flag.Var(&instances, "cloudmap-instance", "register a Cloud Map instance: namespace/service/id=host:port (repeatable)")
	flag.Var(&services, "cloudrun-service", "add a Ready Cloud Run service: project/region/service=https://host[:port] (repeatable)")
	lifetime := flag.Duration("token-lifetime", metadata.DefaultLifetime, "lifetime of issued ID tokens")
	flag.Parse()
	if err := run(instances, services, *lifetime); err != nil {
		slog.Error("fakecloud", "error", err)
		os.Exit(1)
	}
}

func run(instances, services []string, lifetime time.Duration) error {
	cm, err := cloudmap.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer cm.Close()
	cr, err := cloudrun.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer cr.Close()
	md, err := metadata.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer md.Close()
	md.SetLifetime(lifetime)

	for _, in := range instances {
		key, hostPort, ok := strings.Cut(in, "=")
		parts := strings.Split(key, "/")
		if !ok || len(parts) != 3 {
			return fmt.Errorf("-cloudmap-instance %q: want namespace/service/id=host:port", in)
		}
		if err := cm.RegisterIP(parts[0], parts[1], parts[2], hostPort, nil); err != nil {
			return err
		}
	}
	for _, s := range services {
		key, uri, ok := strings.Cut(s, "=")
		parts := strings.Split(key, "/")
		if !ok || len(parts) != 3 || !strings.HasPrefix(uri, "https://") {
			return fmt.Errorf("-cloudrun-service %q: want project/region/service=https://host[:port]", s)
		}
		cr.SetService(cloudrun.ReadyService(parts[0], parts[1], parts[2], uri))
	}

	fmt.Println("# fake cloud APIs on 127.0.0.1; point slinkerd at them with:")
	aws := cloudmap.SDKEnv(cm.URL())
	for _, k := range slices.Sorted(maps.Keys(aws)) {
		fmt.Printf("export %s=%s\n", k, aws[k])
	}
	fmt.Printf("export SLINKERD_CLOUDRUN_ENDPOINT=%s\nexport GCE_METADATA_HOST=%s\n", cr.Addr(), md.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Printf("# calls: DiscoverInstances=%d DiscoverInstancesRevision=%d GetService=%d id-tokens=%d\n",
		cm.Calls("DiscoverInstances"), cm.Calls("DiscoverInstancesRevision"), cr.Calls("GetService"), md.TotalFetches())
	return nil
}
