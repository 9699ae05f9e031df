package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// getOnce sends one GET with a fresh connection and checks that the
// answer is the backend's body, so a proxy's own error page never passes
// for a proxied request.
func getOnce(ctx context.Context, addr string, h2c bool) error {
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	req.Host = hostHTTP
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, backendBody) {
		return fmt.Errorf("got %s %q, want 200 with the backend's body", resp.Status, truncate(body, 200))
	}
	if h2c && resp.ProtoMajor != 2 {
		return fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	return nil
}

// grpcOnce makes one gRPC unary call (Health/Check) and checks SERVING.
func grpcOnce(ctx context.Context, addr string) error {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(hostGRPC))
	if err != nil {
		return fmt.Errorf("grpc client: %w", err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("Health/Check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("Health/Check: status %s, want SERVING", resp.GetStatus())
	}
	return nil
}

// check makes one request of each protocol the instance serves and
// marks the protocols that fail as unsupported, with the reason.
func check(ctx context.Context, in *instance) {
	for _, proto := range []string{protoH1, protoH2C, protoGRPC} {
		addr := in.addrs[proto]
		if addr == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		switch proto {
		case protoH1:
			err = getOnce(cctx, addr, false)
		case protoH2C:
			err = getOnce(cctx, addr, true)
		case protoGRPC:
			err = grpcOnce(cctx, addr)
		}
		cancel()
		if err != nil {
			if in.unsupported == nil {
				in.unsupported = map[string]string{}
			}
			in.unsupported[proto] = err.Error()
			delete(in.addrs, proto)
		}
	}
}

// waitReady polls the instance's HTTP/1.1 address with GETs until one is
// proxied, or limit passes, or its process exits. It returns how long
// that took from start.
func waitReady(ctx context.Context, in *instance, start time.Time, limit time.Duration) (time.Duration, error) {
	addr, h2c := in.addrs[protoH1], false
	if addr == "" { // an HTTP/2-only setup
		addr, h2c = in.addrs[protoH2C], true
	}
	end := start.Add(limit)
	var last error
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if in.proc != nil && in.proc.exited() {
			return 0, fmt.Errorf("%s exited: %v", in.proc.name, in.proc.err)
		}
		rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		last = getOnce(rctx, addr, h2c)
		cancel()
		if last == nil {
			return time.Since(start), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("no proxied request succeeded within %s: %w", limit, last)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// The start-up measurement's traffic: warmRequests HTTP/1.1 GETs over
// warmConns keep-alive connections, after which RSS is read.
const (
	warmRequests = 2000
	warmConns    = 8
)

// warm sends warmRequests GETs to the proxy at addr over warmConns
// keep-alive connections, and fails on the first that does not succeed.
func warm(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	errs := make(chan error, warmConns)
	for range warmConns {
		go func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			for range warmRequests / warmConns {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
				if err != nil {
					errs <- err
					return
				}
				req.Host = hostHTTP
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- fmt.Errorf("warm-up request: %w", err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("warm-up request: %s", resp.Status)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range warmConns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
