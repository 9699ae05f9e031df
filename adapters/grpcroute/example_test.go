package grpcroute_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/grpcroute"
)

// usersServer is a grpc-go service that answers with its name.
type usersServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (usersServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Username: "users"}, nil
}

// startUsers starts usersServer on 127.0.0.1 and returns the dtab that
// names it /svc/users.
func startUsers() (dtab string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, usersServer{})
	go func() { _ = gs.Serve(ln) }()
	return fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", ln.Addr().(*net.TCPAddr).Port), gs.Stop, nil
}

// callUsers makes one call on conn, with a deadline that is carried to
// the service.
func callUsers(conn *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetUsername())
}

// A grpc-go client built with DialOptions sends its calls through the
// Client's dtab: the target's authority, users, names /svc/users. Each
// call is balanced and retried by the service's policy.
func ExampleDialOptions() {
	dtab, stop, err := startUsers()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":       dtab, // /svc/users=>/$/inet/127.0.0.1/<port>
		"SLINKERD_SVC_POLICY": "/svc/users=classifier:grpc",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	conn, err := grpc.NewClient("passthrough:///users", grpcroute.DialOptions(c)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	callUsers(conn)
	// Output:
	// users
}

// DialOption is the dialer alone, for a client that sets its other
// options itself; the in-memory connection to the Client is cleartext.
func ExampleDialOption() {
	dtab, stop, err := startUsers()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": dtab}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	conn, err := grpc.NewClient("passthrough:///users",
		grpcroute.DialOption(c),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("orders/1.0"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	callUsers(conn)
	// Output:
	// users
}
