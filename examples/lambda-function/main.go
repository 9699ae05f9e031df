// Command lambda-function is an AWS Lambda function, built with
// github.com/aws/aws-lambda-go for the provided.al2023 runtime, that calls
// another service by name through slinkerd.
//
// With the slinkerd layer attached, the extension listens on
// 127.0.0.1:4140 (SLINKERD_LISTEN) before the function starts, and the
// function sends plain HTTP there with a Host header naming the service:
// slinkerd delegates /svc/<service> through SLINKERD_DTAB, balances,
// retries and times out the call. Any language works the same way.
//
// With ROUTE_IN_PROCESS=1 the function routes in its own process instead,
// through the slinkerd package's Client (no extension needed; the same
// SLINKERD_* variables configure it).
//
// The event names the service and path to call; the function answers
// with what came back:
//
//	{"service": "users", "path": "/profile"}
//	→ {"status": 200, "body": "…", "headers": {"Content-Type": "…"}}
//
// Build it as the runtime expects (see deploy/README.md):
//
//	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -tags lambda.norpc \
//	    -o bootstrap ./examples/lambda-function
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/slinkerd/slinkerd"
	slinkerdlambda "github.com/slinkerd/slinkerd/adapters/awslambda"
	_ "github.com/slinkerd/slinkerd/discovery/fs" // /#/io.l5d.fs, if the dtab names it
)

// Request is the function's event.
type Request struct {
	// Service is the logical service to call, e.g. "users".
	Service string `json:"service"`
	// Path is the request path. Defaults to "/".
	Path string `json:"path"`
}

// Response is the function's answer: the called service's response.
type Response struct {
	// Status is the HTTP status slinkerd or the service answered.
	Status int `json:"status"`
	// Body is the response body (at most 1 MiB of it).
	Body string `json:"body"`
	// Headers are the response headers, first value of each.
	Headers map[string]string `json:"headers"`
}

// caller sends the function's requests: to the extension, or in process.
type caller struct {
	client *http.Client
	// proxy is the extension's host:port; "" routes in process, where the
	// URL's host names the service.
	proxy string
}

func main() {
	var c caller
	if os.Getenv("ROUTE_IN_PROCESS") == "1" {
		sc, err := slinkerd.New()
		if err != nil {
			log.Fatalf("slinkerd: %v", err)
		}
		c = caller{client: sc.HTTPClient()}
		awslambda.Start(slinkerdlambda.Handle(sc, c.handle))
		return
	}
	c = caller{client: &http.Client{}, proxy: extensionAddr()}
	awslambda.Start(c.handle)
}

// extensionAddr is where the extension listens: SLINKERD_LISTEN (the
// extension reads the same variable), on loopback when it names every
// interface.
func extensionAddr() string {
	addr := cmp.Or(os.Getenv("SLINKERD_LISTEN"), "127.0.0.1:4140")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1:4140"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (c caller) handle(ctx context.Context, in Request) (Response, error) {
	if in.Service == "" {
		return Response{}, fmt.Errorf("the event needs a service")
	}
	path := cmp.Or(in.Path, "/")
	url := "http://" + in.Service + path
	if c.proxy != "" {
		url = "http://" + c.proxy + path
	}
	// The invocation's context carries its deadline: slinkerd passes it on
	// as l5d-ctx-deadline in process; through the extension, set a total
	// timeout with SLINKERD_TIMEOUT_TOTAL.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, err
	}
	req.Host = in.Service
	resp, err := c.client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("call %s: %w", in.Service, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Response{}, fmt.Errorf("read %s: %w", in.Service, err)
	}
	out := Response{Status: resp.StatusCode, Body: string(body), Headers: map[string]string{}}
	for k := range resp.Header {
		out.Headers[k] = resp.Header.Get(k)
	}
	return out, nil
}
