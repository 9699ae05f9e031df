// Command library-grpc is a grpc-go client whose calls slinkerd routes,
// as a Go library in the client's own process: the target
// passthrough:///users is named /svc/users through SLINKERD_DTAB, and
// every call is balanced on its own (not per connection) across the
// endpoints the dtab names, retried by the service's policy
// (SLINKERD_SVC_POLICY, e.g. classifier:grpc) and carries its deadline.
//
// It links no namer: /$/inet/<ip>/<port> is always there. A dtab naming
// /#/io.l5d.fs, /#/io.l5d.cloudmap or /#/io.l5d.cloudrun needs that
// namer's package imported (discovery/fs, …).
//
// It calls grpc.testing.TestService/UnaryCall (the interop test service
// of google.golang.org/grpc/interop/grpc_testing) a number of times and
// logs how many calls each endpoint answered, by the username in its
// response (servers that fill it in say which they are). Run two
// interop servers and:
//
//	SLINKERD_DTAB='/svc/users=>/$/inet/127.0.0.1/10000 & /$/inet/127.0.0.1/10001' \
//	SLINKERD_SVC_POLICY='/svc/users=classifier:grpc' \
//	    go run ./examples/library-grpc -calls 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/grpcroute"
)

// config is what the client does.
type config struct {
	// service is the logical name of the service to call: the target's
	// authority.
	service string
	// calls is how many calls to make.
	calls int
	// timeout bounds each call; its deadline reaches the endpoint.
	timeout time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.service, "service", "users", "the service to call, named /svc/<service> through SLINKERD_DTAB")
	flag.IntVar(&cfg.calls, "calls", 10, "how many calls to make")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "each call's deadline")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	answered, err := run(context.Background(), cfg, log, slinkerd.WithLogger(log))
	if err != nil {
		log.Error("library-grpc", "err", err)
		os.Exit(1)
	}
	log.Info("done", "answered_by", answered)
}

// run builds a slinkerd.Client with opts (from the SLINKERD_* variables
// by default), connects a grpc-go client to cfg.service through it, and
// makes cfg.calls unary calls, each with a deadline of cfg.timeout. It
// returns how many calls each endpoint answered, by the username in its
// response.
func run(ctx context.Context, cfg config, log *slog.Logger, opts ...slinkerd.Option) (answered map[string]int, err error) {
	c, err := slinkerd.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("library-grpc: %w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("library-grpc: close: %w", cerr)
		}
	}()
	// The target's authority is the service's name; the address is never
	// dialled: grpcroute connects to the Client's in-memory proxy.
	cc, err := grpc.NewClient("passthrough:///"+cfg.service, grpcroute.DialOptions(c)...)
	if err != nil {
		return nil, fmt.Errorf("library-grpc: %w", err)
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)

	answered = map[string]int{}
	for i := range cfg.calls {
		resp, err := call(ctx, client, cfg.timeout)
		if err != nil {
			return answered, fmt.Errorf("library-grpc: call %d to %s: %w", i, cfg.service, err)
		}
		answered[resp.GetUsername()]++
		log.Debug("answered", "call", i, "by", resp.GetUsername())
	}
	return answered, nil
}

// call makes one UnaryCall with a deadline of timeout.
func call(ctx context.Context, client testgrpc.TestServiceClient, timeout time.Duration) (*testgrpc.SimpleResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return client.UnaryCall(ctx, &testgrpc.SimpleRequest{FillUsername: true})
}
