package h2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// grpcService is a small TestService: echoes, sizes, and a call that
// waits for its context (for cancellation and deadlines).
type grpcService struct {
	testgrpc.UnimplementedTestServiceServer
	ended chan error // what the waiting call's context ended with
}

func grpcPayload(n int32) *testgrpc.Payload {
	return &testgrpc.Payload{Body: bytes.Repeat([]byte{'x'}, int(n))}
}

func (s *grpcService) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if req.GetResponseStatus() != nil {
		if req.GetResponseStatus().GetCode() == int32(codes.DeadlineExceeded) {
			<-ctx.Done()
			s.ended <- ctx.Err()
			return nil, ctx.Err()
		}
		return nil, status.Error(codes.Code(req.GetResponseStatus().GetCode()), req.GetResponseStatus().GetMessage())
	}
	return &testgrpc.SimpleResponse{Payload: grpcPayload(req.GetResponseSize())}, nil
}

func (s *grpcService) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for _, p := range req.GetResponseParameters() {
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: grpcPayload(p.GetSize())}); err != nil {
			return err
		}
	}
	return nil
}

func (s *grpcService) StreamingInputCall(stream grpc.ClientStreamingServer[testgrpc.StreamingInputCallRequest, testgrpc.StreamingInputCallResponse]) error {
	var total int32
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			return err
		}
		total += int32(len(req.GetPayload().GetBody()))
	}
}

func (s *grpcService) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			s.ended <- err
			return err
		}
		for _, p := range req.GetResponseParameters() {
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: grpcPayload(p.GetSize())}); err != nil {
				return err
			}
		}
	}
}

// TestGRPC serves grpc-go's (*grpc.Server).ServeHTTP through this server
// to a grpc-go client: every call shape, a cancelled call and a deadline.
func TestGRPC(t *testing.T) {
	svc := &grpcService{ended: make(chan error, 10)}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, svc)
	t.Cleanup(gs.Stop)
	ts := startServer(t, Config{Handler: gs})
	cc, err := grpc.NewClient("passthrough:///"+ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	c := testgrpc.NewTestServiceClient(cc)
	ctx := ctxTimeout(t, 30*time.Second)

	t.Run("unary", func(t *testing.T) {
		resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 300000, Payload: grpcPayload(200000)})
		require.NoError(t, err)
		assert.Len(t, resp.GetPayload().GetBody(), 300000)
	})
	t.Run("unary status", func(t *testing.T) {
		_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "nope"}})
		assert.Equal(t, codes.NotFound, status.Code(err))
		assert.Equal(t, "nope", status.Convert(err).Message())
	})
	t.Run("server streaming", func(t *testing.T) {
		stream, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 10}, {Size: 70000}, {Size: 1}}})
		require.NoError(t, err)
		var sizes []int
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			sizes = append(sizes, len(resp.GetPayload().GetBody()))
		}
		assert.Equal(t, []int{10, 70000, 1}, sizes)
	})
	t.Run("client streaming", func(t *testing.T) {
		stream, err := c.StreamingInputCall(ctx)
		require.NoError(t, err)
		for _, n := range []int32{27182, 8, 1828, 45904} {
			require.NoError(t, stream.Send(&testgrpc.StreamingInputCallRequest{Payload: grpcPayload(n)}))
		}
		resp, err := stream.CloseAndRecv()
		require.NoError(t, err)
		assert.Equal(t, int32(74922), resp.GetAggregatedPayloadSize())
	})
	t.Run("bidi", func(t *testing.T) {
		stream, err := c.FullDuplexCall(ctx)
		require.NoError(t, err)
		for _, n := range []int32{31415, 9, 2653, 58979} {
			require.NoError(t, stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: n}}, Payload: grpcPayload(n)}))
			resp, err := stream.Recv()
			require.NoError(t, err)
			assert.Len(t, resp.GetPayload().GetBody(), int(n))
		}
		require.NoError(t, stream.CloseSend())
		_, err = stream.Recv()
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		stream, err := c.FullDuplexCall(cctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}}))
		_, err = stream.Recv()
		require.NoError(t, err)
		cancel()
		_, err = stream.Recv()
		assert.Equal(t, codes.Canceled, status.Code(err))
		select {
		case err := <-svc.ended:
			assert.Error(t, err, "the server's stream ended with the cancel")
		case <-ctx.Done():
			t.Fatal("the server did not see the cancel")
		}
	})
	t.Run("deadline exceeded", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := c.UnaryCall(dctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.DeadlineExceeded)}})
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
		select {
		case err := <-svc.ended:
			assert.Error(t, err, "the server's context ended")
		case <-ctx.Done():
			t.Fatal("the server's context did not end")
		}
	})
}
