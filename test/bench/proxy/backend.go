package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// backendBody is the fixed response body of every HTTP request.
var backendBody = []byte("hello from the slinkerd bench backend\n")

// backendPorts is the line the backend prints on stdout once it listens.
type backendPorts struct {
	// HTTP serves HTTP/1.1 and h2c (prior knowledge) on one port.
	HTTP string `json:"http"`
	// GRPC is grpc-go's own server (h2c), serving grpc.health.v1.Health.
	GRPC string `json:"grpc"`
}

// backendStats is what the backend answers on stdin's "stats" command.
type backendStats struct {
	HTTP uint64 `json:"http"`
	GRPC uint64 `json:"grpc"`
}

// runBackend is the -role backend process: the one origin server every
// setup is measured in front of. It serves a small fixed body over
// HTTP/1.1 and h2c, and gRPC unary (grpc.health.v1.Health/Check) on a
// second port with grpc-go's own transport, so that the backend is as
// cheap as Go makes it. It prints its ports as one JSON line, answers
// each "stats" line on stdin with a JSON line of request counts, and
// exits when stdin closes (so it never outlives the benchmark) or on
// SIGTERM.
func runBackend() error {
	var nHTTP, nGRPC atomic.Uint64
	bodyLen := []string{strconv.Itoa(len(backendBody))}
	textPlain := []string{"text/plain"}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("backend: listen: %w", err)
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("backend: listen: %w", err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nHTTP.Add(1)
			h := w.Header()
			h["Content-Type"] = textPlain
			h["Content-Length"] = bodyLen
			_, _ = w.Write(backendBody)
		}),
		Protocols:         protos,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err == nil {
			nGRPC.Add(1)
		}
		return resp, err
	}))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(hln) }()
	go func() { errc <- gs.Serve(gln) }()

	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(backendPorts{HTTP: hln.Addr().String(), GRPC: gln.Addr().String()}); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "stats" {
				_ = out.Encode(backendStats{HTTP: nHTTP.Load(), GRPC: nGRPC.Load()})
			}
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-stdinDone:
	case <-sig:
	case err = <-errc:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	gs.Stop()
	if err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("backend: %w", err)
	}
	return nil
}
