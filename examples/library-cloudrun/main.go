// Command library-cloudrun is a Cloud Run service, a plain net/http
// server, that calls another Cloud Run service by name through slinkerd
// as a Go library: no sidecar. A call to http://users/profile is routed
// as /svc/users through SLINKERD_DTAB to the io.l5d.cloudrun namer, which
// reads the service's URL with the Cloud Run Admin API; slinkerd calls it
// over TLS with a Google ID token for it (from the metadata server) in
// Authorization, balanced, retried and timed out.
//
// adapters/httpserve runs it as Cloud Run expects (listen on $PORT, drain
// on SIGTERM) and wraps the service's mux with slinkerd.Handler, so that a
// call made with an incoming request's context joins the request's trace (traceparent,
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
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/httpserve"
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
	// nil: listen on :$PORT, as Cloud Run says.
	if err := run(context.Background(), nil, log, slinkerd.WithLogger(log)); err != nil {
		log.Error("library-cloudrun", "err", err)
		os.Exit(1)
	}
}

// run serves the service on ln (on :$PORT when nil), calling out through a
// slinkerd.Client built with opts (from the SLINKERD_* variables by
// default), until ctx ends or SIGTERM arrives; then it lets requests in
// flight finish and closes the Client (adapters/httpserve).
func run(ctx context.Context, ln net.Listener, log *slog.Logger, opts ...slinkerd.Option) error {
	c, err := slinkerd.New(opts...)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return fmt.Errorf("library-cloudrun: %w", err)
	}
	serveOpts := []httpserve.Option{httpserve.WithLogger(log), httpserve.WithDrain(shutdownTimeout)}
	if ln != nil {
		serveOpts = append(serveOpts, httpserve.WithListener(ln))
	}
	if err := httpserve.Run(ctx, c, newMux(c.HTTPClient()), serveOpts...); err != nil {
		return fmt.Errorf("library-cloudrun: %w", err)
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
