package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/slinkerd/slinkerd/internal/dtabrefresh"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// initialDtabFetch bounds the fetch at start-up; past it slinkerd starts
// with SLINKERD_DTAB alone and the refresher keeps trying.
const initialDtabFetch = 5 * time.Second

// NewDtabSource builds the source SLINKERD_DTAB_SOURCE names (nil when it
// is empty), with SLINKERD_DTAB_SOURCE_AUTH.
func NewDtabSource(cfg *config.Config, log *slog.Logger) (dtabsource.Source, error) {
	if cfg.Routing.DtabSource == "" {
		return nil, nil
	}
	src, err := dtabsource.Parse(cfg.Routing.DtabSource, dtabsource.Options{Auth: cfg.Routing.DtabSourceAuth, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_DTAB_SOURCE: %w", err)
	}
	return src, nil
}

// addDtabSource keeps the interpreter's base dtab in step with
// SLINKERD_DTAB_SOURCE, when set: SLINKERD_DTAB followed by the source's
// dtab. It fetches once now (bounded by initialDtabFetch; a failure is
// logged and SLINKERD_DTAB serves alone meanwhile), then refreshes on use
// once SLINKERD_DTAB_SOURCE_TTL has passed (the only way on Lambda, whose
// environment is frozen between invocations), and also in the background
// where the process is not frozen (background discovery refresh on, or
// Cloud Run).
func (a *App) addDtabSource(in *bind.Interpreter, background bool) error {
	src, err := NewDtabSource(a.Config, a.Log)
	if err != nil || src == nil {
		return err
	}
	r, err := dtabrefresh.New(dtabrefresh.Config{
		Source:      src,
		Interpreter: in,
		Base:        in.Dtab(),
		TTL:         a.Config.Routing.DtabSourceTTL,
		Logger:      a.Log,
	})
	if err != nil {
		return fmt.Errorf("SLINKERD_DTAB_SOURCE: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), initialDtabFetch)
	if err := r.Refresh(ctx); err != nil {
		a.Log.Warn("dtab source: no dtab at start; serving SLINKERD_DTAB alone until a fetch succeeds", "source", src.String(), "err", err)
	}
	cancel()
	in.SetHooks(r.Hooks())
	a.dtabSource = r
	if background {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.Run(ctx)
		}()
		a.closers = append(a.closers, func() error {
			stop()
			<-done
			return nil
		})
	}
	return nil
}

// dtabSourceState is the admin's view of the dtab source (nil when none).
func (a *App) dtabSourceState() func() any {
	if a.dtabSource == nil {
		return nil
	}
	return func() any { return a.dtabSource.State() }
}

// EffectiveDtab is SLINKERD_DTAB followed by what the source serves now,
// for `slinkerd dtab check`; the source's version is returned too.
func EffectiveDtab(ctx context.Context, cfg *config.Config, src dtabsource.Source) (name.Dtab, string, error) {
	base, err := name.ParseDtab(cfg.Routing.Dtab)
	if err != nil {
		return nil, "", fmt.Errorf("SLINKERD_DTAB: %w", err)
	}
	if src == nil {
		return base, "", nil
	}
	f, err := src.Fetch(ctx, "")
	if err != nil {
		return nil, "", err
	}
	d, err := name.ParseDtab(f.Dtab)
	if err != nil {
		return nil, f.Version, fmt.Errorf("%s (version %s): %w", src, f.Version, err)
	}
	return base.Concat(d), f.Version, nil
}
