// Command library-lambda is an AWS Lambda function, built with
// github.com/aws/aws-lambda-go, that routes its calls through slinkerd as
// a Go library: no extension, no layer, no port. The slinkerd.Client
// reads the same SLINKERD_* variables as the binary, names a call to
// http://users/profile as /svc/users through SLINKERD_DTAB, and passes
// the invocation's deadline (as l5d-ctx-deadline) and X-Amzn-Trace-Id
// on. awslambda.Handle refreshes the Client before each invocation and
// writes its metrics as CloudWatch EMF lines after it.
//
// It links one namer, /#/io.l5d.fs, by importing discovery/fs: the
// function ships its service files in its deployment package and points
// SLINKERD_FS_DIR at them. /$/inet/<ip>/<port> needs no import.
//
// The event names the service and path to call; the function answers with
// what came back:
//
//	{"service": "users", "path": "/profile"}
//	→ {"status": 200, "body": "…"}
//
// Build it for the provided.al2023 runtime and set, for example,
// SLINKERD_DTAB=/svc=>/#/io.l5d.fs and SLINKERD_FS_DIR=/var/task/disco:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -tags lambda.norpc \
//	    -o bootstrap ./examples/library-lambda
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/awslambda"
	_ "github.com/slinkerd/slinkerd/discovery/fs" // /#/io.l5d.fs
)

// Event is the function's input.
type Event struct {
	// Service is the logical service to call, e.g. "users".
	Service string `json:"service"`
	// Path is the request path. Defaults to "/".
	Path string `json:"path"`
}

// Result is the function's answer: the called service's response.
type Result struct {
	// Status is the HTTP status the service (or slinkerd) answered.
	Status int `json:"status"`
	// Body is the response body, at most 1 MiB of it.
	Body string `json:"body"`
}

// maxBody bounds the response body the function returns.
const maxBody = 1 << 20

// errNoService is returned for an event that names no service.
var errNoService = errors.New("the event needs a service")

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	c, err := slinkerd.New(slinkerd.WithLogger(log))
	if err != nil {
		log.Error("slinkerd", "err", err)
		os.Exit(1)
	}
	lambda.Start(handler(c))
}

// handler returns the function's handler, calling through c, wrapped by
// awslambda.Handle: what main gives lambda.Start.
func handler(c *slinkerd.Client) func(context.Context, Event) (Result, error) {
	f := function{client: c.HTTPClient()}
	return awslambda.Handle(c, f.handle)
}

// function calls services through a slinkerd Client.
type function struct {
	client *http.Client
}

// handle runs one invocation. The invocation's context carries its
// deadline and trace id; a request made with it carries both on.
func (f function) handle(ctx context.Context, ev Event) (Result, error) {
	if ev.Service == "" {
		return Result{}, errNoService
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ev.Service+cmp.Or(ev.Path, "/"), nil)
	if err != nil {
		return Result{}, fmt.Errorf("call %s: %w", ev.Service, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("call %s: %w", ev.Service, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", ev.Service, err)
	}
	return Result{Status: resp.StatusCode, Body: string(body)}, nil
}
