package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/slinkerd/slinkerd/adapters/app"
	"github.com/slinkerd/slinkerd/core/config"
)

// lambdaTraceKey is the context key under which aws-lambda-go stores the
// invocation's X-Amzn-Trace-Id: a plain string, not a typed key.
const lambdaTraceKey = "x-amzn-trace-id"

// Router routes a function's HTTP calls by service name through
// slinkerd's core, inside the function's own process: the in-function
// mode, for functions that cannot or do not want to ship the extension.
// A request's host names the service, as with the proxy: a GET of
// http://users/profile is routed as /svc/users through SLINKERD_DTAB and
// the namers, balanced, retried and timed out like any other.
//
// The Router serves the same proxy handler as the binary, through an
// in-memory listener: no port is opened and nothing listens. That keeps
// one data path (naming, l5d headers, requeues, retries, deadlines,
// l5d-err) instead of a second copy shaped as a RoundTripper, at the
// cost of encoding each request once as HTTP/1.1 into a pipe.
//
// A request whose context has a deadline (the invocation's, when the
// handler passes its context on) carries it as l5d-ctx-deadline, and one
// without X-Amzn-Trace-Id gets the invocation's, so downstream services
// see the same deadline and trace.
//
// Wrap the handler with Wrap or Handle so that each invocation refreshes
// stale discovery and, after a thaw, drops pooled connections first.
//
// A Router is safe for concurrent use.
type Router struct {
	app     *app.App
	ln      *memListener
	srv     *http.Server
	tr      *http.Transport
	act     *activity
	thawGap time.Duration
	metrics io.Writer
	log     *slog.Logger
	served  chan struct{}
}

// RouterOption configures NewRouter.
type RouterOption func(*Router)

// WithMetrics sets where EMF metric lines are written after each
// invocation. Defaults to os.Stdout; nil turns them off.
func WithMetrics(w io.Writer) RouterOption { return func(r *Router) { r.metrics = w } }

// WithLogger sets the logger. Defaults to slog.Default().
func WithLogger(l *slog.Logger) RouterOption { return func(r *Router) { r.log = l } }

// NewRouter builds a Router from cfg (as config.Load returns it).
// SLINKERD_LISTEN and SLINKERD_ADMIN_LISTEN are not used: nothing listens.
func NewRouter(cfg *config.Config, opts ...RouterOption) (*Router, error) {
	r := &Router{metrics: os.Stdout, log: slog.Default(), thawGap: cfg.Run.LambdaThawGap, served: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	a, err := app.Build(cfg, config.ModeLambda, r.log)
	if err != nil {
		return nil, fmt.Errorf("lambda: %w", err)
	}
	r.app = a
	r.act = newActivity(time.Now())
	idle := 64
	if maxConcurrency, managed := cfg.LambdaManagedInstances(config.ModeLambda); managed {
		// Many invocations at once, and no freeze between them: no
		// thaw to handle, and as many pooled in-memory connections as
		// invocations.
		r.thawGap = -1
		idle = max(idle, maxConcurrency)
	}
	r.ln = newMemListener()
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	r.srv = &http.Server{
		Handler:           r.act.wrap(a.Proxy),
		ReadHeaderTimeout: cfg.Proxy.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		Protocols:         protos,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	r.tr = &http.Transport{
		DialContext:         r.ln.DialContext,
		Protocols:           protos,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(r.ln)
	}()
	return r, nil
}

// NewRouterFromEnv builds a Router from the SLINKERD_* variables of the
// function's environment, validated as the binary validates them.
func NewRouterFromEnv(opts ...RouterOption) (*Router, error) {
	cfg, err := config.LoadFromProcess(app.Validators()...)
	if err != nil {
		return nil, fmt.Errorf("lambda: %w", err)
	}
	return NewRouter(cfg, opts...)
}

// RoundTrip implements http.RoundTripper: it routes req by its host
// through the proxy. https URLs are accepted and sent the same way: the
// scheme to the endpoint is the endpoint's (its namer's metadata), not
// the caller's.
func (r *Router) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out := req.Clone(ctx)
	if out.URL.Scheme == "https" {
		out.URL.Scheme = "http"
	}
	if d, ok := ctx.Deadline(); ok {
		out.Header.Add("L5d-Ctx-Deadline", strconv.FormatInt(time.Now().UnixNano(), 10)+" "+strconv.FormatInt(d.UnixNano(), 10))
	}
	if out.Header.Get("X-Amzn-Trace-Id") == "" {
		if v, ok := ctx.Value(lambdaTraceKey).(string); ok && v != "" {
			out.Header.Set("X-Amzn-Trace-Id", v)
		}
	}
	return r.tr.RoundTrip(out)
}

// Client returns an http.Client that routes through the Router. It has
// no timeout of its own: pass the invocation's context to each request,
// and set SLINKERD_TIMEOUT_TOTAL for a default.
func (r *Router) Client() *http.Client { return &http.Client{Transport: r} }

// Handler has the method set of aws-lambda-go's lambda.Handler, so that
// Wrap takes and returns one without this package importing
// aws-lambda-go: pass lambda.NewHandler(fn) and give the result to
// lambda.StartHandler (or lambda.Start).
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

// Wrap returns h with BeforeInvoke and AfterInvoke around each
// invocation.
func (r *Router) Wrap(h Handler) Handler {
	return HandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		r.BeforeInvoke(ctx)
		defer r.AfterInvoke(ctx)
		return h.Invoke(ctx, payload)
	})
}

// Handle wraps a typed handler, the usual shape given to lambda.Start,
// with BeforeInvoke and AfterInvoke.
func Handle[TIn, TOut any](r *Router, h func(context.Context, TIn) (TOut, error)) func(context.Context, TIn) (TOut, error) {
	return func(ctx context.Context, in TIn) (TOut, error) {
		r.BeforeInvoke(ctx)
		defer r.AfterInvoke(ctx)
		return h(ctx, in)
	}
}

// BeforeInvoke prepares for an invocation: after a gap of at least
// SLINKERD_LAMBDA_THAW_GAP since the last request it closes the idle
// pooled connections (they may have died during a freeze), and it starts
// a background refresh of the names in use whose discovery data is stale.
// It does not wait on the network. Wrap and Handle call it.
func (r *Router) BeforeInvoke(ctx context.Context) {
	idle, closed, names := invokeStart(ctx, r.app, r.act, r.thawGap, time.Now())
	r.log.Debug("slinkerd invocation start", "idle_ms", ms(idle), "closed_idle", closed, "names", names)
}

// AfterInvoke writes the metrics of the invocation as EMF lines (see
// WithMetrics) and exports waiting trace spans for up to 250ms. Wrap and
// Handle call it.
func (r *Router) AfterInvoke(ctx context.Context) {
	if r.metrics != nil {
		if err := r.app.Telemetry.FlushEMF(r.metrics, time.Now()); err != nil {
			r.log.Warn("cannot write EMF metrics", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spanFlushTimeout)
	defer cancel()
	if err := r.app.Telemetry.Tracer().Flush(sctx); err != nil {
		r.log.Debug("cannot export trace spans", "err", err)
	}
}

// Close stops the Router: in-memory connections and pooled connections
// to endpoints are closed, and the namers are released. Requests in
// flight fail.
func (r *Router) Close() error {
	err := r.srv.Close()
	_ = r.ln.Close()
	<-r.served
	r.tr.CloseIdleConnections()
	r.app.Proxy.CloseIdleConnections()
	r.app.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

var _ http.RoundTripper = (*Router)(nil)
