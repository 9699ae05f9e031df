package grpcroute_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/grpcroute"
)

// server is a grpc-go TestService endpoint: UnaryCall answers with the
// endpoint's name, the call's deadline and the l5d-dst-service it was
// sent as; it fails the first `failFirst` calls with UNAVAILABLE.
type server struct {
	testgrpc.UnimplementedTestServiceServer
	name      string
	calls     atomic.Int64
	failFirst int64
	mu        sync.Mutex
	deadlines []time.Time
}

func (s *server) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	n := s.calls.Add(1)
	if n <= s.failFirst {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	if d, ok := ctx.Deadline(); ok {
		s.mu.Lock()
		s.deadlines = append(s.deadlines, d)
		s.mu.Unlock()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &testgrpc.SimpleResponse{Username: s.name, OauthScope: fmt.Sprint(md.Get("l5d-dst-service"))}, nil
}

func startServer(t *testing.T, s *server) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, s)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

// TestGRPCClientRoutesThroughDtab: a grpc-go client built with
// DialOptions reaches the endpoints the dtab names for its target's
// authority, balanced per call, with UNAVAILABLE retried under the
// service's gRPC policy and its deadline passed on.
func TestGRPCClientRoutesThroughDtab(t *testing.T) {
	a, b := &server{name: "a", failFirst: 1}, &server{name: "b", failFirst: 1}
	pa, pb := startServer(t, a), startServer(t, b)
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":       fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d & /$/inet/127.0.0.1/%d", pa, pb),
		"SLINKERD_SVC_POLICY": "/svc/users=classifier:grpc",
	}))
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()

	cc, err := grpc.NewClient("passthrough:///users", grpcroute.DialOptions(c)...)
	require.NoError(t, err)
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)

	seen := map[string]int{}
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		cancel()
		require.NoError(t, err, "call %d: the first UNAVAILABLE of each endpoint is retried", i)
		seen[resp.GetUsername()]++
		assert.Equal(t, "[/svc/users]", resp.GetOauthScope())
	}
	assert.Positive(t, seen["a"], "calls are balanced across the endpoints: %v", seen)
	assert.Positive(t, seen["b"], "calls are balanced across the endpoints: %v", seen)
	a.mu.Lock()
	defer a.mu.Unlock()
	require.NotEmpty(t, a.deadlines)
	assert.WithinDuration(t, time.Now().Add(5*time.Second), a.deadlines[0], 5*time.Second, "the call's deadline reaches the endpoint")

	// A service the dtab does not name fails with a gRPC status, not a
	// hang or a transport error.
	cc2, err := grpc.NewClient("passthrough:///orders", grpcroute.DialOptions(c)...)
	require.NoError(t, err)
	defer cc2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = testgrpc.NewTestServiceClient(cc2).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "no route: %v", err)
}
