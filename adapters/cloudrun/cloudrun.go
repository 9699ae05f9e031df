// Package cloudrun runs slinkerd as a sidecar container of a Google Cloud
// Run service (a multi-container service; see deploy/cloudrun).
//
// The outbound proxy listens on localhost, which the containers of an
// instance share, and routes the app's calls by name like any slinkerd.
// Calls to Cloud Run services (the io.l5d.cloudrun namer) get an ID token
// for the target from the metadata server, attached by the proxy.
//
// Optionally (SLINKERD_INGRESS_TARGET), slinkerd also takes the service's
// traffic on $PORT and forwards it to the app container, adding metrics, a
// timeout and requeues while the app is not listening yet.
//
// Cloud Run sends SIGTERM to every container of an instance at once and
// SIGKILL 10 s later. The ingress then stops taking requests (Cloud Run
// sends it no more) and drains. The outbound proxy keeps serving while the
// app finishes its own requests and still calls out, until nothing has
// been in flight for SLINKERD_CLOUDRUN_DRAIN_QUIET, then drains: at the
// latest SLINKERD_DRAIN_TIMEOUT after SIGTERM, capped at MaxDrain.
//
// With request-based billing the CPU is throttled outside requests, so
// namers refresh lazily on use (SLINKERD_DISCOVERY_BACKGROUND=auto is off
// in this mode).
package cloudrun

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/compute/metadata"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// MaxDrain caps the whole shutdown after SIGTERM, keeping a margin within
// the 10 s after which Cloud Run kills the container.
const MaxDrain = 9 * time.Second

// Run builds slinkerd from cfg, opens the outbound proxy, admin and (when
// configured) ingress listeners, and serves until ctx ends or the process
// gets SIGTERM or SIGINT; then it drains as the package doc says and
// returns. environ is the process environment (K_SERVICE, K_REVISION,
// PORT). It returns nil after a clean drain, and an *app.StartError
// (naming the SLINKERD_* variable at fault where there is one) when it
// cannot start.
func Run(ctx context.Context, cfg *config.Config, environ map[string]string, log *slog.Logger) error {
	ctx, stop := app.ShutdownContext(ctx, log)
	defer stop()
	a, err := app.Build(cfg, config.ModeCloudRun, log)
	if err != nil {
		return &app.StartError{Err: err}
	}
	fl := newInflight()
	if err := a.Listen(fl.wrap(a.Proxy)); err != nil {
		return &app.StartError{Err: err}
	}
	var ing *ingress
	var ingErr <-chan error
	if cfg.Ingress.Target != "" {
		if ing, err = newIngress(cfg, environ, a.Telemetry, fl.wrap, log); err != nil {
			a.Close()
			return &app.StartError{Err: err}
		}
		ingErr = ing.start()
	}
	attrs := []any{"service", environ[config.EnvCloudRunService], "revision", environ["K_REVISION"]}
	if ing != nil {
		attrs = append(attrs, "ingress", ing.server.Addr().String(), "ingress_target", ing.target)
	}
	log.Info("slinkerd cloud run sidecar", attrs...)
	if cfg.Platform().GoogleCloudProject == "" {
		go learnProject(ctx, a, log)
	}
	serveErr := a.Start()

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-serveErr:
	case failed = <-ingErr:
	}
	sigterm := time.Now()
	dctx, cancel := context.WithTimeout(context.Background(), min(cfg.Proxy.DrainTimeout, MaxDrain))
	defer cancel()
	a.Admin.SetReady(false)
	log.Info("slinkerd draining", "reason", reason(failed))

	ingDone := make(chan error, 1)
	if ing != nil {
		go func() { ingDone <- ing.shutdown(dctx) }()
	} else {
		ingDone <- nil
	}
	if failed == nil {
		if err := fl.waitQuiet(dctx, cfg.Run.CloudRunDrainQuiet, sigterm); err != nil {
			log.Warn("requests still in flight at the drain deadline")
		}
	}
	err = errors.Join(a.Stop(dctx), <-ingDone)
	log.Info("slinkerd drained", "took_ms", float64(time.Since(sigterm).Microseconds())/1000, "clean", err == nil)
	if failed != nil {
		return failed
	}
	return err
}

func reason(failed error) string {
	if failed != nil {
		return "a listener failed: " + failed.Error()
	}
	return "signal"
}

// projectTimeout bounds the metadata server's answer for the project id.
const projectTimeout = 5 * time.Second

// learnProject asks the metadata server for the project id, off the
// request path, so that access-log lines name their trace in it
// (logging.googleapis.com/trace) when GOOGLE_CLOUD_PROJECT is unset, as
// it is on Cloud Run. Until it answers, lines leave the field out.
func learnProject(ctx context.Context, a *app.App, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, projectTimeout)
	defer cancel()
	c := metadata.NewClient(&http.Client{Timeout: projectTimeout})
	id, err := c.ProjectIDWithContext(ctx)
	if err != nil {
		log.Warn("cannot learn the project id from the metadata server; log lines will not name their trace (set GOOGLE_CLOUD_PROJECT)", "err", err)
		return
	}
	a.Telemetry.Tracer().SetCloudTraceProject(id)
}
