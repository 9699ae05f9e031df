package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
)

// TransportConfig configures the connection pools to endpoints.
type TransportConfig struct {
	// DialTimeout bounds connecting to an endpoint. Defaults to 5s.
	DialTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle this long. Defaults
	// to 60s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the HTTP/1.1 keep-alive pool size per
	// endpoint. Defaults to 256.
	MaxIdleConnsPerHost int
	// TLSConfig is used for https endpoints. Nil means the system roots.
	TLSConfig *tls.Config
	// MaxResponseHeaderBytes limits an endpoint's response headers.
	// Defaults to 1 MiB.
	MaxResponseHeaderBytes int64
}

// Transports are the pools the proxy sends through: HTTP/1.1 with
// keep-alive, cleartext HTTP/2 with prior knowledge (h2c) for callers that
// speak HTTP/2 (gRPC among them), and TLS with ALPN for https endpoints.
type Transports struct {
	h1, h2c, tls *http.Transport
	// direct sends the requests h1Eligible accepts to h1 endpoints.
	direct *h1Client
}

// NewTransports builds the pools.
func NewTransports(cfg TransportConfig) *Transports {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IdleConnTimeout == 0 {
		cfg.IdleConnTimeout = 60 * time.Second
	}
	if cfg.MaxIdleConnsPerHost == 0 {
		cfg.MaxIdleConnsPerHost = 256
	}
	if cfg.MaxResponseHeaderBytes == 0 {
		cfg.MaxResponseHeaderBytes = 1 << 20
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:            dialer.DialContext,
			MaxIdleConns:           0,
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:        cfg.IdleConnTimeout,
			MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes,
			DisableCompression:     true,
			ForceAttemptHTTP2:      false,
		}
	}
	h1 := base()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)

	h2c := base()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2c.HTTP2 = &http.HTTP2Config{PingTimeout: 15 * time.Second, SendPingTimeout: 30 * time.Second}

	tl := base()
	tl.TLSClientConfig = cfg.TLSConfig
	tl.Protocols = new(http.Protocols)
	tl.Protocols.SetHTTP1(true)
	tl.Protocols.SetHTTP2(true)
	tl.ForceAttemptHTTP2 = true
	direct := &h1Client{dial: dialer.DialContext, idleTimeout: cfg.IdleConnTimeout,
		maxIdle: cfg.MaxIdleConnsPerHost, maxHeader: cfg.MaxResponseHeaderBytes}
	return &Transports{h1: h1, h2c: h2c, tls: tl, direct: direct}
}

// CloseIdle closes idle pooled connections, e.g. after a Lambda thaw.
func (t *Transports) CloseIdle() {
	t.h1.CloseIdleConnections()
	t.h2c.CloseIdleConnections()
	t.tls.CloseIdleConnections()
	t.direct.closeIdle()
}

// forEndpoint chooses the pool and scheme for an attempt.
func (t *Transports) forEndpoint(a name.Address, inProto int) (*http.Transport, string) {
	if a.Meta != nil {
		if a.Meta["scheme"] == "https" {
			return t.tls, "https"
		}
		switch a.Meta["protocol"] {
		case "h2c":
			return t.h2c, "http"
		case "http/1.1", "h1":
			return t.h1, "http"
		}
	}
	if inProto == 2 {
		return t.h2c, "http"
	}
	return t.h1, "http"
}

// attemptTransport is the RoundTripper behind the ReverseProxy: it makes
// the attempts of one request — pick an endpoint, send, classify — and
// retries or requeues under the service's budget before any response
// byte has reached the caller.
type attemptTransport struct {
	p *Proxy
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
		body = newReplayBody(out.Body, pol.ReplayLimit)
	}
	if len(rt.res.Bounds) == 0 {
		return nil, &Error{Status: http.StatusBadGateway, Msg: "no endpoints for " + rt.svcStr, Retryable: true}
	}

	var backoff time.Duration
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := ctx.Err(); err != nil {
				return nil, errors.Join(lastErr, err)
			}
		}
		bound := pickBound(rt.res.Bounds)
		c, err := t.p.clients.get(bound)
		if err != nil {
			return nil, err
		}
		c.sync()
		pick, err := c.bal.Pick()
		if err != nil {
			if errors.Is(err, balance.ErrNoEndpoints) {
				return nil, &Error{Status: http.StatusBadGateway, Msg: "no endpoints for " + rt.svcStr + " (" + c.id + ")", Retryable: true, Err: err}
			}
			return nil, err
		}
		rt.client, rt.endpoint = c.id, pick.HostPort

		resp, written, err := t.attempt(ctx, out, rt, c, bound.Residual, pick, body, attempt)
		if err != nil {
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
			pick.Done(false)
			return resp, nil
		}
		resp.Body = &doneBody{ReadCloser: resp.Body, pick: pick, resp: resp, method: out.Method, cls: cls, rt: rt, p: t.p}
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
	tr, scheme := t.p.cfg.Transports.forEndpoint(pick.Address, rt.inProto)

	var cancel context.CancelCauseFunc
	var timer *time.Timer
	now := t.p.clk.Now()
	deadline := rt.deadline
	if to := rt.policy.AttemptTimeout; to > 0 {
		ctx, cancel = context.WithCancelCause(ctx)
		timer = time.AfterFunc(to, func() { cancel(errAttemptTimeout) })
		if d := now.Add(to); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	direct := tr == t.p.cfg.Transports.h1 && rt.h1ok
	var wrote atomic.Bool
	if !direct {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	}

	var req *http.Request
	switch {
	case direct && n == 0:
		// Sent on this goroutine, and nothing else reads out: use it as
		// it is. The direct client takes the endpoint and context apart.
		req = out
	case direct:
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
	if aud := pick.Address.Meta["audience"]; aud != "" && t.p.cfg.Tokens != nil {
		tok, err := t.p.cfg.Tokens.Token(ctx, aud)
		if err != nil {
			if cancel != nil {
				cancel(nil)
			}
			// Nothing was sent: the caller may requeue to another endpoint.
			return nil, false, &Error{Status: http.StatusBadGateway, Msg: "cannot get an ID token for " + aud, Retryable: true, Err: err}
		}
		set(h, "Authorization", "Bearer "+tok)
	}
	set(h, hdrDstClient, c.id)
	if len(residual) == 0 {
		delete(h, hdrDstResidual)
	} else {
		set(h, hdrDstResidual, residual.String())
	}
	if !deadline.IsZero() {
		setDeadlineHeaders(h, now, deadline, set)
	}

	var resp *http.Response
	var err error
	if direct {
		var written bool
		var info informer
		if rt.w != nil {
			info = rt
		}
		resp, written, err = t.p.cfg.Transports.direct.roundTrip(ctx, req, rt.endpoint, info)
		wrote.Store(written)
	} else {
		resp, err = tr.RoundTrip(req)
	}
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		if cancel != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errAttemptTimeout) {
				// Not the caller's cancellation: report a timeout, which
				// classifiers may retry, instead of context.Canceled.
				err = fmt.Errorf("%w (%s) to %s: %v", errAttemptTimeout, rt.policy.AttemptTimeout, rt.endpoint, err)
			}
			cancel(nil)
		}
		return nil, wrote.Load(), err
	}
	if cancel != nil {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, true, nil
}

// pickBound chooses among the bound names of a union by weight.
func pickBound(bs []name.WeightedValue[name.Bound]) name.Bound {
	if len(bs) == 1 {
		return bs[0].Value
	}
	x := rand.Float64()
	for _, b := range bs {
		if x < b.Weight {
			return b.Value
		}
		x -= b.Weight
	}
	return bs[len(bs)-1].Value
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
	p      *Proxy
	once   sync.Once
	ev     RequestEvent // reported once; kept here so it is not allocated apart
}

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
		if obs := b.p.cfg.Observer; obs != nil {
			rt := b.rt
			b.ev = RequestEvent{Service: rt.svcStr, Client: rt.client, Endpoint: rt.endpoint, Status: b.resp.StatusCode,
				Failed: failed, Latency: b.p.clk.Now().Sub(rt.start), Retries: rt.retries, Requeues: rt.requeues}
			obs.Request(&b.ev)
		}
	})
}

// bufferPool recycles the ReverseProxy's copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

var _ http.RoundTripper = (*attemptTransport)(nil)
