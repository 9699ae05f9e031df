package slinkerd

import (
	"context"
	"net/http"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// traceHeaders are the trace-context headers a call carries on from the
// request that caused it: W3C, B3, Google Cloud Trace and AWS X-Ray.
var traceHeaders = []string{
	telemetry.HeaderTraceparent, telemetry.HeaderTracestate,
	telemetry.HeaderB3, telemetry.HeaderB3TraceID, telemetry.HeaderB3SpanID,
	telemetry.HeaderB3Parent, telemetry.HeaderB3Sampled, telemetry.HeaderB3Flags,
	telemetry.HeaderCloudTrace, telemetry.HeaderAmznTraceID,
}

// lambdaTraceKey is the context key under which aws-lambda-go stores an
// invocation's X-Amzn-Trace-Id: a plain string, not a typed key.
const lambdaTraceKey = "x-amzn-trace-id"

type traceKey struct{}

// ContextWithTrace returns ctx carrying the trace-context headers of h
// (an incoming request's: traceparent and tracestate, B3,
// X-Cloud-Trace-Context, X-Amzn-Trace-Id), which calls made through a
// Client with that context send on, so that they join the caller's
// trace. Handler does this for every request of an http.Handler.
func ContextWithTrace(ctx context.Context, h http.Header) context.Context {
	var t http.Header
	for _, k := range traceHeaders {
		if vv := h.Values(k); len(vv) > 0 {
			if t == nil {
				t = make(http.Header, 2)
			}
			t[k] = vv
		}
	}
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, t)
}

// Handler wraps a server's handler so that the calls it makes through a
// Client with its request's context carry the request's trace
// (ContextWithTrace). The request's deadline, if its server set one, is
// carried already: it is the context's.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(ContextWithTrace(r.Context(), r.Header)))
	})
}

// addTrace sets the trace headers ctx carries on h, unless h has trace
// context of its own.
func addTrace(ctx context.Context, h http.Header) {
	for _, k := range traceHeaders {
		if _, ok := h[k]; ok {
			return
		}
	}
	if t, ok := ctx.Value(traceKey{}).(http.Header); ok {
		for k, vv := range t {
			h[k] = vv
		}
		return
	}
	if v, ok := ctx.Value(lambdaTraceKey).(string); ok && v != "" {
		h.Set(telemetry.HeaderAmznTraceID, v)
	}
}
