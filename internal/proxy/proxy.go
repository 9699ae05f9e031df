// Package proxy is slinkerd's data path: an HTTP/1.1, HTTP/2 (h2c and TLS)
// and gRPC server that names each request (identify), delegates and binds
// the name (internal/bind), balances across the bound endpoints (core/balance)
// and forwards the request, streaming both ways, with retries under a
// budget, requeues, timeouts and deadlines (core/retry).
//
// The request's path through the code follows the package's files:
// server.go accepts it (HTTP/1.x through the own connection loop,
// internal/h1; the rest through net/http's server), proxy.go screens,
// identifies and binds it into a route (route.go), policy.go gives a
// name that binds its retry and timeout policy (a bounded table),
// direct.go forwards HTTP/1 requests without the ReverseProxy,
// headers.go adds the forwarding and l5d headers, attempt.go picks
// endpoints and makes attempts through the pools of transport.go (and
// internal/h1client, the fast path's own HTTP/1.1 client), replay.go keeps a
// bounded copy of the body for retries, and errors.go answers failures
// with l5d-err.
package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/h1client"
	"github.com/slinkerd/slinkerd/internal/reqctx"
	"golang.org/x/net/http/httpguts"
)

// The l5d headers the proxy reads and writes.
const (
	hdrDstService  = "L5d-Dst-Service"
	hdrDstClient   = "L5d-Dst-Client"
	hdrDstResidual = "L5d-Dst-Residual"
	hdrReqID       = "L5d-Reqid"
	hdrDtab        = "L5d-Dtab"
	hdrCtxDtab     = "L5d-Ctx-Dtab"
	hdrErr         = "L5d-Err"
	hdrRetryable   = "L5d-Retryable"
	viaToken       = "slinkerd"
)

// Config configures a Proxy.
type Config struct {
	// Interpreter binds names. Required.
	Interpreter *bind.Interpreter
	// Identifier names requests. Defaults to HeaderIdentifier{/svc}.
	Identifier Identifier
	// Balancer configures each client's balancer. Its zero value is peak
	// EWMA with the default failure accrual.
	Balancer balance.Config
	// Policy returns the policy of a service (see NewPolicy); it is asked
	// once per service name that binds. If nil, every service gets the
	// zero Policy's defaults with a ReplayLimit of
	// retry.DefaultReplayBufferBytes (64 KiB).
	Policy func(service name.Path) (*Policy, error)
	// DtabOverride honours l5d-dtab and l5d-ctx-dtab request headers.
	// Off by default: they are removed and ignored.
	DtabOverride bool
	// TrustL5DHeaders keeps l5d-dst-* and l5d-reqid headers a client
	// sends. Off by default: they are removed. l5d-ctx-deadline is always
	// honoured, since it can only shorten the time a request gets.
	TrustL5DHeaders bool
	// TrustForwarded keeps the client's Forwarded and X-Forwarded-For and
	// appends to them. Off by default: they are replaced.
	TrustForwarded bool
	// AllowAbsoluteForm accepts HTTP/1.1 absolute-form targets
	// ("GET http://host/ HTTP/1.1"), naming the request by their host.
	// Off by default: such requests get 400.
	AllowAbsoluteForm bool
	// MaxCallDepth is how many slinkerd hops (Via entries) a request may
	// have passed before it is refused with 508. Defaults to 10.
	MaxCallDepth int
	// MaxRequestBodyBytes caps a request body: a larger declared
	// Content-Length is refused with 413 before any endpoint is tried,
	// and a body that grows past it while streaming ends the request with
	// 413. Zero means no limit.
	MaxRequestBodyBytes int64
	// BodyReadTimeout is the longest the proxy waits for the next bytes
	// of a request body (nginx's client_body_timeout): a client that
	// stops sending gets 408 and its connection is closed. gRPC requests
	// are exempt (their streams may idle; their deadlines bound them).
	// Zero means no limit.
	BodyReadTimeout time.Duration
	// DisableFastPath sends every request through net/http's clients and
	// httputil.ReverseProxy, instead of sending HTTP/1.x requests without
	// a body, or with a small one, through slinkerd's own HTTP/1.1 client
	// on the calling goroutine, and requests to h2c endpoints through its
	// own HTTP/2 client (internal/h2client). Off (the fast path is used)
	// by default.
	DisableFastPath bool
	// BackendTLS configures TLS to https endpoints. Nil means the system
	// roots and the endpoint's host as SNI.
	Transports *Transports
	// Logger receives warnings about failed requests. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Clock tells the time for deadlines. Defaults to the real clock.
	Clock clock.Clock
	// Observer receives per-request events for telemetry. May be nil.
	Observer Observer
	// Tokens supplies ID tokens for endpoints that need one: an endpoint
	// whose Meta has "audience" gets "Authorization: Bearer <token>" for
	// that audience (Cloud Run service-to-service calls). May be nil, in
	// which case such endpoints are called without a token.
	Tokens TokenSource
}

// TokenSource returns an ID token for an audience, cached as it sees fit.
type TokenSource interface {
	// Token returns a bearer token for audience.
	Token(ctx context.Context, audience string) (string, error)
}

// Observer receives the proxy's events. Implementations must be fast and
// safe for concurrent use; internal/telemetry provides one.
type Observer interface {
	// Request is called once per request when it ends: when its response
	// body is finished, or when the proxy answered with an error. The
	// event must not be retained after the call.
	Request(ev *RequestEvent)
}

// RequestEvent describes one finished request.
type RequestEvent struct {
	// Service is the logical name, e.g. /svc/users; "" when the request
	// could not be identified.
	Service string
	// Client is the bound name of the last attempt, e.g.
	// /#/io.l5d.fs/users; "" when no attempt was made.
	Client string
	// Endpoint is the host:port of the last attempt; "" when none.
	Endpoint string
	// Status is the HTTP status sent to the caller.
	Status int
	// Failed is the classified outcome (gRPC status included).
	Failed bool
	// ProxyError is set when the proxy itself answered (l5d-err).
	ProxyError bool
	// Start is when the request arrived; zero when unknown.
	Start time.Time
	// Latency is from arrival to the end of the response.
	Latency time.Duration
	// Retries and Requeues count the extra attempts.
	Retries, Requeues int
	// Request is the request as the last attempt sent it (headers
	// included: l5d-reqid, traceparent), or, when the proxy answered
	// itself (ProxyError), the caller's request as the handler got it.
	// Nil when unknown. Read it during the call only.
	Request *http.Request
	// Response is the endpoint's response (its trailers are there once
	// the body ended); nil when the proxy answered itself. Read it during
	// the call only: its header may be the map the caller's answer is
	// then written from.
	Response *http.Response
	// Err is why the proxy answered itself (its l5d-err); nil otherwise.
	Err error
}

// Proxy is an http.Handler that routes requests by name.
type Proxy struct {
	cfg       Config
	clk       clock.Clock
	rp        *httputil.ReverseProxy
	transport *attemptTransport
	clients   clients
	policies  policyTable
	names     nameCache
	log       *slog.Logger

	lastForwarded atomic.Pointer[forwardedMemo] // forwarded's memory
}

// New returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Interpreter == nil {
		return nil, fmt.Errorf("proxy: Config.Interpreter is required")
	}
	if cfg.Identifier == nil {
		cfg.Identifier = HeaderIdentifier{}
	}
	if cfg.MaxCallDepth == 0 {
		cfg.MaxCallDepth = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Transports == nil {
		cfg.Transports = NewTransports(TransportConfig{})
	}
	// Fail now, not on the first request, if the balancer config is bad.
	if _, err := balance.New(cfg.Balancer); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{cfg: cfg, clk: clock.Or(cfg.Clock), log: cfg.Logger}
	p.clients.newBalancer = func() (balance.Balancer, error) { return balance.New(cfg.Balancer) }
	p.transport = &attemptTransport{transports: cfg.Transports, tokens: cfg.Tokens, tokenHeader: tokenHeaderOf(cfg.Tokens), clients: &p.clients,
		observer: cfg.Observer, clk: p.clk, draw: rand.Float64}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: p.transport,
		// 0: the ReverseProxy still flushes at once for responses of unknown
		// length (gRPC, streams) and event streams, and avoids a flush per
		// response and a timer goroutine otherwise.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorHandler:  p.errorHandler,
		ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// ServeHTTP identifies, routes and forwards one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.clk.Now()
	var h2Body io.Closer // the server's own body, before anything wraps it
	if r.ProtoMajor == 2 && r.Body != nil && r.Body != http.NoBody {
		h2Body = r.Body
	}
	if e := p.screen(r); e != nil {
		p.fail(w, r, nil, e, start)
		return
	}
	body, e := p.limitBody(w, r)
	if e != nil {
		p.fail(w, r, nil, e, start)
		return
	}
	w = callerWriter(w, r) // no 1xx for HTTP/1.0 callers (server.go)
	svc, svcStr, err := p.identify(r)
	if err != nil {
		p.fail(w, r, nil, &Error{Status: http.StatusBadRequest, Msg: "cannot identify request", Err: err}, start)
		return
	}
	rt := newRoute()
	rt.service, rt.svcStr, rt.start, rt.inProto, rt.grpc, rt.body = svc, svcStr, start, r.ProtoMajor, isGRPC(r), body

	var local name.Dtab
	if p.cfg.DtabOverride {
		if local, err = requestDtab(r.Header); err != nil {
			p.fail(w, r, rt, &Error{Status: http.StatusBadRequest, Msg: "malformed per-request dtab", Err: err}, start)
			return
		}
	}
	// Deadline: the caller's bounds the binding; the service's total
	// timeout, known once the name binds, may shorten it below.
	ctx := r.Context()
	deadline, ok, err := incomingDeadline(r.Header, start)
	if err != nil {
		p.fail(w, r, rt, &Error{Status: http.StatusBadRequest, Msg: "malformed deadline", Err: err}, start)
		return
	}
	if ok {
		if !deadline.After(start) {
			p.fail(w, r, rt, &Error{Status: http.StatusGatewayTimeout, Msg: "deadline already passed on arrival"}, start)
			return
		}
		rt.deadline = deadline
		var cancel context.CancelFunc
		if ctx, cancel = withDeadline(ctx, deadline); cancel != nil {
			defer cancel()
		}
	}

	rt.res, err = p.cfg.Interpreter.BindNamed(ctx, local, svc, rt.svcStr)
	if err != nil {
		p.fail(w, r, rt, asBindError(ctx, rt.svcStr, err), start)
		return
	}
	switch rt.res.Kind {
	case name.Neg:
		why := rt.res.Why
		if why == "" {
			why = "no dtab entry or namer binds it"
		}
		p.fail(w, r, rt, &Error{Status: http.StatusBadGateway, Msg: "no route to " + rt.svcStr + ": the name is negative (" + why + ")", Retryable: true}, start)
		return
	case name.Fail:
		p.fail(w, r, rt, &Error{Status: http.StatusBadGateway, Msg: "no route to " + rt.svcStr + ": delegation failed (!)", Retryable: true}, start)
		return
	}
	if len(rt.res.Bounds) == 0 {
		p.fail(w, r, rt, &Error{Status: http.StatusBadGateway, Msg: "no endpoints for " + rt.svcStr + ": the name is bound to an empty set", Retryable: true}, start)
		return
	}
	// The name binds: only now is a policy resolved and kept for it, so
	// names that bind nowhere leave no state (DESIGN.md §8).
	if rt.policy, err = p.policy(rt.svcStr, svc); err != nil {
		p.fail(w, r, rt, &Error{Status: http.StatusBadGateway, Msg: "no policy for " + rt.svcStr, Err: err}, start)
		return
	}
	if to := rt.policy.TotalTimeout; to > 0 {
		if d := start.Add(to); rt.deadline.IsZero() || d.Before(rt.deadline) {
			if !d.After(p.clk.Now()) {
				p.fail(w, r, rt, &Error{Status: http.StatusGatewayTimeout, Msg: "timed out binding " + rt.svcStr}, start)
				return
			}
			rt.deadline, rt.totalDeadline = d, true
			var cancel context.CancelFunc
			if ctx, cancel = withDeadline(ctx, d); cancel != nil {
				defer cancel()
			}
		}
	}
	// The synchronous client can send this request (and the ReverseProxy's
	// copy of it: same body, length and upgrade) to an HTTP/1.1 endpoint;
	// from an HTTP/1 caller, it then takes the direct path.
	rt.fast = !p.cfg.DisableFastPath
	if rt.fast && r.ProtoMajor == 1 && body != nil && r.ContentLength < 0 {
		inlineArrived(r, body)
	}
	rt.h1ok = rt.fast && h1client.Eligible(r)
	if rt.h1ok && r.ProtoMajor == 1 {
		p.serveDirect(w, r, ctx, rt)
		// Everything that read rt ran on this goroutine and is done (the
		// attempts, the response body, the observer's event): it goes
		// back to the pool. A panic (an aborted response) skips this.
		rt.release()
		return
	}
	if rt.fast && r.ProtoMajor == 2 {
		// HTTP/2 callers take the direct path too. rt goes back to the
		// pool unless an attempt lent the body to a transport that may
		// still read rt's replay buffer and request on a goroutine of its
		// own once the response has been passed on (HTTP/2's body writer,
		// net/http's transport). A body the HTTP/2 client sent whole with
		// the request's HEADERS (a unary gRPC message) it releases before
		// its RoundTrip returns.
		rt.reqBody = h2Body
		p.serveDirect(w, r, ctx, rt)
		if rt.out.Body == nil || !rt.lent {
			rt.release()
		}
		return
	}
	if r.ProtoMajor == 1 {
		// Pass the response on while the request body still arrives, as on
		// HTTP/2: by default net/http reads an HTTP/1 body to its end
		// before it writes a response.
		_ = http.NewResponseController(w).EnableFullDuplex()
		// which skips net/http's check of the body left after the
		// handler: settle does it (body.go).
		defer body.settle(w, r)
	}
	rt.reqBody = h2Body
	w = capInterim(w)
	rt.w = w
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, routeKey{}, rt)))
}

// screen refuses requests the proxy never forwards.
func (p *Proxy) screen(r *http.Request) *Error {
	if r.ProtoMajor == 1 && r.URL.IsAbs() && !p.cfg.AllowAbsoluteForm {
		return &Error{Status: http.StatusBadRequest, Msg: "absolute-form request targets are not accepted (SLINKERD_ALLOW_ABSOLUTE_FORM)"}
	}
	if r.Method == http.MethodConnect {
		return &Error{Status: http.StatusMethodNotAllowed, Msg: "CONNECT is not supported"}
	}
	hops := 0
	for _, v := range r.Header["Via"] {
		for _, part := range strings.Split(v, ",") {
			f := strings.Fields(part)
			if len(f) >= 2 && f[1] == viaToken {
				hops++
			}
		}
	}
	if hops >= p.cfg.MaxCallDepth {
		return &Error{Status: http.StatusLoopDetected, Msg: fmt.Sprintf("loop detected: the request already passed %d slinkerd hops (max %d)", hops, p.cfg.MaxCallDepth)}
	}
	// Per-request dtabs are an injection risk: drop them unless enabled.
	if !p.cfg.DtabOverride {
		r.Header.Del(hdrDtab)
		r.Header.Del(hdrCtxDtab)
	}
	for k := range r.Header {
		if strings.IndexByte(k, '_') >= 0 {
			// As nginx (underscores_in_headers off): a hop that reads "_"
			// as "-" would see Transfer_Encoding as a second framing.
			delete(r.Header, k)
			p.log.Debug("dropped a request header whose name has an underscore", "header", k)
			continue
		}
		if !p.cfg.TrustL5DHeaders && len(k) > 4 && strings.EqualFold(k[:4], "l5d-") && !strings.EqualFold(k, hdrCtxDeadline) &&
			!strings.EqualFold(k, hdrDtab) && !strings.EqualFold(k, hdrCtxDtab) {
			delete(r.Header, k)
		}
	}
	// Upgrade: h2c (RFC 7540 §3.2, dropped from RFC 9113) asks the next
	// hop to turn the connection into HTTP/2; as Envoy, strip it and its
	// HTTP2-Settings, and proxy the request as HTTP/1.1. Other upgrades
	// (websocket) stay.
	delete(r.Header, "Http2-Settings")
	if up := r.Header["Upgrade"]; len(up) > 0 && httpguts.HeaderValuesContainsToken(up, "h2c") {
		var keep []string
		for _, v := range up {
			for tok := range strings.SplitSeq(v, ",") {
				if tok = textproto.TrimString(tok); tok != "" && !strings.EqualFold(tok, "h2c") {
					keep = append(keep, tok)
				}
			}
		}
		if len(keep) == 0 {
			delete(r.Header, "Upgrade")
		} else {
			r.Header["Upgrade"] = []string{strings.Join(keep, ", ")}
		}
	}
	return nil
}

// limitBody applies MaxRequestBodyBytes and BodyReadTimeout to the
// request body, and tags its read errors as the caller's (callerBody).
func (p *Proxy) limitBody(w http.ResponseWriter, r *http.Request) (*callerBody, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	// A read the server's body would answer at once, the limit's reader
	// answers at once too: with the data, or with the error past the
	// limit.
	cb := &callerBody{ReadCloser: r.Body, ready: r.Body}
	if max := p.cfg.MaxRequestBodyBytes; max > 0 {
		if r.ContentLength > max {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge,
				Msg: fmt.Sprintf("request body of %d bytes is over the limit of %d (SLINKERD_MAX_REQUEST_BODY_BYTES)", r.ContentLength, max)}
		}
		cb.ReadCloser = http.MaxBytesReader(w, r.Body, max)
	}
	if d := p.cfg.BodyReadTimeout; d > 0 && !isGRPC(r) {
		cb.rc, cb.d = deadlinerOf(w), d
	}
	r.Body = cb
	return cb, nil
}

// withDeadline bounds the request context ctx by d. The context of
// slinkerd's own servers takes the deadline itself (reqctx.SetDeadline):
// no child to register, allocate and cancel, and the clients keep its
// hook. Any other gets a child from context.WithDeadline, and the cancel
// func to end it with.
func withDeadline(ctx context.Context, d time.Time) (context.Context, context.CancelFunc) {
	if rc, ok := ctx.(*reqctx.Context); ok {
		rc.SetDeadline(d)
		return ctx, nil
	}
	return context.WithDeadline(ctx, d)
}

// requestDtab parses l5d-ctx-dtab then l5d-dtab, in that order, so the
// caller's own l5d-dtab wins over one propagated from upstream.
func requestDtab(h http.Header) (name.Dtab, error) {
	var out name.Dtab
	for _, k := range []string{hdrCtxDtab, hdrDtab} {
		for _, v := range h.Values(k) {
			d, err := name.ParseDtab(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", strings.ToLower(k), err)
			}
			out = out.Concat(d)
		}
	}
	return out, nil
}

func asBindError(ctx context.Context, svc string, err error) *Error {
	if ctx.Err() != nil {
		return &Error{Status: http.StatusGatewayTimeout, Msg: "timed out binding " + svc, Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Msg: "cannot bind " + svc, Err: err, Retryable: true}
}

// rewrite builds the outgoing request: the transport fills in the
// endpoint, per-attempt headers and deadline.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	rt := pr.In.Context().Value(routeKey{}).(*route)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = "slinkerd.invalid" // replaced per attempt
	out.Host = pr.In.Host
	if expectsContinue(pr.In) {
		// Without it, net/http's Transport sends the body after a refusal
		// (417, 413) to keep the connection, reading it from the caller,
		// who is then told 100 Continue for a request already answered.
		out.Close = true
	}
	p.addHeaders(pr.In, out, rt)
}

var _ http.Handler = (*Proxy)(nil)

// ClientState is a snapshot of one bound name's client, for metrics and
// the dashboard.
type ClientState struct {
	// ID is the bound name, e.g. /#/io.l5d.fs/users.
	ID string
	// Addr is the name's address state: pending, bound, neg or failed.
	Addr string
	// Endpoints is each endpoint's balancer and accrual state.
	Endpoints []balance.EndpointStats
	// ZoneAware says the balancer routes by zone; LocalZone and
	// CrossZone then count its picks in slinkerd's zone and in others
	// (monotonic).
	ZoneAware            bool
	LocalZone, CrossZone uint64
}

// Clients returns a snapshot of every client the proxy has made.
func (p *Proxy) Clients() []ClientState {
	cs := p.clients.snapshot()
	out := make([]ClientState, 0, len(cs))
	for _, c := range cs {
		st := ClientState{ID: c.id, Addr: c.bound.Addr.Peek().State.String(), Endpoints: c.bal.Endpoints()}
		if zc, ok := c.bal.(balance.ZoneCounter); ok {
			st.ZoneAware = true
			st.LocalZone, st.CrossZone = zc.ZoneCounts()
		}
		out = append(out, st)
	}
	return out
}

// CloseIdleConnections closes pooled connections to endpoints that are not
// in use; the Lambda adapter calls it after a thaw.
func (p *Proxy) CloseIdleConnections() { p.cfg.Transports.CloseIdle() }
