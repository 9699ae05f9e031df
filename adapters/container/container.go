// Package container runs slinkerd as a plain long-lived process: in a
// container, on a VM or on a laptop. Namers refresh in the background
// (SLINKERD_DISCOVERY_BACKGROUND=auto is on in this mode), the admin server
// serves next to the proxy, and SIGTERM or SIGINT drains the proxy for
// SLINKERD_DRAIN_TIMEOUT before the process exits (SIGHUP is ignored).
package container

import (
	"context"
	"log/slog"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// Run builds slinkerd from cfg, opens its listeners and serves until ctx
// ends or the process gets SIGTERM or SIGINT; then it drains for
// SLINKERD_DRAIN_TIMEOUT and returns. It returns nil after a clean
// drain, and an *app.StartError (naming the SLINKERD_* variable at fault
// where there is one) when slinkerd cannot start.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	ctx, stop := app.ShutdownContext(ctx, log)
	defer stop()
	a, err := app.New(cfg, config.ModeContainer, log)
	if err != nil {
		return &app.StartError{Err: err}
	}
	return a.Serve(ctx, cfg.Proxy.DrainTimeout)
}
