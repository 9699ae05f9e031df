package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an error the proxy itself produces. It carries the HTTP status
// sent to the caller (with an l5d-err header) and whether the request
// provably never reached a server, in which case the response also says
// `l5d-retryable: true`.
//
// Statuses:
//
//	400 the request could not be identified, or carried a malformed
//	    l5d-dtab / l5d-ctx-dtab / l5d-ctx-deadline, or used an
//	    absolute-form target, or its body could not be read
//	408 the client stopped sending the request body (BodyReadTimeout)
//	413 the request body is over MaxRequestBodyBytes
//	502 the name is negative or failed, has no endpoints, every
//	    endpoint tried refused or reset the connection, or the endpoint's
//	    answer was malformed (status outside 100-599, too many 1xx)
//	504 the total or per-attempt timeout, or the caller's deadline,
//	    passed, or no response head came within the response head
//	    timeout
//	508 the request has passed through more slinkerd hops than allowed
//
// gRPC callers get the same outcome as a gRPC status in a trailers-only
// response (HTTP 200): INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED or
// FAILED_PRECONDITION respectively.
type Error struct {
	// Status is the HTTP status code for the caller.
	Status int
	// Msg is the l5d-err text.
	Msg string
	// Retryable marks failures that never reached a server.
	Retryable bool
	// Err is the cause, if any.
	Err error

	// closeConn: the error is about the caller's request body, so the
	// caller's HTTP/1 connection cannot carry another request.
	closeConn bool
}

// Error returns the message and its cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Unprocessed reports whether the request provably never reached a
// server (Retryable): a transport that returns such an error from an
// attempt (a Lambda function's throttling) gets it requeued under the
// budget, whatever the method (retry.Requeueable).
func (e *Error) Unprocessed() bool { return e.Retryable }

// grpcCode maps the proxy's HTTP status to a gRPC status code.
func (e *Error) grpcCode() int {
	switch e.Status {
	case http.StatusBadRequest:
		return 3 // INVALID_ARGUMENT
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return 4 // DEADLINE_EXCEEDED
	case http.StatusRequestEntityTooLarge:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusLoopDetected:
		return 9 // FAILED_PRECONDITION
	}
	return 14 // UNAVAILABLE
}

func errorf(status int, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// errAttemptTimeout is the cancel cause of an attempt that ran out of time.
var errAttemptTimeout = errors.New("per-attempt timeout")

// asProxyError turns any error from the forwarding path into an *Error.
func asProxyError(ctx context.Context, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	// The caller's own body failed: too large, or too slow.
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		e := errorf(http.StatusRequestEntityTooLarge, nil, "request body is over the limit of %d bytes (SLINKERD_MAX_REQUEST_BODY_BYTES)", mbe.Limit)
		e.closeConn = true
		return e
	}
	var be *bodyError
	if errors.As(err, &be) {
		var e *Error
		if be.timeout {
			e = errorf(http.StatusRequestTimeout, nil, "the client sent no request body bytes for %s (SLINKERD_BODY_READ_TIMEOUT)", be.d)
		} else {
			e = errorf(http.StatusBadRequest, be, "malformed or incomplete request body")
		}
		e.closeConn = true
		return e
	}
	if errors.Is(err, errAttemptTimeout) {
		return errorf(http.StatusGatewayTimeout, err, "request timed out")
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return errorf(http.StatusGatewayTimeout, err, "request timed out")
	}
	return errorf(http.StatusBadGateway, err, "request failed")
}

// writeError answers the caller with e: an l5d-err header and a short body,
// or a trailers-only gRPC status for gRPC callers. An error about the
// caller's body closes an HTTP/1 connection after the answer (RFC 9112
// §9.6: Connection: close), as net/http does without full duplex: what
// follows on the connection is not a request.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	if r.ProtoMajor == 1 && (e.closeConn || expectsContinue(r)) {
		// What follows is no request, or the caller waits for a 100
		// Continue before it sends its body (transport.go does the same
		// for answers from an endpoint).
		closeAfterAnswer(w)
	}
	h.Set("l5d-err", sanitizeHeaderValue(e.Error()))
	if e.Retryable {
		h.Set("l5d-retryable", "true")
	}
	if isGRPC(r) {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(e.grpcCode()))
		h.Set("Grpc-Message", grpcPercentEncode(e.Error()))
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = fmt.Fprintln(w, e.Error())
}

// sanitizeHeaderValue keeps a message usable as a header value.
func sanitizeHeaderValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	if len(b) > 1024 {
		b = b[:1024]
	}
	return string(b)
}

// grpcPercentEncode encodes a grpc-message value as the gRPC spec asks.
func grpcPercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			out = append(out, c)
			continue
		}
		out = append(out, '%', hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

func isGRPC(r *http.Request) bool {
	var ct string // r.Header.Get without canonicalising a canonical key
	if v := r.Header["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	return len(ct) >= 16 && ct[:16] == "application/grpc"
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	rt, _ := r.Context().Value(routeKey{}).(*route)
	p.answerError(w, r, r.Context(), rt, err)
}

// answerError answers a request whose attempts failed with err; ctx is
// the request's context as the attempts saw it.
func (p *Proxy) answerError(w http.ResponseWriter, r *http.Request, ctx context.Context, rt *route, err error) {
	e := asProxyError(ctx, err)
	if rt != nil && rt.body != nil {
		if te := rt.body.callerError(r); te != nil {
			// The body read timeout, or the guard's refusal of its framing,
			// also ended the request's context on HTTP/1 (net/http cancels
			// it on any connection read error); the client is still there
			// to be told.
			p.fail(w, r, rt, te, time.Time{})
			return
		}
	}
	if rt != nil && e.Status == http.StatusGatewayTimeout && !errors.Is(err, errAttemptTimeout) && !rt.deadline.IsZero() &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded)) {
		e.Msg = "request timed out: " + rt.deadlineWhy()
	}
	if ctx.Err() != nil && rt != nil && (rt.deadline.IsZero() || p.clk.Now().Before(rt.deadline)) {
		// The caller went away; nobody reads this answer.
		e = &Error{Status: 499, Msg: "client closed request", Err: err}
	}
	p.fail(w, r, rt, e, time.Time{})
}

// deadlineWhy says which deadline a request ran out of, and where it was
// when it did.
func (rt *route) deadlineWhy() string {
	var b strings.Builder
	if rt.totalDeadline {
		fmt.Fprintf(&b, "the total timeout of %v passed (SLINKERD_TIMEOUT_TOTAL or the service's policy)", rt.policy.TotalTimeout)
	} else {
		b.WriteString("the caller's deadline passed (l5d-ctx-deadline or grpc-timeout)")
	}
	if rt.endpoint != "" {
		fmt.Fprintf(&b, " waiting for %s", rt.endpoint)
	}
	if n := rt.retries + rt.requeues; n > 0 {
		fmt.Fprintf(&b, " after %d earlier attempts", n)
	}
	return b.String()
}

// fail answers with e and reports the outcome.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, rt *route, e *Error, start time.Time) {
	if e.Status != 499 {
		writeError(w, r, e)
	}
	svc, client := "", ""
	retries, requeues := 0, 0
	if rt != nil {
		svc, client, retries, requeues = rt.svcStr, rt.client, rt.retries, rt.requeues
		if start.IsZero() {
			start = rt.start
		}
	}
	p.log.Debug("request failed", "service", svc, "status", e.Status, "err", e.Error())
	if p.cfg.Observer != nil {
		ev := RequestEvent{Service: svc, Client: client, Status: e.Status, Failed: true, ProxyError: true, Request: r, Err: e,
			Start: start, Latency: p.clk.Now().Sub(start), Retries: retries, Requeues: requeues}
		if rt != nil {
			ev.Endpoint = rt.endpoint
		}
		p.cfg.Observer.Request(&ev)
	}
}
