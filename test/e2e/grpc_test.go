package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys the test server understands.
const (
	// mdEchoPrefix: every request key "x-echo-K" comes back as response
	// header "x-echo-K" and trailer "x-trailer-K" (so "-bin" keys stay
	// binary).
	mdEchoPrefix = "x-echo-"
	// mdCallID names a call so the test can follow it at the server.
	mdCallID = "x-call-id"
	// mdWait makes the handler wait for its context to end: "cancel" waits
	// (up to 30s) until the caller cancels or its deadline passes.
	mdWait = "x-wait"
)

// serverEvent is what the test server reports about one call.
type serverEvent struct {
	kind      string        // "waiting": the handler is blocked; "ended": its context is done
	deadline  time.Duration // time left on the handler's context at "waiting" (0: none)
	ctxErr    error         // ctx.Err() at "ended"
	authority string        // the request's :authority
	service   string        // the l5d-dst-service the proxy added
}

// testServer implements grpc.testing.TestService for the gRPC tests.
//
//	UnaryCall          echoes metadata; answers ResponseStatus if set, else
//	                   a payload of ResponseSize bytes of seededStream(size),
//	                   with the SHA-256 of the request payload in trailer
//	                   x-req-sha256 and its l5d-dst-service in trailer
//	                   x-saw-l5d-dst-service; a failing call with no
//	                   x-echo-* metadata gets a trailers-only response
//	StreamingInputCall sums the payload sizes; SHA-256 in x-req-sha256
//	StreamingOutputCall one message per ResponseParameters, each after
//	                   IntervalUs, of Size bytes of seededStream(size)
//	FullDuplexCall     per request, ResponseStatus if set, else one message
//	                   per ResponseParameters (or the request payload echoed
//	                   when there are none)
//
// Unary and bidi handlers honour mdWait; waits report events for mdCallID.
type testServer struct {
	testgrpc.UnimplementedTestServiceServer

	mu     sync.Mutex
	events map[string]chan serverEvent
}

// eventsOf returns the events of the call named id.
func (s *testServer) eventsOf(id string) chan serverEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = map[string]chan serverEvent{}
	}
	c := s.events[id]
	if c == nil {
		c = make(chan serverEvent, 8)
		s.events[id] = c
	}
	return c
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// echo returns the header and trailer metadata that answer md.
func echo(md metadata.MD) (header, trailer metadata.MD) {
	header, trailer = metadata.MD{}, metadata.MD{}
	for k, vs := range md {
		if rest, ok := strings.CutPrefix(k, mdEchoPrefix); ok {
			header.Append(k, vs...)
			trailer.Append("x-trailer-"+rest, vs...)
		}
	}
	return header, trailer
}

// waitIfAsked blocks as mdWait asks, if the call asks to.
func (s *testServer) waitIfAsked(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, mdWait) == "" {
		return nil
	}
	return s.wait(ctx, 0)
}

// wait blocks for d (30s if d <= 0) or until ctx ends, reporting a
// "waiting" event and, if ctx ends first, an "ended" one. It returns the
// status for ctx's error if ctx ended first.
func (s *testServer) wait(ctx context.Context, d time.Duration) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if d <= 0 {
		d = 30 * time.Second
	}
	events := s.eventsOf(first(md, mdCallID))
	ev := serverEvent{kind: "waiting", authority: first(md, ":authority"), service: first(md, "l5d-dst-service")}
	if dl, ok := ctx.Deadline(); ok {
		ev.deadline = time.Until(dl)
	}
	events <- ev
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		events <- serverEvent{kind: "ended", ctxErr: ctx.Err()}
		return status.FromContextError(ctx.Err()).Err()
	}
}

func payload(size int32) *testgrpc.Payload {
	b, _ := io.ReadAll(seededStream(uint64(size), int64(size)))
	return &testgrpc.Payload{Body: b}
}

func statusOf(st *testgrpc.EchoStatus) error {
	if st == nil || st.Code == 0 {
		return nil
	}
	return status.Error(codes.Code(st.Code), st.Message)
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (s *testServer) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

func (s *testServer) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h, tr := echo(md)
	tr.Set("x-req-sha256", hexSHA(req.GetPayload().GetBody()))
	tr.Set("x-saw-l5d-dst-service", first(md, "l5d-dst-service"))
	if len(h) > 0 {
		// Without headers to send, a failing call is answered with a
		// trailers-only response.
		if err := grpc.SetHeader(ctx, h); err != nil {
			return nil, err
		}
	}
	if err := grpc.SetTrailer(ctx, tr); err != nil {
		return nil, err
	}
	if err := s.waitIfAsked(ctx); err != nil {
		return nil, err
	}
	if err := statusOf(req.GetResponseStatus()); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Payload: payload(req.GetResponseSize())}, nil
}

func (s *testServer) StreamingInputCall(stream grpc.ClientStreamingServer[testgrpc.StreamingInputCallRequest, testgrpc.StreamingInputCallResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	h, tr := echo(md)
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	sum := sha256.New()
	var total int32
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		total += int32(len(req.GetPayload().GetBody()))
		sum.Write(req.GetPayload().GetBody())
	}
	tr.Set("x-req-sha256", hex.EncodeToString(sum.Sum(nil)))
	stream.SetTrailer(tr)
	return stream.SendAndClose(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: total})
}

func (s *testServer) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	h, tr := echo(md)
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	stream.SetTrailer(tr)
	for _, p := range req.GetResponseParameters() {
		if p.GetIntervalUs() > 0 {
			if err := s.wait(stream.Context(), time.Duration(p.GetIntervalUs())*time.Microsecond); err != nil {
				return err
			}
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: payload(p.GetSize())}); err != nil {
			return err
		}
	}
	return statusOf(req.GetResponseStatus())
}

func (s *testServer) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	h, tr := echo(md)
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	stream.SetTrailer(tr)
	for n := 0; ; n++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := statusOf(req.GetResponseStatus()); err != nil {
			return err
		}
		if len(req.GetResponseParameters()) == 0 {
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
				return err
			}
		}
		for _, p := range req.GetResponseParameters() {
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: payload(p.GetSize())}); err != nil {
				return err
			}
		}
		if n == 0 {
			// After the first answer: wait here if the call asks to.
			if err := s.waitIfAsked(ctx); err != nil {
				return err
			}
		}
	}
}

// dialGRPC returns a TestService client that connects to addr and names
// the service authority (so slinkerd routes /svc/<authority>).
func dialGRPC(t *testing.T, addr, authority string) testgrpc.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority(authority),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

func callCtx(t *testing.T, kv ...string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	return metadata.AppendToOutgoingContext(ctx, kv...), cancel
}

// binValue is a -bin metadata value with bytes that are not text.
var binValue = string([]byte{0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff})

// TestGRPC makes gRPC calls of every kind through slinkerd to a
// TestService backend, with grpc-go on both sides.
func TestGRPC(t *testing.T) {
	t.Parallel()
	srv := &testServer{}
	be := startGRPCBackend(t, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, srv) })
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("grpc-echo", be.Port)})
	c := dialGRPC(t, p.ProxyAddr, "grpc-echo")

	t.Run("unary 1MB both ways, headers and trailers", func(t *testing.T) {
		ctx, cancel := callCtx(t, "x-echo-text", "hello", "x-echo-text", "world", "x-echo-data-bin", binValue)
		defer cancel()
		reqBody, _ := io.ReadAll(seededStream(5, 1<<20))
		var header, trailer metadata.MD
		resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 1 << 20, Payload: &testgrpc.Payload{Body: reqBody}},
			grpc.Header(&header), grpc.Trailer(&trailer))
		require.NoError(t, err)
		assert.Equal(t, payload(1<<20).Body, resp.GetPayload().GetBody())
		assert.Equal(t, []string{hexSHA(reqBody)}, trailer.Get("x-req-sha256"), "the backend should get the request payload intact")
		assert.Equal(t, []string{"hello", "world"}, header.Get("x-echo-text"))
		assert.Equal(t, []string{binValue}, header.Get("x-echo-data-bin"))
		assert.Equal(t, []string{"hello", "world"}, trailer.Get("x-trailer-text"))
		assert.Equal(t, []string{binValue}, trailer.Get("x-trailer-data-bin"))
		assert.Equal(t, []string{"/svc/grpc-echo"}, trailer.Get("x-saw-l5d-dst-service"))
	})

	t.Run("client streaming", func(t *testing.T) {
		ctx, cancel := callCtx(t, "x-echo-data-bin", binValue)
		defer cancel()
		stream, err := c.StreamingInputCall(ctx)
		require.NoError(t, err)
		all := sha256.New()
		var total int32
		for i, size := range []int64{27182, 8, 0, 1828, 45904, 300_000} {
			b, _ := io.ReadAll(seededStream(uint64(100+i), size))
			all.Write(b)
			total += int32(size)
			require.NoError(t, stream.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: b}}))
		}
		resp, err := stream.CloseAndRecv()
		require.NoError(t, err)
		assert.Equal(t, total, resp.GetAggregatedPayloadSize())
		assert.Equal(t, []string{hex.EncodeToString(all.Sum(nil))}, stream.Trailer().Get("x-req-sha256"))
		assert.Equal(t, []string{binValue}, stream.Trailer().Get("x-trailer-data-bin"))
	})

	t.Run("server streaming", func(t *testing.T) {
		ctx, cancel := callCtx(t, "x-echo-text", "s")
		defer cancel()
		sizes := []int32{31415, 9, 2653, 0, 589793}
		req := &testgrpc.StreamingOutputCallRequest{}
		for _, s := range sizes {
			req.ResponseParameters = append(req.ResponseParameters, &testgrpc.ResponseParameters{Size: s})
		}
		stream, err := c.StreamingOutputCall(ctx, req)
		require.NoError(t, err)
		header, err := stream.Header()
		require.NoError(t, err)
		assert.Equal(t, []string{"s"}, header.Get("x-echo-text"))
		for i, s := range sizes {
			resp, err := stream.Recv()
			require.NoError(t, err, "message %d", i)
			assert.True(t, bytes.Equal(payload(s).Body, resp.GetPayload().GetBody()), "message %d: got %d bytes, want %d", i, len(resp.GetPayload().GetBody()), s)
		}
		_, err = stream.Recv()
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, []string{"s"}, stream.Trailer().Get("x-trailer-text"))
	})

	t.Run("bidi ping-pong", func(t *testing.T) {
		ctx, cancel := callCtx(t, "x-echo-data-bin", binValue)
		defer cancel()
		stream, err := c.FullDuplexCall(ctx)
		require.NoError(t, err)
		header, err := func() (metadata.MD, error) {
			// The first message makes the server send its headers.
			b := []byte("ping 0")
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: b}}); err != nil {
				return nil, err
			}
			resp, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			assert.Equal(t, b, resp.GetPayload().GetBody())
			return stream.Header()
		}()
		require.NoError(t, err)
		assert.Equal(t, []string{binValue}, header.Get("x-echo-data-bin"))
		for i, size := range []int32{31415, 9, 2653, 58979} {
			req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: size}}}
			require.NoError(t, stream.Send(req))
			resp, err := stream.Recv()
			require.NoError(t, err, "round %d", i)
			assert.Equal(t, payload(size).Body, resp.GetPayload().GetBody(), "round %d", i)
		}
		require.NoError(t, stream.CloseSend())
		_, err = stream.Recv()
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, []string{binValue}, stream.Trailer().Get("x-trailer-data-bin"))
	})

	statuses := []struct {
		name string
		code codes.Code
		msg  string
	}{
		{name: "permission denied", code: codes.PermissionDenied, msg: "you shall not pass"},
		{name: "unicode and escapes in the message", code: codes.NotFound, msg: "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n %41 100%"},
		{name: "no message", code: codes.ResourceExhausted},
		{name: "unavailable from the server", code: codes.Unavailable, msg: "backend says unavailable"},
	}
	for _, tc := range statuses {
		t.Run("status "+tc.name+" unary", func(t *testing.T) {
			ctx, cancel := callCtx(t, "x-echo-text", "trailer-with-error")
			defer cancel()
			var trailer metadata.MD
			_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(tc.code), Message: tc.msg}}, grpc.Trailer(&trailer))
			st := status.Convert(err)
			assert.Equal(t, tc.code, st.Code(), "status %v", st)
			assert.Equal(t, tc.msg, st.Message())
			assert.Equal(t, []string{"trailer-with-error"}, trailer.Get("x-trailer-text"), "trailers should come with the status")
		})
		t.Run("status "+tc.name+" bidi", func(t *testing.T) {
			// The client has not half-closed when the server ends the
			// call: the status must still arrive at once.
			ctx, cancel := callCtx(t)
			defer cancel()
			ctx, cancel3 := context.WithTimeout(ctx, 3*time.Second)
			defer cancel3()
			stream, err := c.FullDuplexCall(ctx)
			require.NoError(t, err)
			require.NoError(t, stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("x")}}))
			_, err = stream.Recv()
			require.NoError(t, err)
			start := time.Now()
			require.NoError(t, stream.Send(&testgrpc.StreamingOutputCallRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(tc.code), Message: tc.msg}}))
			_, err = stream.Recv()
			st := status.Convert(err)
			assert.Equal(t, tc.code, st.Code(), "status %v", st)
			assert.Equal(t, tc.msg, st.Message())
			assert.Less(t, time.Since(start), 2*time.Second, "the status should arrive as soon as the server ends the call")
		})
	}

	t.Run("trailers-only responses", func(t *testing.T) {
		// A server that fails a call before sending anything answers with
		// one HEADERS frame that ends the stream and carries grpc-status.
		// Repeat: a proxy that flushes those headers early, then ends the
		// stream with an empty DATA frame, loses the status only sometimes.
		const n = 100
		bad := map[string]int{}
		for range n {
			ctx, cancel := callCtx(t)
			var trailer metadata.MD
			_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Aborted), Message: "trailers only"}},
				grpc.Trailer(&trailer))
			if st := status.Convert(err); st.Code() != codes.Aborted || st.Message() != "trailers only" {
				bad["status: "+st.String()]++
			} else if got := trailer.Get("x-saw-l5d-dst-service"); len(got) != 1 || got[0] != "/svc/grpc-echo" {
				bad[fmt.Sprintf("trailer x-saw-l5d-dst-service: %q", got)]++
			}
			_, err = c.UnimplementedCall(ctx, &testgrpc.Empty{})
			if status.Code(err) != codes.Unimplemented {
				bad["unimplemented: "+status.Convert(err).String()]++
			}
			cancel()
		}
		assert.Empty(t, bad, "of %d trailers-only answers each of a failing and an unimplemented method, these went wrong", n)
	})

	t.Run("deadline exceeded", func(t *testing.T) {
		ctx, cancel := callCtx(t, mdWait, "cancel", mdCallID, "deadline")
		defer cancel()
		events := srv.eventsOf("deadline")
		const timeout = 700 * time.Millisecond
		ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
		defer cancelTimeout()
		start := time.Now()
		_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
		assert.Less(t, time.Since(start), 5*time.Second)
		ev := recv(t, events, 5*time.Second, "the server handler to start")
		assert.Equal(t, "waiting", ev.kind)
		assert.Greater(t, ev.deadline, time.Duration(0), "the deadline should reach the backend (grpc-timeout)")
		assert.LessOrEqual(t, ev.deadline, timeout, "the backend's deadline may not be later than the caller's")
		ev = recv(t, events, 5*time.Second, "the server handler's context to end")
		assert.Equal(t, "ended", ev.kind)
		assert.Error(t, ev.ctxErr)
	})

	cancels := []struct {
		name string
		call func(ctx context.Context) error // returns once the call is under way
	}{
		{name: "unary", call: func(ctx context.Context) error {
			_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
			return err
		}},
		{name: "server streaming after the first message", call: func(ctx context.Context) error {
			stream, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{
				{Size: 10}, {Size: 10, IntervalUs: 30_000_000},
			}})
			if err != nil {
				return err
			}
			if _, err := stream.Recv(); err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
		{name: "bidi after the first message", call: func(ctx context.Context) error {
			stream, err := c.FullDuplexCall(ctx)
			if err != nil {
				return err
			}
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte("hi")}}); err != nil {
				return err
			}
			if _, err := stream.Recv(); err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
	}
	for _, tc := range cancels {
		t.Run("client cancel reaches the backend: "+tc.name, func(t *testing.T) {
			id := "cancel " + tc.name
			ctx, cancel := callCtx(t, mdWait, "cancel", mdCallID, id)
			defer cancel()
			events := srv.eventsOf(id)
			errc := make(chan error, 1)
			go func() { errc <- tc.call(ctx) }()
			ev := recv(t, events, 10*time.Second, "the server handler to start waiting")
			require.Equal(t, "waiting", ev.kind)
			assert.Equal(t, "/svc/grpc-echo", ev.service)
			assert.Equal(t, "grpc-echo", ev.authority)
			cancel()
			ev = recv(t, events, 5*time.Second, "the cancel to reach the backend handler")
			assert.Equal(t, "ended", ev.kind)
			assert.ErrorIs(t, ev.ctxErr, context.Canceled)
			assert.Equal(t, codes.Canceled, status.Code(recv(t, errc, 5*time.Second, "the call to return")))
		})
	}

	t.Run("unknown service is UNAVAILABLE", func(t *testing.T) {
		ctx, cancel := callCtx(t)
		defer cancel()
		var header, trailer metadata.MD
		_, err := dialGRPC(t, p.ProxyAddr, "nosuch").UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
		st := status.Convert(err)
		assert.Equal(t, codes.Unavailable, st.Code(), "%v", err)
		assert.Contains(t, st.Message(), "/svc/nosuch")
		l5dErr := append(header.Get("l5d-err"), trailer.Get("l5d-err")...)
		assert.NotEmpty(t, l5dErr, "the proxy's error should carry l5d-err")
	})

	t.Run("many concurrent calls on one connection", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := callCtx(t)
				defer cancel()
				size := int32(1000 + i)
				resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: size})
				if err == nil && !bytes.Equal(resp.GetPayload().GetBody(), payload(size).Body) {
					err = errors.New("wrong payload")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
	})
}
