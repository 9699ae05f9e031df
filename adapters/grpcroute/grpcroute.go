// Package grpcroute routes grpc-go clients through a slinkerd.Client, so
// that their calls are named through the same dtab as its HTTP calls,
// load balanced per call (not per connection), retried by the service's
// policy (SLINKERD_SVC_POLICY, e.g. classifier:grpc) and carry their
// deadline. The target's authority names the service:
//
//	conn, err := grpc.NewClient("passthrough:///users", grpcroute.DialOptions(c)...)
//
// sends every call as /svc/users (with the default
// SLINKERD_DST_PREFIX). The connection to the Client's proxy is in
// memory and in cleartext (h2c); TLS to the endpoints, where they need
// it, is the proxy's. It is a package of its own so that programs that
// do not use gRPC do not link it.
package grpcroute

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slinkerd/slinkerd"
)

// DialOption returns the dial option that connects a grpc-go client to
// c's proxy, whatever the target's address.
func DialOption(c *slinkerd.Client) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return c.DialContext(ctx, "tcp", addr)
	})
}

// DialOptions returns DialOption(c) and the cleartext transport
// credentials the in-memory connection needs: what grpc.NewClient needs
// beyond the target to route through c.
func DialOptions(c *slinkerd.Client) []grpc.DialOption {
	return []grpc.DialOption{DialOption(c), grpc.WithTransportCredentials(insecure.NewCredentials())}
}
