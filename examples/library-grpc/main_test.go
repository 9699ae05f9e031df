package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
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
	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "github.com/slinkerd/slinkerd", "google.golang.org/grpc.", "net/http.(*persistConn)")
}

// endpoint is a grpc-go TestService server: UnaryCall answers with the
// endpoint's name as the username, and records each call's deadline and
// l5d-dst-service. It fails its first call with UNAVAILABLE, which the
// service's gRPC policy retries.
type endpoint struct {
	testgrpc.UnimplementedTestServiceServer
	name string

	mu        sync.Mutex
	calls     int
	deadlines []time.Time // of the calls answered; zero for none
	dsts      []string
}

func (e *endpoint) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.calls == 1 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	d, _ := ctx.Deadline()
	e.deadlines = append(e.deadlines, d)
	md, _ := metadata.FromIncomingContext(ctx)
	e.dsts = append(e.dsts, fmt.Sprint(md.Get("l5d-dst-service")))
	return &testgrpc.SimpleResponse{Username: e.name}, nil
}

// start serves e on a loopback port until the test ends.
func (e *endpoint) start(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, e)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCallsReachBothEndpoints runs the client against two grpc-go
// servers that the dtab names for /svc/users: the calls are balanced
// across both, each endpoint's first UNAVAILABLE is retried, and every
// call arrives with its deadline and as /svc/users.
func TestCallsReachBothEndpoints(t *testing.T) {
	a, b := &endpoint{name: "a"}, &endpoint{name: "b"}
	pa, pb := a.start(t), b.start(t)
	cfg := config{service: "users", calls: 40, timeout: 5 * time.Second}
	log := slog.New(slog.DiscardHandler)
	started := time.Now()
	answered, err := run(context.Background(), cfg, log, slinkerd.WithLogger(log), slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":       fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d & /$/inet/127.0.0.1/%d", pa, pb),
		"SLINKERD_SVC_POLICY": "/svc/users=classifier:grpc",
	}))
	finished := time.Now()
	require.NoError(t, err)
	assert.Equal(t, cfg.calls, answered["a"]+answered["b"], "every call answered by a or b: %v", answered)

	for _, e := range []*endpoint{a, b} {
		e.mu.Lock()
		assert.Positive(t, len(e.deadlines), "endpoint %s got calls: %v", e.name, answered)
		assert.Equal(t, answered[e.name], len(e.deadlines), "endpoint %s", e.name)
		for i, d := range e.deadlines {
			assert.False(t, d.IsZero(), "endpoint %s call %d has no deadline", e.name, i)
			assert.True(t, !d.Before(started.Add(cfg.timeout-time.Second)) && !d.After(finished.Add(cfg.timeout)),
				"endpoint %s call %d: deadline %v, want about %v after the call", e.name, i, d, cfg.timeout)
		}
		for _, dst := range e.dsts {
			assert.Equal(t, "[/svc/users]", dst, "endpoint %s", e.name)
		}
		e.mu.Unlock()
	}
}

// TestUnknownServiceFails: a service the dtab does not name fails the
// run with a gRPC UNAVAILABLE status, not a hang.
func TestUnknownServiceFails(t *testing.T) {
	a := &endpoint{name: "a"}
	pa := a.start(t)
	log := slog.New(slog.DiscardHandler)
	_, err := run(context.Background(), config{service: "orders", calls: 1, timeout: 5 * time.Second}, log,
		slinkerd.WithLogger(log), slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", pa)}))
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}
