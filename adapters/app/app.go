// Package app assembles a running slinkerd from its configuration: the
// namers, the interpreter, the proxy and its listener, and the admin
// server. The run-mode adapters (container, lambda, cloudrun) build on it
// and differ only in how they start, refresh and stop it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/admin"
	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/bind"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery/fs"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

// App is an assembled slinkerd: built, listening, not yet serving.
type App struct {
	Config      *config.Config
	Mode        config.Mode
	Interpreter *bind.Interpreter
	Proxy       *proxy.Proxy
	Server      *proxy.Server
	Admin       *admin.Server
	Log         *slog.Logger

	closers []func() error
}

// NewInterpreter builds the namers and the interpreter from cfg: the
// system namers (/$/inet, /$/nil, /$/fail) and, when SLINKERD_FS_DIR is
// set, io.l5d.fs. watch turns on background refresh where it is allowed.
func NewInterpreter(cfg *config.Config, log *slog.Logger, watch bool) (*bind.Interpreter, []func() error, error) {
	dtab, err := name.ParseDtab(cfg.Routing.Dtab)
	if err != nil {
		return nil, nil, fmt.Errorf("SLINKERD_DTAB: %w", err)
	}
	ns := &bind.Namers{}
	sys, err := inet.System(inet.Config{TTL: cfg.Discovery.TTL, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	for _, r := range sys {
		if err := ns.Add(r.Prefix.String(), r.Namer); err != nil {
			return nil, nil, err
		}
	}
	var closers []func() error
	if cfg.Discovery.FSDir != "" {
		n, err := fs.New(fs.Config{Dir: cfg.Discovery.FSDir, Watch: watch, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("SLINKERD_FS_DIR: %w", err)
		}
		closers = append(closers, n.Close)
		if err := ns.Add("/#/io.l5d.fs", n); err != nil {
			return nil, nil, err
		}
	}
	in, err := bind.New(bind.Config{Dtab: dtab, Namers: ns})
	if err != nil {
		return nil, nil, err
	}
	return in, closers, nil
}

// New builds everything and opens the listeners, so that a caller knows
// the ports are bound when New returns.
func New(cfg *config.Config, mode config.Mode, log *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Mode: mode, Log: log}
	watch := cfg.Discovery.BackgroundRefresh(mode)
	in, closers, err := NewInterpreter(cfg, log, watch)
	if err != nil {
		return nil, err
	}
	a.Interpreter, a.closers = in, closers

	ident, err := identifier(cfg)
	if err != nil {
		return nil, err
	}
	policy, err := policyFunc(cfg)
	if err != nil {
		return nil, err
	}
	a.Proxy, err = proxy.New(proxy.Config{
		Interpreter: in,
		Identifier:  ident,
		Balancer: balance.Config{
			Kind:      string(cfg.Balancer.Kind),
			MaxEffort: cfg.Balancer.MaxEffort,
			DecayTime: cfg.Balancer.EWMADecay,
			Accrual: accrual.Config{
				ConsecutiveFailures:    cfg.Accrual.ConsecutiveFailures,
				SuccessRate:            cfg.Accrual.SuccessRate,
				SuccessRateWindow:      cfg.Accrual.SuccessRateWindow,
				SuccessRateMinRequests: cfg.Accrual.SuccessRateMinRequests,
				BackoffMin:             cfg.Accrual.BackoffMin,
				BackoffMax:             cfg.Accrual.BackoffMax,
			},
		},
		Policy:            policy,
		DtabOverride:      cfg.Routing.DtabOverride.Enabled(),
		TrustL5DHeaders:   cfg.Proxy.TrustL5DHeaders,
		TrustForwarded:    cfg.Proxy.TrustForwarded,
		AllowAbsoluteForm: cfg.Proxy.AllowAbsoluteForm,
		MaxCallDepth:      cfg.Proxy.MaxCallDepth,
		Logger:            log,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Server, err = proxy.Listen(proxy.ServerConfig{
		Addr:              cfg.Proxy.Listen,
		TLSCertFile:       cfg.Proxy.TLSCert,
		TLSKeyFile:        cfg.Proxy.TLSKey,
		ReadHeaderTimeout: cfg.Proxy.ReadHeaderTimeout,
		IdleTimeout:       cfg.Proxy.IdleTimeout,
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		Logger:            log,
	}, a.Proxy)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("SLINKERD_LISTEN: %w", err)
	}
	a.closers = append(a.closers, func() error { return a.Server.Shutdown(closedContext()) })
	a.Admin, err = admin.Listen(admin.Config{
		Addr:        cfg.Admin.Listen,
		Interpreter: in,
		ConfigJSON:  cfg.JSON,
		Logger:      log,
	})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("SLINKERD_ADMIN_LISTEN: %w", err)
	}
	return a, nil
}

func closedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Serve serves the proxy and admin until ctx is done, then drains: the
// proxy stops accepting, sends GOAWAY, and lets in-flight requests finish
// within drain. It returns nil after a clean drain.
func (a *App) Serve(ctx context.Context, drain time.Duration) error {
	errc := make(chan error, 2)
	go func() { errc <- a.Server.Serve() }()
	go func() { errc <- a.Admin.Serve() }()
	a.Admin.SetReady(true)
	a.Log.Info("slinkerd serving", "mode", a.Mode, "proxy", a.Server.Addr().String(), "admin", a.Admin.Addr().String())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.Admin.SetReady(false)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := a.Server.Shutdown(dctx)
	_ = a.Admin.Shutdown(closedContext())
	a.Close()
	if serveErr != nil {
		return serveErr
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// Close releases namers and listeners.
func (a *App) Close() {
	for _, c := range a.closers {
		_ = c()
	}
	a.closers = nil
}

func identifier(cfg *config.Config) (proxy.Identifier, error) {
	prefix, err := name.ParsePath(cfg.Routing.DstPrefix)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_DST_PREFIX: %w", err)
	}
	id, err := config.ParseIdentifier(cfg.Routing.Identifier)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_IDENTIFIER: %w", err)
	}
	switch id.Kind {
	case config.IdentifierPath:
		return proxy.PathIdentifier{Prefix: prefix, Segments: id.Segments, Consume: cfg.Routing.IdentifierConsume}, nil
	case config.IdentifierMethodHost:
		return proxy.MethodHostIdentifier{Prefix: prefix}, nil
	case config.IdentifierHeaderPath:
		return proxy.HeaderPathIdentifier{Prefix: prefix, Header: id.Header}, nil
	}
	return proxy.HeaderIdentifier{Prefix: prefix}, nil
}

// policyFunc builds each service's retry and timeout policy: the global
// SLINKERD_* settings, overridden by the SLINKERD_SVC_POLICY entries whose
// prefix matches the service, later entries winning.
func policyFunc(cfg *config.Config) (func(name.Path) (*proxy.Policy, error), error) {
	rc := cfg.Retry
	global := retry.DefaultPolicy()
	cls, err := retry.Lookup(string(rc.Classifier))
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_CLASSIFIER: %w", err)
	}
	global.ClassifierName, global.Classifier = string(rc.Classifier), cls
	global.Budget = retry.BudgetConfig{TTL: rc.BudgetTTL, MinRetriesPerSec: rc.MinPerSec, PercentCanRetry: rc.Percent}
	global.BackoffMin, global.BackoffMax = rc.BackoffMin, rc.BackoffMax
	global.AttemptTimeout, global.TotalTimeout = rc.TimeoutAttempt, rc.TimeoutTotal
	global.ReplayBufferBytes = rc.BufferBytes
	if err := global.Validate(); err != nil {
		return nil, fmt.Errorf("SLINKERD_RETRY_*: %w", err)
	}
	codes, err := retry.ParseGRPCCodes(rc.GRPCRetryableCodes)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_GRPC_RETRYABLE_CODES: %w", err)
	}
	grpcCls, err := retry.NewGRPCClassifier(codes...)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_GRPC_RETRYABLE_CODES: %w", err)
	}
	entries, err := retry.ParsePolicies(cfg.Routing.SvcPolicy)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_SVC_POLICY: %w", err)
	}
	return func(svc name.Path) (*proxy.Policy, error) {
		p := retry.Resolve(global, entries, svc.String())
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("SLINKERD_SVC_POLICY for %s: %w", svc, err)
		}
		budget, err := retry.NewBudget(p.Budget)
		if err != nil {
			return nil, err
		}
		backoff, err := p.NewBackoff(nil)
		if err != nil {
			return nil, err
		}
		pol := &proxy.Policy{
			Classifier:     p.Classifier,
			GRPCClassifier: grpcCls,
			Budget:         budget,
			Backoff:        backoff,
			AttemptTimeout: p.AttemptTimeout,
			TotalTimeout:   p.TotalTimeout,
			ReplayLimit:    p.ReplayBufferBytes,
		}
		if _, isGRPC := p.Classifier.(retry.GRPCClassifier); isGRPC {
			pol.GRPCClassifier = p.Classifier
		}
		return pol, nil
	}, nil
}

// NewLogger returns the process logger: JSON lines where a platform
// collects stdout (Lambda, Cloud Run) or when asked, text on a terminal.
func NewLogger(cfg *config.Config, mode config.Mode) *slog.Logger {
	format := string(cfg.Telemetry.LogFormat)
	if format == "auto" || format == "" {
		format = "text"
		if mode == config.ModeLambda || mode == config.ModeCloudRun {
			format = "json"
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.Telemetry.LogLevel.Level(), ReplaceAttr: cloudLoggingAttrs(format == "json")}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// cloudLoggingAttrs renames level and msg to Cloud Logging's severity and
// message in JSON output.
func cloudLoggingAttrs(json bool) func([]string, slog.Attr) slog.Attr {
	if !json {
		return nil
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.LevelKey:
			a.Key = "severity"
			if l, ok := a.Value.Any().(slog.Level); ok {
				a.Value = slog.StringValue(severity(l))
			}
		case slog.MessageKey:
			a.Key = "message"
		}
		return a
	}
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// IsConfigError reports whether err came from configuration.
func IsConfigError(err error) bool {
	var ve *config.VarError
	return errors.As(err, &ve) || strings.HasPrefix(err.Error(), "SLINKERD_")
}
