// Package slinkerd routes a Go program's outgoing HTTP and gRPC calls
// through slinkerd's core, in the program's own process: a call to
// http://users/profile is routed as /svc/users through the dtab
// (SLINKERD_DTAB) and the namers, load balanced, retried under a budget,
// timed out and measured, exactly as the slinkerd proxy does it. It is
// the same on AWS Lambda, Cloud Run and anywhere else; the run-mode
// wrappers (adapters/awslambda, adapters/httpserve) are thin layers over
// it.
//
//	c, err := slinkerd.New() // configured from the SLINKERD_* variables
//	if err != nil { … }
//	defer c.Close()
//	resp, err := c.HTTPClient().Get("http://users/profile")
//
// Namers are linked by import, as database/sql drivers are: /$/inet and
// /#/io.l5d.dnssrv are always there, and a program that names
// /#/io.l5d.fs, /#/io.l5d.cloudmap, /#/io.l5d.cloudrun or
// /#/io.l5d.lambda imports that namer's package (see package discovery):
//
//	import _ "github.com/slinkerd/slinkerd/discovery/cloudmap"
//
// gRPC clients route through the same dtab with
// adapters/grpcroute.DialOption. docs/library.md lists the public API.
package slinkerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// Client routes HTTP and gRPC calls through slinkerd's core in this
// process. Its proxy is served on an in-memory listener: no port is
// opened and nothing listens, and each call is carried to it as
// HTTP/1.1 (or h2c, for gRPC) over an in-memory pipe, so one data path
// does naming, requeues, retries, deadlines, l5d-err and telemetry for
// the library and the binary alike.
//
// A Client is safe for concurrent use. Close it when done.
type Client struct {
	app     *app.App
	ln      *app.MemListener
	tr      *http.Transport
	act     *app.Activity
	thawGap time.Duration
	metrics io.Writer
	log     *slog.Logger
	served  chan struct{}
}

// Option configures New.
type Option func(*options)

type options struct {
	cfg     *config.Config
	env     map[string]string
	log     *slog.Logger
	metrics io.Writer
	setMet  bool
}

// WithConfig configures the Client with cfg (as config.Load returns it)
// instead of the process's SLINKERD_* variables.
func WithConfig(cfg *config.Config) Option { return func(o *options) { o.cfg = cfg } }

// WithEnv reads the configuration from environ (SLINKERD_* and the
// platform's variables) instead of the process's environment. The cloud
// SDKs still read their own variables (AWS_REGION and the AWS
// credentials, GCE_METADATA_HOST, GOOGLE_APPLICATION_CREDENTIALS) from
// the process's environment.
func WithEnv(environ map[string]string) Option { return func(o *options) { o.env = environ } }

// WithLogger sets the logger. Defaults to slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics sets where Flush writes CloudWatch EMF metric lines; nil
// turns them off. Defaults to os.Stdout on AWS Lambda, where the
// function's output goes to CloudWatch Logs, and to nil elsewhere.
func WithMetrics(w io.Writer) Option {
	return func(o *options) { o.metrics, o.setMet = w, true }
}

// New builds a Client, from the process's SLINKERD_* variables unless
// WithConfig or WithEnv says otherwise, validated as the binary validates
// them. SLINKERD_LISTEN and SLINKERD_ADMIN_LISTEN are not used: nothing
// listens. The run mode (Lambda, Cloud Run or container) is SLINKERD_MODE,
// detected from the platform's variables by default.
func New(opts ...Option) (*Client, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	environ := o.env
	if environ == nil {
		environ = config.EnvironMap(os.Environ())
	}
	cfg := o.cfg
	if cfg == nil {
		var err error
		if cfg, err = config.Load(environ, app.Validators()...); err != nil {
			return nil, fmt.Errorf("slinkerd: %w", err)
		}
	}
	mode := cfg.ResolveMode(environ)
	a, err := app.Build(cfg, mode, o.log)
	if err != nil {
		return nil, fmt.Errorf("slinkerd: %w", err)
	}
	c := &Client{app: a, log: o.log, thawGap: -1, served: make(chan struct{}), act: app.NewActivity(time.Now())}
	c.metrics = o.metrics
	if !o.setMet && mode == config.ModeLambda {
		c.metrics = os.Stdout
	}
	idle := 64
	if mode == config.ModeLambda {
		c.thawGap = cfg.Run.LambdaThawGap
		if a.ManagedInstances {
			// Many invocations at once and no freeze between them: no thaw
			// to handle, and as many pooled pipes as invocations.
			c.thawGap = -1
			idle = max(idle, a.Concurrency.IdleConnsPerHost)
		}
	}
	c.ln = app.NewMemListener()
	if err := a.ListenOn(c.ln, c.act.Wrap(a.Proxy)); err != nil {
		return nil, fmt.Errorf("slinkerd: %w", err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	c.tr = &http.Transport{
		DialContext:         c.ln.DialContext,
		Protocols:           protos,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	go func() {
		defer close(c.served)
		if err := a.Server.Serve(); err != nil {
			c.log.Error("slinkerd: in-memory proxy stopped", "err", err)
		}
	}()
	return c, nil
}

// RoundTrip implements http.RoundTripper: it routes req by its host
// through the proxy, as the proxy routes a request's Host. https URLs are
// accepted and sent the same way: the scheme to the endpoint is the
// endpoint's (its namer's metadata), not the caller's.
//
// The request's context is the call's: its deadline travels as
// l5d-ctx-deadline (the proxy and the services after it stop waiting
// then), and the trace headers ContextWithTrace put in it, or AWS
// Lambda's X-Amzn-Trace-Id that aws-lambda-go puts there, are sent unless
// the request has its own.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out := req.Clone(ctx)
	if out.URL.Scheme == "https" {
		out.URL.Scheme = "http"
	}
	if d, ok := ctx.Deadline(); ok {
		out.Header.Set("L5d-Ctx-Deadline", strconv.FormatInt(time.Now().UnixNano(), 10)+" "+strconv.FormatInt(d.UnixNano(), 10))
	}
	addTrace(ctx, out.Header)
	return c.tr.RoundTrip(out)
}

// HTTPClient returns an http.Client that routes through c. It has no
// timeout of its own: give each request a context with a deadline, or
// set SLINKERD_TIMEOUT_TOTAL.
func (c *Client) HTTPClient() *http.Client { return &http.Client{Transport: c} }

// DialContext opens an in-memory connection to c's proxy, whatever the
// address: HTTP/1.1, or HTTP/2 with prior knowledge (h2c), is routed by
// the request's Host or :authority. It is the dialer gRPC clients use
// (adapters/grpcroute) and any client that brings its own transport.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.ln.DialContext(ctx, network, addr)
}

// Refresh prepares for a burst of calls, such as an AWS Lambda
// invocation: on Lambda, after a gap of at least SLINKERD_LAMBDA_THAW_GAP
// since the last call it closes the idle pooled connections (they may
// have died while the environment was frozen); everywhere, it starts a
// background refresh of the names in use whose discovery data is stale.
// It does not wait on the network. adapters/awslambda calls it before
// each invocation.
func (c *Client) Refresh(ctx context.Context) {
	idle, closed, names := c.app.InvokeStart(ctx, c.act, c.thawGap, time.Now())
	c.log.Debug("slinkerd refresh", "idle_ms", float64(idle)/float64(time.Millisecond), "closed_idle", closed, "names", names)
}

// spanFlushTimeout bounds Flush's export of waiting trace spans.
const spanFlushTimeout = 250 * time.Millisecond

// Flush writes the metrics since the last Flush as EMF lines (see
// WithMetrics) and exports waiting trace spans, for up to 250ms: what an
// AWS Lambda function must do before the invocation ends and the
// environment may freeze. adapters/awslambda calls it after each
// invocation.
func (c *Client) Flush(ctx context.Context) {
	if c.metrics != nil {
		if err := c.app.Telemetry.FlushEMF(c.metrics, time.Now()); err != nil {
			c.log.Warn("slinkerd: cannot write EMF metrics", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spanFlushTimeout)
	defer cancel()
	if err := c.app.Telemetry.Tracer().Flush(sctx); err != nil {
		c.log.Debug("slinkerd: cannot export trace spans", "err", err)
	}
}

// Close stops c: in-memory connections and pooled connections to
// endpoints are closed, and the namers are released. Calls in flight
// fail.
func (c *Client) Close() error {
	err := c.ln.Close()
	c.tr.CloseIdleConnections()
	c.app.Proxy.CloseIdleConnections()
	c.app.Close() // shuts the server down
	<-c.served
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

var _ http.RoundTripper = (*Client)(nil)
