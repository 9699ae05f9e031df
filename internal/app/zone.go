package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/discovery/zone"
)

// zoneFunc returns the balancers' Config.Zone: nil when
// SLINKERD_ZONE_AWARE=off or when no zone can be learned here (Lambda,
// Cloud Run, a machine that is neither ECS nor GCE, without
// SLINKERD_ZONE): the balancers then stay one set over all endpoints.
// Else the zone from SLINKERD_ZONE, or learned from the platform in the
// background (so no request waits for it), "" until then. It logs where
// the zone came from, or why there is none.
func zoneFunc(cfg *config.Config, log *slog.Logger) func() string {
	if cfg.Balancer.ZoneAware == "off" {
		return nil
	}
	zc := zone.Config{Explicit: cfg.Balancer.Zone}
	if !zone.Learnable(zc) {
		log.Debug("zone-aware routing off: this platform reports no zone (set SLINKERD_ZONE)")
		return nil
	}
	src := zone.Start(context.Background(), zc)
	go func() {
		from, err := src.Result()
		switch {
		case err == nil:
			log.Info("zone-aware routing on", "zone", src.Zone(), "from", from)
		case errors.Is(err, zone.ErrNoZone):
			log.Debug("zone-aware routing off: no zone", "platform", from, "reason", err)
		default:
			log.Warn("zone-aware routing off: could not learn the zone", "platform", from, "error", err)
		}
	}()
	return src.Zone
}
