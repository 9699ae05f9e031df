package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h1client"
	"github.com/slinkerd/slinkerd/internal/h2client"
	"github.com/slinkerd/slinkerd/internal/ready"
	"github.com/slinkerd/slinkerd/internal/reqctx"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"golang.org/x/net/http/httpguts"
)

// attemptTransport is the RoundTripper behind the ReverseProxy: it makes
// the attempts of one request — pick an endpoint, send, classify — and
// retries or requeues under the service's budget before any response
// byte has reached the caller.
//
// It holds what the attempts need and nothing of the Proxy: the pools,
// the clients of bound names, ID tokens, the observer, the clock and the
// union draw.
type attemptTransport struct {
	transports *Transports
	tokens     TokenSource
	// tokenHeader is the header the tokens go in (TokenHeaderer):
	// Authorization, or one the proxy owns.
	tokenHeader string
	clients     *clients
	observer    Observer
	clk         clock.Clock
	draw        func() float64 // a union's branch (balance.PickWeighted)
}

// tokenHeaderOf is the header ts's tokens go in: Authorization unless
// it names another (TokenHeaderer).
func tokenHeaderOf(ts TokenSource) string {
	if th, ok := ts.(TokenHeaderer); ok {
		if name := th.TokenHeader(); name != "" {
			return name
		}
	}
	return "Authorization"
}

// maxAttempts caps the attempts of one request whatever the budget says;
// maxRequeues caps the requeues among them.
const (
	maxAttempts = 25
	maxRequeues = 10
)

func (t *attemptTransport) RoundTrip(out *http.Request) (*http.Response, error) {
	rt := out.Context().Value(routeKey{}).(*route)
	return t.send(out.Context(), out, rt)
}

// send makes the attempts of out, whose context is ctx (out's own is not
// read: the direct path does not set it).
func (t *attemptTransport) send(ctx context.Context, out *http.Request, rt *route) (*http.Response, error) {
	pol := rt.policy
	pol.Budget.Deposit()
	cls := pol.Classifier
	if rt.grpc {
		cls = pol.GRPCClassifier
	}

	var body *replayBody
	if out.Body != nil && out.Body != http.NoBody {
		// The caller's body is closed by the server when the handler
		// returns; the per-attempt readers never close it.
		rt.replay = replayBody{src: out.Body, limit: pol.ReplayLimit}
		rt.replay.buf = rt.replaySmall[:0]
		body = &rt.replay
	}
	if len(rt.res.Bounds) == 0 {
		return nil, &Error{Status: http.StatusBadGateway, Msg: "no endpoints for " + rt.svcStr, Retryable: true}
	}
	if body != nil && pol.Signer != nil && pol.Signer.NeedsPayload() {
		// The signature covers the body's hash: read it (up to the
		// replay buffer) before the first attempt.
		if err := body.fill(); err != nil {
			return nil, err
		}
	}

	// held is the pick of the attempt in progress until its outcome is
	// reported: a panic on the way (a misbehaving endpoint, a bug) must
	// not leave the endpoint's pending count raised for good.
	var held *balance.Pick
	defer func() {
		if held != nil {
			held.Done(true)
		}
	}()

	var backoff time.Duration
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := ctx.Err(); err != nil {
				return nil, errors.Join(lastErr, err)
			}
		}
		c, residual, pick, err := t.pickBound(rt.res.Bounds)
		if err != nil {
			if errors.Is(err, balance.ErrNoEndpoints) && c != nil {
				return nil, &Error{Status: http.StatusBadGateway, Msg: c.bound.Addr.Peek().Explain("no endpoints for " + rt.svcStr + " (" + c.id + ")"), Retryable: true, Err: err}
			}
			return nil, err
		}
		rt.client, rt.endpoint = c.id, pick.HostPort
		held = pick

		resp, written, err := t.attempt(ctx, out, rt, c, residual, pick, body, attempt)
		if err != nil {
			held = nil
			pick.Done(true)
			lastErr = err
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, err
			}
			sent := written || (body != nil && body.consumed())
			if retry.Requeueable(err, sent) && rt.requeues < maxRequeues && attempt+1 < maxAttempts &&
				(body == nil || body.replayable()) && pol.Budget.TryWithdraw() {
				rt.requeues++
				continue
			}
			class := cls.Classify(retry.Response{Method: out.Method, Err: err})
			if class == retry.RetryableFailure && attempt+1 < maxAttempts && t.canRetry(ctx, body) && pol.Budget.TryWithdraw() {
				rt.retries++
				if backoff, err = t.wait(ctx, pol, backoff); err != nil {
					return nil, errors.Join(lastErr, err)
				}
				continue
			}
			if !sent && retry.Requeueable(err, false) {
				return nil, &Error{Status: http.StatusBadGateway, Msg: "connection to " + rt.endpoint + " failed", Retryable: true, Err: err}
			}
			return nil, err
		}

		class := cls.Classify(retry.Response{Method: out.Method, Status: resp.StatusCode, Header: resp.Header})
		if class == retry.RetryableFailure && attempt+1 < maxAttempts && t.canRetry(ctx, body) && pol.Budget.TryWithdraw() {
			held = nil
			pick.Done(true)
			discard(resp.Body)
			rt.retries++
			if backoff, err = t.wait(ctx, pol, backoff); err != nil {
				return nil, err
			}
			continue
		}
		rt.failed = class.IsFailure()
		if resp.StatusCode == http.StatusSwitchingProtocols {
			// The upgraded connection is the body; the ReverseProxy needs
			// it as an io.ReadWriteCloser, so leave it unwrapped.
			held = nil
			pick.Done(false)
			return resp, nil
		}
		held = nil // doneBody reports it
		if rt.inProto == 1 && body != nil && rt.w != nil && expectsContinue(out) && !body.started() {
			// The endpoint answered without asking for the body, and the
			// caller waits for a 100 Continue that will not come: close
			// its connection after this answer rather than wait for a
			// body it will not send.
			closeAfterAnswer(rt.w)
		}
		rt.done = doneBody{ReadCloser: resp.Body, pick: pick, resp: resp, method: out.Method, cls: cls, rt: rt, t: t}
		resp.Body = &rt.done
		return resp, nil
	}
	return nil, errors.Join(errors.New("too many attempts"), lastErr) // not reached: the last attempt returns
}

// canRetry says whether the request may be sent again in full.
func (t *attemptTransport) canRetry(ctx context.Context, body *replayBody) bool {
	if ctx.Err() != nil {
		return false
	}
	return body == nil || body.replayable()
}

// causeOf is context.Cause(ctx), which does not see the cause of a
// reqctx child.
func causeOf(ctx context.Context) error {
	if c, ok := ctx.(*reqctx.Context); ok {
		return c.Cause()
	}
	return context.Cause(ctx)
}

// wait sleeps for the next backoff or until ctx is done.
func (t *attemptTransport) wait(ctx context.Context, pol *Policy, prev time.Duration) (time.Duration, error) {
	d := pol.Backoff.Next(prev)
	if d <= 0 {
		return d, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return d, nil
	case <-ctx.Done():
		return d, ctx.Err()
	}
}

// attempt sends one attempt to the picked endpoint. written reports
// whether the request head may have reached the connection.
func (t *attemptTransport) attempt(ctx context.Context, out *http.Request, rt *route, c *client, residual name.Path, pick *balance.Pick, body *replayBody, n int) (*http.Response, bool, error) {
	tr, scheme := t.transports.forEndpoint(pick.Address, rt.inProto)

	direct := tr == t.transports.h1 && rt.h1ok
	// h2 sends through slinkerd's own HTTP/2 client, which, like the
	// direct one, takes the endpoint, context and head timeout apart.
	h2 := !direct && tr == t.transports.h2c && rt.fast && out.Method != http.MethodConnect
	headTO := t.transports.headTimeout
	if rt.grpc {
		headTO = 0
	}
	// One cancellable context per attempt, for whatever may end it early:
	// the attempt timeout, and on net/http's transports the response head
	// timeout and an interim-response flood. The first cause wins.
	attemptTO := rt.policy.AttemptTimeout
	var cancel context.CancelCauseFunc
	if rc, ok := ctx.(*reqctx.Context); ok && attemptTO > 0 && (direct || h2) {
		// The request context of slinkerd's own servers makes the child
		// at one allocation, and the clients keep a hook to set on it.
		ac := rc.Child()
		ctx, cancel = ac, ac.CancelCause
	} else if attemptTO > 0 || !direct && !h2 {
		ctx, cancel = context.WithCancelCause(ctx)
	}
	var timer *time.Timer
	deadline := rt.deadline
	var now time.Time // read only when there is a deadline to send
	if attemptTO > 0 || !deadline.IsZero() {
		now = t.clk.Now()
	}
	if attemptTO > 0 {
		timer = time.AfterFunc(attemptTO, func() { cancel(errAttemptTimeout) })
		if d := now.Add(attemptTO); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	var wrote atomic.Bool
	var head *headWatch
	if !direct && !h2 {
		n1xx := 0
		trace := &httptrace.ClientTrace{
			WroteHeaders: func() { wrote.Store(true) },
			// As many interim responses as the direct path takes
			// (h1client.MaxInformational); the ReverseProxy's own hook, which
			// passes them on, ignores what this one returns.
			Got1xxResponse: func(int, textproto.MIMEHeader) error {
				if n1xx++; n1xx > h1client.MaxInformational {
					cancel(h1client.ErrTooManyInformational)
				}
				return nil
			},
		}
		if headTO > 0 {
			// From the end of the request to the response head, as
			// net/http's ResponseHeaderTimeout, but per attempt.
			head = &headWatch{d: headTO, cancel: cancel}
			trace.WroteRequest = head.start
		}
		ctx = httptrace.WithClientTrace(ctx, trace)
	}

	var req *http.Request
	switch {
	case (direct || h2) && n == 0:
		// Sent on this goroutine (h2: its head is encoded before
		// RoundTrip returns), and nothing else reads out: use it as it
		// is. The client takes the endpoint and context apart.
		req = out
	case direct || h2:
		// A previous attempt may have gone through net/http, whose writer
		// could still read the headers.
		r2 := *out
		req = &r2
		req.Header = out.Header.Clone()
	default:
		req = out.WithContext(ctx)
		if n > 0 {
			req.Header = out.Header.Clone()
		}
		u := *out.URL
		u.Scheme = scheme
		u.Host = rt.endpoint // the picked endpoint, rendered once per attempt
		req.URL = &u
	}
	if scheme == "https" && pick.Address.Meta != nil && pick.Address.Meta["host"] != "" {
		req.Host = pick.Address.Meta["host"]
	}
	if body != nil {
		req.Body = body.reader()
		req.GetBody = nil
	}
	h := req.Header
	set := http.Header.Set
	if n == 0 {
		set = rt.setHeader
	}
	// Credentials belong to one attempt to one endpoint: every attempt
	// starts from the caller's own Authorization, whatever an earlier
	// attempt to another endpoint set.
	if n == 0 {
		rt.auth, rt.hasAuth = h["Authorization"]
	} else if rt.hasAuth {
		h["Authorization"] = rt.auth
	} else {
		delete(h, "Authorization")
	}
	tokenHeader := t.tokenHeader
	if tokenHeader != "Authorization" {
		// The proxy owns this header: no caller's value, and no token of
		// an earlier attempt, reaches an endpoint. (Authorization is the
		// caller's own, restored above.)
		delete(h, tokenHeader)
	}
	if aud := pick.Address.Meta["audience"]; aud != "" && t.tokens != nil {
		tok, err := t.tokens.Token(ctx, aud)
		if err != nil {
			if cancel != nil {
				cancel(nil)
			}
			// Nothing was sent: the caller may requeue to another endpoint.
			return nil, false, &Error{Status: http.StatusBadGateway, Msg: "cannot get an ID token for " + aud, Retryable: true, Err: err}
		}
		set(h, tokenHeader, "Bearer "+tok)
	}
	set(h, hdrDstClient, c.id)
	if len(residual) == 0 {
		delete(h, hdrDstResidual)
	} else {
		set(h, hdrDstResidual, c.residualString(residual))
	}
	if !deadline.IsZero() {
		setDeadlineHeaders(h, now, deadline, set)
	}
	if sg := rt.policy.Signer; sg != nil {
		// Last, over the headers as they will be sent.
		var payload []byte
		whole := body == nil
		if body != nil {
			payload, whole = body.whole()
		}
		if err := sg.Sign(ctx, req, payload, whole); err != nil {
			if cancel != nil {
				cancel(nil)
			}
			if timer != nil {
				timer.Stop()
			}
			var perr *Error
			if !errors.As(err, &perr) {
				perr = &Error{Status: http.StatusBadGateway, Msg: "cannot sign the request to " + rt.endpoint, Err: err}
			}
			return nil, false, perr
		}
	}

	var resp *http.Response
	var err error
	if direct {
		var written bool
		var info h1client.Informer
		if rt.w != nil {
			info = rt
		}
		resp, written, err = t.transports.direct.RoundTrip(ctx, req, rt.endpoint, info, headTO)
		wrote.Store(written)
	} else if h2 {
		var written bool
		var info h2client.Informer
		if rt.w != nil {
			info = rt
		}
		resp, written, err = t.transports.h2.RoundTrip(ctx, req, rt.endpoint, info, headTO)
		wrote.Store(written)
	} else {
		resp, err = tr.RoundTrip(req)
	}
	if body != nil && !direct && !released(req.Body) {
		// The transport may still read the body or the request on a
		// goroutine of its own (HTTP/2's body writer, net/http's): the
		// route must not go back to the pool.
		rt.lent = true
	}
	if timer != nil {
		timer.Stop()
	}
	if head != nil {
		head.stop()
	}
	if err == nil {
		serr := h1client.CheckStatus(resp.StatusCode)
		if serr == nil && !direct && !h2 && errors.Is(context.Cause(ctx), h1client.ErrTooManyInformational) {
			serr = h1client.ErrTooManyInformational // counted while the transport read on
		}
		if serr != nil {
			_ = resp.Body.Close()
			err = serr
		}
	}
	if err != nil {
		if cancel != nil {
			switch cause := causeOf(ctx); {
			case errors.Is(cause, errAttemptTimeout):
				// Not the caller's cancellation: report a timeout, which
				// classifiers may retry, instead of context.Canceled.
				err = fmt.Errorf("%w (%s) to %s: %v", errAttemptTimeout, rt.policy.AttemptTimeout, rt.endpoint, err)
			case errors.Is(cause, errResponseHeaderTimeout), errors.Is(cause, h1client.ErrTooManyInformational):
				err = fmt.Errorf("%w: %v", cause, err)
			}
			cancel(nil)
		}
		if errors.Is(err, errResponseHeaderTimeout) {
			err = &Error{Status: http.StatusGatewayTimeout, Err: err,
				Msg: fmt.Sprintf("no response head from %s within %s (SLINKERD_RESPONSE_HEADER_TIMEOUT)", rt.endpoint, headTO)}
		}
		return nil, wrote.Load(), err
	}
	if cancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		// (An upgraded connection's body must stay the transport's
		// io.ReadWriteCloser; the request's context ends its tunnel.)
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, true, nil
}

// expectsContinue says whether r asks for 100 Continue before its body.
func expectsContinue(r *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue")
}

// errResponseHeaderTimeout is the cause of an attempt whose endpoint sent
// no complete response head within the transports' ResponseHeaderTimeout.
var errResponseHeaderTimeout = h1client.ErrResponseHeaderTimeout

// headWatch times the wait for a response head on net/http's transports:
// it starts when the transport has written the request, on the
// transport's goroutine, and stops when RoundTrip returns, whichever
// comes first (a response may come before the request body is sent).
type headWatch struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
	done   bool
}

func (w *headWatch) start(httptrace.WroteRequestInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.timer = time.AfterFunc(w.d, func() { w.cancel(errResponseHeaderTimeout) })
	}
}

func (w *headWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// pickBound chooses a bound name of the union bs by weight and an
// endpoint of it, routing around names with no endpoints (Finagle's
// TrafficDistributor; balance.PickWeighted is the algorithm). It returns
// the chosen name's client and residual path; when no name has an
// endpoint the error is balance.ErrNoEndpoints and c the last client
// tried.
func (t *attemptTransport) pickBound(bs []name.WeightedValue[name.Bound]) (c *client, residual name.Path, pick *balance.Pick, err error) {
	pickIn := func(i int) (*balance.Pick, error) {
		cc, err := t.clients.get(bs[i].Value)
		if err != nil {
			return nil, err
		}
		c = cc
		c.sync()
		return c.bal.Pick()
	}
	if len(bs) == 1 {
		pick, err = pickIn(0)
		return c, bs[0].Value.Residual, pick, err
	}
	i, pick, err := balance.PickWeighted(len(bs), func(i int) float64 { return bs[i].Weight }, pickIn, t.draw)
	if i >= 0 && i < len(bs) {
		residual = bs[i].Value.Residual
	}
	return c, residual, pick, err
}

// discard drains a little of a body we are retrying past, so the
// connection can be reused, then closes it.
func discard(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 64<<10)
	_ = rc.Close()
}

// cancelBody releases an attempt's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

// Ready says whether a Read would return at once (see ready).
func (b *cancelBody) Ready() bool { return ready.Now(b.ReadCloser) }

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// doneBody reports the attempt's outcome to the balancer when the
// response body ends, classifying gRPC trailers then.
type doneBody struct {
	io.ReadCloser
	pick   *balance.Pick
	resp   *http.Response
	method string
	cls    retry.Classifier
	rt     *route
	t      *attemptTransport
	once   sync.Once
	ev     RequestEvent // reported once; kept here so it is not allocated apart
}

// Ready says whether a Read would return at once (see ready).
func (b *doneBody) Ready() bool { return ready.Now(b.ReadCloser) }

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *doneBody) Close() error {
	if b.rt.reqBody != nil {
		// The exchange is over. The HTTP/2 transport may still be writing
		// the request body, blocked in a Read of the caller's body, and its
		// Close waits for that Read: only closing the caller's body ends it.
		_ = b.rt.reqBody.Close()
	}
	err := b.ReadCloser.Close()
	b.finish(false)
	return err
}

// finish classifies the complete response (trailers included when the
// body reached EOF) and reports it once.
func (b *doneBody) finish(eof bool) {
	b.once.Do(func() {
		failed := b.rt.failed
		if eof && len(b.resp.Trailer) > 0 {
			failed = b.cls.Classify(retry.Response{Method: b.method, Status: b.resp.StatusCode, Header: b.resp.Header, Trailer: b.resp.Trailer}).IsFailure()
		} else if !eof {
			failed = true
		}
		b.pick.Done(failed)
		if obs := b.t.observer; obs != nil {
			rt := b.rt
			b.ev = RequestEvent{Service: rt.svcStr, Client: rt.client, Endpoint: rt.endpoint, Status: b.resp.StatusCode, Request: b.resp.Request, Response: b.resp,
				Failed: failed, Start: rt.start, Latency: b.t.clk.Now().Sub(rt.start), Retries: rt.retries, Requeues: rt.requeues}
			obs.Request(&b.ev)
		}
	})
}

// fill reads the caller's body into the replay buffer before the first
// attempt, until its end or one byte past the limit, so that a Signer can
// hash it. The buffer then holds every byte taken from the caller, one
// more than the limit at most: the first attempt replays it and reads on,
// and a retry stays possible until more is read.
func (b *replayBody) fill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen != 0 {
		return nil
	}
	b.begun.Store(true)
	for !b.eof && b.srcErr == nil && len(b.buf) <= b.limit {
		if len(b.buf) == cap(b.buf) {
			b.buf = slices.Grow(b.buf, min(max(len(b.buf), 4096), b.limit+1-len(b.buf)))
		}
		n, err := b.src.Read(b.buf[len(b.buf):min(cap(b.buf), b.limit+1)])
		b.buf = b.buf[:len(b.buf)+n]
		if err == io.EOF {
			b.eof = true
		} else if err != nil {
			b.srcErr = err
			return err
		}
	}
	return nil
}

// whole returns the whole body and true when the replay buffer holds all
// of it, read to its end.
func (b *replayBody) whole() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof && !b.overflow && b.srcErr == nil {
		return b.buf, true
	}
	return nil, false
}
