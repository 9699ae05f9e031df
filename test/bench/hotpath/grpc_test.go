package hotpath_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// unaryServer answers UnaryCall with a 2-byte payload.
type unaryServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (unaryServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte("ok")}}, nil
}

// startGRPCBackend serves the interop TestService's UnaryCall with
// grpc-go on 127.0.0.1.
func startGRPCBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, unaryServer{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	tb.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return ln.Addr().String()
}

// grpcClient is a grpc-go client of addr, with :authority bench (the
// name slinkerd routes).
func grpcClient(tb testing.TB, addr string) testgrpc.TestServiceClient {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

// BenchmarkProxyGRPCUnary is one proxied gRPC unary call at a time over
// one HTTP/2 connection, grpc-go client to slinkerd to grpc-go server.
// The same number of direct calls is measured first and subtracted, as
// in BenchmarkProxyH2C: proxy-allocs/req is what slinkerd allocates per
// call (issue 17's goal: at most 30).
func BenchmarkProxyGRPCUnary(b *testing.B) {
	be := startGRPCBackend(b)
	addr := startSlinkerd(b, be)
	pc, dc := grpcClient(b, addr), grpcClient(b, be)
	ctx := context.Background()
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("hi")}}
	call := func(c testgrpc.TestServiceClient) {
		if _, err := c.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		call(pc)
		call(dc)
	}
	c0 := readCounters()
	for range b.N {
		call(dc)
	}
	c1 := readCounters()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		call(pc)
	}
	b.StopTimer()
	c2 := readCounters()
	reportPerRequest(b, b.N, c1.sub(c0), c2.sub(c1))
}
