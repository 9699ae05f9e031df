// Package awslambda wraps an AWS Lambda function's handler, built with
// github.com/aws/aws-lambda-go, for a slinkerd.Client that the function
// calls its services through: before each invocation the Client drops
// pooled connections a freeze may have killed and refreshes stale
// discovery (Client.Refresh); after it, the invocation's metrics are
// written as EMF lines and waiting trace spans exported (Client.Flush),
// before Lambda may freeze the environment.
//
//	c, err := slinkerd.New()
//	…
//	lambda.Start(awslambda.Handle(c, handler))
//
// Calls made with the invocation's context carry its deadline and
// X-Amzn-Trace-Id. This package does not import aws-lambda-go: Handler
// has the method set of its lambda.Handler.
package awslambda

import (
	"context"

	"github.com/slinkerd/slinkerd"
)

// Handler has the method set of aws-lambda-go's lambda.Handler, so that
// Wrap takes and returns one: pass lambda.NewHandler(fn) and give the
// result to lambda.StartHandler.
type Handler interface {
	// Invoke runs one invocation.
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Invoke implements Handler.
func (f HandlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// Wrap returns h with c.Refresh before and c.Flush after each
// invocation.
func Wrap(c *slinkerd.Client, h Handler) Handler {
	return HandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		c.Refresh(ctx)
		defer c.Flush(ctx)
		return h.Invoke(ctx, payload)
	})
}

// Handle wraps a typed handler, the usual shape given to lambda.Start,
// with c.Refresh before and c.Flush after each invocation.
func Handle[TIn, TOut any](c *slinkerd.Client, h func(context.Context, TIn) (TOut, error)) func(context.Context, TIn) (TOut, error) {
	return func(ctx context.Context, in TIn) (TOut, error) {
		c.Refresh(ctx)
		defer c.Flush(ctx)
		return h(ctx, in)
	}
}
