// Command library-cloudrun is a Cloud Run service, a plain net/http
// server, that calls another Cloud Run service by name through slinkerd
// as a Go library: no sidecar. A call to http://users/profile is routed
// as /svc/users through SLINKERD_DTAB to the io.l5d.cloudrun namer, which
// reads the service's URL with the Cloud Run Admin API; slinkerd calls it
// over TLS with a Google ID token for it (from the metadata server) in
// Authorization, balanced, retried and timed out.
//
// slinkerd.Handler wraps the service's mux, so that a call made with an
// incoming request's context joins the request's trace (traceparent,
// X-Cloud-Trace-Context, …); the call's deadline travels as
// l5d-ctx-deadline.
//
// It links one namer, /#/io.l5d.cloudrun, by importing discovery/cloudrun.
// ID tokens come from the metadata server; import
// discovery/idtoken/googleauth as well to get them from application
// default credentials off Google Cloud, or to impersonate.
//
// Deploy it with, for example,
// SLINKERD_DTAB=/svc=>/#/io.l5d.cloudrun/<project>/<region>, and give its
// service account roles/run.viewer and roles/run.invoker on "users":
//
//	gcloud run deploy frontend --source ./examples/library-cloudrun \
//	    --set-env-vars 'SLINKERD_DTAB=/svc=>/#/io.l5d.cloudrun/my-project/europe-west1'
//
// GET /profile answers with what the users service answered to
// GET /profile.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slinkerd/slinkerd"
	_ "github.com/slinkerd/slinkerd/discovery/cloudrun" // /#/io.l5d.cloudrun
)

const (
	// callTimeout bounds a call to the users service; slinkerd passes it
	// on as l5d-ctx-deadline.
	callTimeout = 10 * time.Second
	// shutdownTimeout bounds the wait for requests in flight on SIGTERM
	// (Cloud Run allows 10s).
	shutdownTimeout = 8 * time.Second
	// maxBody bounds the response body passed back.
	maxBody = 1 << 20
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", ":"+cmp.Or(os.Getenv("PORT"), "8080"))
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	if err := run(ctx, ln, log, slinkerd.WithLogger(log)); err != nil {
		log.Error("library-cloudrun", "err", err)
		os.Exit(1)
	}
}

// run serves the service on ln, calling out through a slinkerd.Client
// built with opts (from the SLINKERD_* variables by default), until ctx
// ends; then it waits for requests in flight and closes the Client.
func run(ctx context.Context, ln net.Listener, log *slog.Logger, opts ...slinkerd.Option) error {
	c, err := slinkerd.New(opts...)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("library-cloudrun: %w", err)
	}
	srv := &http.Server{
		Handler:           slinkerd.Handler(newMux(c.HTTPClient())),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())

	select {
	case err = <-served:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}
	if cerr := c.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("library-cloudrun: serve: %w", err)
	}
	return nil
}

// newMux returns the service's routes, calling the users service with
// client.
func newMux(client *http.Client) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		// The request's context carries its trace (slinkerd.Handler):
		// the call joins it.
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://users/profile", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "users: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, maxBody))
	})
	return mux
}
