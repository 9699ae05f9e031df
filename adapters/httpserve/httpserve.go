// Package httpserve runs a Go HTTP service that calls other services
// through a slinkerd.Client, the way Cloud Run (and Kubernetes, and most
// container platforms) expects a service to run: it listens on $PORT,
// wraps the handler with slinkerd.Handler (calls made with a request's
// context carry its trace), and on SIGTERM or SIGINT, or when the context
// ends, stops accepting, lets requests in flight finish within the drain
// time, and closes the Client.
//
//	c, err := slinkerd.New()
//	…
//	err = httpserve.Run(context.Background(), c, mux)
//
// It is the Cloud Run and plain-service counterpart of adapters/awslambda.
package httpserve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slinkerd/slinkerd"
)

// DefaultDrain is how long requests in flight may run on after SIGTERM:
// Cloud Run gives a container 10 seconds before it kills it.
const DefaultDrain = 8 * time.Second

// Option configures Run.
type Option func(*options)

type options struct {
	ln     net.Listener
	drain  time.Duration
	server func(*http.Server)
	log    *slog.Logger
}

// WithListener serves on ln instead of a TCP listener on :$PORT (:8080
// when PORT is unset).
func WithListener(ln net.Listener) Option { return func(o *options) { o.ln = ln } }

// WithDrain sets how long requests in flight may run on once Run is told
// to stop. Defaults to DefaultDrain (8s).
func WithDrain(d time.Duration) Option { return func(o *options) { o.drain = d } }

// WithServer lets f set the http.Server's fields (timeouts, limits) before
// it serves. Run sets Handler itself, and ReadHeaderTimeout to 10s unless
// f sets it.
func WithServer(f func(*http.Server)) Option { return func(o *options) { o.server = f } }

// WithLogger sets the logger for start and stop. Defaults to
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Run serves h until ctx ends or the process gets SIGTERM or SIGINT, then
// drains and closes c. It returns nil after a clean drain; an error says
// what failed (listening, serving, or requests still running when the
// drain time ran out). c is closed in every case.
func Run(ctx context.Context, c *slinkerd.Client, h http.Handler, opts ...Option) (err error) {
	o := options{drain: DefaultDrain, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("httpserve: close the slinkerd client: %w", cerr))
		}
	}()
	ln := o.ln
	if ln == nil {
		addr := ":" + cmp.Or(os.Getenv("PORT"), "8080")
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("httpserve: listen on %s: %w", addr, err)
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	if o.server != nil {
		o.server(srv)
	}
	srv.Handler = slinkerd.Handler(h)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	o.log.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("httpserve: serve: %w", err)
	case <-ctx.Done():
	}
	o.log.Info("draining", "within", o.drain.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("httpserve: drain: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpserve: serve: %w", err)
	}
	return nil
}
