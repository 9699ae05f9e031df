// Package app assembles a running slinkerd from its configuration: the
// namers, the interpreter, the proxy and its listener, and the admin
// server. The run-mode adapters (container, lambda, cloudrun) build on it
// and differ only in how they start, refresh and stop it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/slinkerd/slinkerd/internal/dtabrefresh"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/buildinfo"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// App is an assembled slinkerd: built (Build), listening (Listen; New does
// both), then serving (Serve, or Start and Stop).
type App struct {
	Config      *config.Config
	Mode        config.Mode
	Interpreter *bind.Interpreter
	Proxy       *proxy.Proxy
	Server      *proxy.Server
	Admin       *admin.Server
	Log         *slog.Logger
	// Telemetry holds the metrics and traces; the Lambda adapter flushes
	// its EMF lines (FlushEMF) and spans (Tracer().Flush).
	Telemetry *telemetry.Telemetry
	// Concurrency is the pool sizes and limits Build chose: the defaults,
	// or sized from AWS_LAMBDA_MAX_CONCURRENCY on Lambda Managed
	// Instances (concurrency.go).
	Concurrency Concurrency
	// ManagedInstances is true on Lambda Managed Instances (see
	// config.Config.LambdaManagedInstances): many invocations at once,
	// no freeze between them, so discovery refreshes in the background.
	ManagedInstances bool

	closers []func() error
	// dtabSource refreshes the base dtab from SLINKERD_DTAB_SOURCE; nil
	// when it is not set (dtabsource.go).
	dtabSource *dtabrefresh.Refresher
	// adminHandlers are the admin endpoints beyond the basic ones, built
	// by Build and served by Listen.
	adminHandlers map[string]http.Handler
}

// Validators are the config options that check SLINKERD_DTAB and
// SLINKERD_SVC_POLICY by parsing them as the running proxy will, so that
// a bad value is reported with every other configuration error, and that
// let SLINKERD_BALANCER and SLINKERD_CLASSIFIER name the balancers and
// classifiers registered with core/balance and core/retry.
func Validators() []config.Option {
	return []config.Option{
		config.WithChoices("SLINKERD_BALANCER", balance.Kinds()...),
		config.WithChoices("SLINKERD_CLASSIFIER", retry.ClassifierNames()...),
		config.WithDtabValidator(func(s string) error {
			_, err := name.ParseDtab(s)
			return err
		}),
		config.WithPolicyValidator(func(s string) error {
			_, err := retry.ParsePolicies(s)
			return err
		}),
	}
}

// NewInterpreter builds the namers and the interpreter from cfg (see
// newInterpreter in discovery.go for the namers). watch turns on
// background refresh where it is allowed.
func NewInterpreter(cfg *config.Config, log *slog.Logger, watch bool) (*bind.Interpreter, []func() error, error) {
	in, d, err := newInterpreter(cfg, log, watch)
	if err != nil {
		return nil, nil, err
	}
	return in, d.closers, nil
}

// New builds everything and opens the listeners, so that a caller knows
// the ports are bound when New returns.
func New(cfg *config.Config, mode config.Mode, log *slog.Logger) (*App, error) {
	a, err := Build(cfg, mode, log)
	if err != nil {
		return nil, err
	}
	if err := a.Listen(a.Proxy); err != nil {
		return nil, err
	}
	return a, nil
}

// Build builds the namers, the interpreter, telemetry and the proxy, but
// opens no listener: Listen (or ListenOn) does that. The library's Client
// serves a.Proxy on an in-memory listener; the extension wraps it first.
func Build(cfg *config.Config, mode config.Mode, log *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Mode: mode, Log: log}
	maxConcurrency, managed := cfg.LambdaManagedInstances(mode)
	a.ManagedInstances, a.Concurrency = managed, ConcurrencyFor(maxConcurrency)
	watch := cfg.Discovery.BackgroundRefresh(mode)
	if managed && cfg.Discovery.Background == config.AutoBoolAuto {
		// Managed Instances are never frozen: timers run between
		// invocations, as in a container.
		watch = true
	}
	in, disco, err := newInterpreter(cfg, log, watch)
	if err != nil {
		return nil, err
	}
	a.Interpreter, a.closers = in, disco.closers
	if err := a.addDtabSource(in, watch || mode == config.ModeCloudRun); err != nil {
		a.Close()
		return nil, err
	}
	transports, err := backendTransports(cfg, a.Concurrency, disco.transports)
	if err != nil {
		a.Close()
		return nil, err
	}

	ident, err := identifier(cfg)
	if err != nil {
		return nil, err
	}
	policy, err := policyFunc(cfg)
	if err != nil {
		return nil, err
	}
	a.Telemetry, err = newTelemetry(cfg, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return a.Telemetry.Close(ctx)
	})
	a.Proxy, err = proxy.New(proxy.Config{
		Interpreter: in,
		Identifier:  ident,
		Balancer: balance.Config{
			Kind:      string(cfg.Balancer.Kind),
			MaxEffort: cfg.Balancer.MaxEffort,
			DecayTime: cfg.Balancer.EWMADecay,
			Zone:      zoneFunc(cfg, log),
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
		DisableFastPath:   !cfg.Proxy.FastPath.Enabled(),
		MaxCallDepth:      cfg.Proxy.MaxCallDepth,
		Logger:            log,
		Observer:          a.Telemetry,
		Tokens:            disco.tokens,
		Transports:        transports,

		MaxRequestBodyBytes: cfg.Proxy.MaxRequestBodyBytes,
		BodyReadTimeout:     cfg.Proxy.BodyReadTimeout,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Telemetry.SetSource(a.Proxy)
	if a.dtabSource != nil {
		r := a.dtabSource
		a.Telemetry.AddFamilies(func() []telemetry.Family { return dtabrefresh.Families(r) })
	}
	a.adminHandlers = disco.handlers(a.Telemetry.Handlers())
	return a, nil
}

// ListenOn prepares the proxy server on ln, serving h, or on a TCP
// listener on SLINKERD_LISTEN when ln is nil; Serve (or Start) starts it.
// On ln the proxy serves cleartext, whatever SLINKERD_TLS_* say.
// It opens no admin listener: the in-process client serves the proxy on
// an in-memory listener and nothing else. On error it closes a.
func (a *App) ListenOn(ln net.Listener, h http.Handler) error {
	cfg, log := a.Config, a.Log
	certFile, keyFile := cfg.Proxy.TLSCert, cfg.Proxy.TLSKey
	if ln != nil {
		// An in-memory listener carries the program's own calls: TLS
		// (SLINKERD_TLS_*, for callers on a network) does not apply.
		certFile, keyFile = "", ""
	}
	var err error
	a.Server, err = proxy.Listen(proxy.ServerConfig{
		Addr:              cfg.Proxy.Listen,
		Listener:          ln,
		TLSCertFile:       certFile,
		TLSKeyFile:        keyFile,
		ReadHeaderTimeout: NoLimitIfZero(cfg.Proxy.ReadHeaderTimeout),
		IdleTimeout:       NoLimitIfZero(cfg.Proxy.IdleTimeout),
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		Logger:            log,
		ConnState:         a.Telemetry.ConnState,
		NetHTTPServer:     !cfg.Proxy.FastPath.Enabled(),

		MaxConcurrentStreams: a.Concurrency.StreamsPerConn,
	}, h)
	if err != nil {
		a.Close()
		if errors.Is(err, proxy.ErrTLSCertificate) {
			return fmt.Errorf("SLINKERD_TLS_CERT, SLINKERD_TLS_KEY: %w", err)
		}
		return fmt.Errorf("SLINKERD_LISTEN: %w", err)
	}
	a.closers = append(a.closers, func() error { return a.Server.Shutdown(closedContext()) })
	return nil
}

// Listen opens the proxy listener, serving h (a.Proxy, or a.Proxy wrapped
// by a run mode), and the admin listener. On error it closes a.
func (a *App) Listen(h http.Handler) error {
	if err := a.ListenOn(nil, h); err != nil {
		return err
	}
	cfg, log := a.Config, a.Log
	var err error
	a.Admin, err = admin.Listen(admin.Config{
		Addr:        cfg.Admin.Listen,
		Interpreter: a.Interpreter,
		ConfigJSON:  func() ([]byte, error) { return cfg.JSONWithVersion(buildinfo.Version()) },
		Handlers:    a.adminHandlers,
		DtabSource:  a.dtabSourceState(),
		Logger:      log,
	})
	if err != nil {
		a.Close()
		return fmt.Errorf("SLINKERD_ADMIN_LISTEN: %w", err)
	}
	return nil
}

// newTelemetry builds the metrics, access log and tracing from the
// SLINKERD_* telemetry settings. Traces are started for requests without
// one only when spans are exported (SLINKERD_OTLP_ENDPOINT).
func newTelemetry(cfg *config.Config, log *slog.Logger) (*telemetry.Telemetry, error) {
	tc := cfg.Telemetry
	maxEndpoints := tc.MetricsMaxEndpoints
	if maxEndpoints == 0 {
		maxEndpoints = -1 // 0 turns endpoint series off
	}
	trace, err := traceConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	emfDims, err := telemetry.ParseEMFDimensions(tc.EMFDimensions)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_EMF_DIMENSIONS: %w", err)
	}
	emf := telemetry.EMFConfig{Namespace: tc.EMFNamespace, FunctionName: cfg.Platform().LambdaFunctionName, Dimensions: emfDims}
	if err := emf.Validate(); err != nil {
		return nil, fmt.Errorf("SLINKERD_EMF_NAMESPACE or SLINKERD_EMF_DIMENSIONS: %w", err)
	}
	t, err := telemetry.New(telemetry.Config{
		EMF:          emf,
		MaxEndpoints: maxEndpoints,
		AccessLog:    tc.AccessLog,
		Logger:       log,
		Trace:        trace,
	})
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_*: %w", err)
	}
	return t, nil
}

// traceConfig builds span export and sampling from SLINKERD_OTLP_* and,
// where those are unset, the OpenTelemetry SDK's OTEL_* variables, as an
// OpenTelemetry SDK reads them: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as
// is) or OTEL_EXPORTER_OTLP_ENDPOINT (plus /v1/traces), *_HEADERS,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// _ARG, OTEL_SDK_DISABLED. A bad OTEL_* value is logged and ignored, as
// the SDKs do; a bad SLINKERD_* one is an error. Traces are started for
// requests without one only when spans are exported. On Cloud Run (and
// anywhere GOOGLE_CLOUD_PROJECT is set, Lambda aside) access-log lines
// name their trace for Cloud Logging.
func traceConfig(cfg *config.Config, log *slog.Logger) (telemetry.TraceConfig, error) {
	tc, pe := cfg.Telemetry, cfg.Platform()
	var out telemetry.TraceConfig
	switch {
	case tc.OTLPEndpoint != "":
		out.OTLPEndpoint = tc.OTLPEndpoint
	case pe.SDKDisabled:
	case pe.OTLPTracesEndpoint != "":
		out.OTLPEndpoint, out.OTLPURLAsIs = pe.OTLPTracesEndpoint, true
	case pe.OTLPEndpoint != "":
		out.OTLPEndpoint = pe.OTLPEndpoint
	}
	out.Generate = out.OTLPEndpoint != ""
	if h := tc.OTLPHeaders.Reveal(); h != "" {
		headers, err := telemetry.ParseOTLPHeaders(h)
		if err != nil {
			return out, fmt.Errorf("SLINKERD_OTLP_HEADERS: %w", err)
		}
		out.OTLPHeaders = headers
	} else if h := pe.OTLPHeaders.Reveal(); h != "" {
		headers, err := telemetry.ParseOTLPHeaders(h)
		if err != nil {
			log.Warn("ignoring OTEL_EXPORTER_OTLP_HEADERS", "err", err) // the value may be secret
		}
		out.OTLPHeaders = headers
	}
	out.ServiceName = pe.ServiceName
	if pe.ResourceAttributes != "" {
		attrs, err := telemetry.ParseOTLPHeaders(pe.ResourceAttributes)
		if err != nil {
			log.Warn("ignoring OTEL_RESOURCE_ATTRIBUTES", "value", pe.ResourceAttributes, "err", err)
		}
		out.ResourceAttributes = attrs
	}
	s, err := telemetry.ParseSampler(pe.TracesSampler, pe.TracesSamplerArg)
	if err != nil {
		log.Warn("ignoring OTEL_TRACES_SAMPLER: using parentbased_always_on", "sampler", pe.TracesSampler, "arg", pe.TracesSamplerArg, "err", err)
	}
	out.Sampler = s
	if pe.LambdaFunctionName == "" {
		out.CloudTraceProject = pe.GoogleCloudProject
	}
	return out, nil
}

// NoLimitIfZero turns a configured 0 ("no limit", as the SLINKERD_*
// variables say) into the negative value the servers read as no limit
// (their 0 means their default).
func NoLimitIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
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
	errc := a.Start()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := a.Stop(dctx)
	if serveErr != nil {
		return serveErr
	}
	return err
}

// Start serves the proxy and admin listeners in the background, turns
// /ready on and logs "slinkerd serving". The channel receives a listener's
// error if one stops serving before Stop. Run modes that decide their own
// drain deadline (the Lambda SHUTDOWN event) use Start and Stop instead of
// Serve.
func (a *App) Start() <-chan error {
	errc := make(chan error, 2)
	serve := func(f func() error) {
		if err := f(); err != nil {
			errc <- err
		}
	}
	go serve(a.Server.Serve)
	go serve(a.Admin.Serve)
	a.Admin.SetReady(true)
	a.Log.Info("slinkerd serving", "version", buildinfo.Version(), "mode", a.Mode, "proxy", a.Server.Addr().String(), "admin", a.Admin.Addr().String())
	return errc
}

// Stop drains and closes: /ready turns 503, the proxy stops accepting,
// sends GOAWAY and lets in-flight requests finish until ctx is done, then
// everything is closed. It returns nil after a clean drain.
func (a *App) Stop(ctx context.Context) error {
	a.Admin.SetReady(false)
	err := a.Server.Shutdown(ctx)
	_ = a.Admin.Shutdown(closedContext())
	a.Close()
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
	signer, err := newSigners(entries)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_SVC_POLICY: %w", err)
	}
	return func(svc name.Path) (*proxy.Policy, error) {
		// retry.Policy and proxy.Policy give every number the same meaning
		// (SLINKERD_RETRY_BUFFER_BYTES=0: never replayed); NewPolicy copies
		// them as they are.
		rp := retry.Resolve(global, entries, svc.String())
		pol, err := proxy.NewPolicy(rp, grpcCls)
		if err != nil {
			return nil, fmt.Errorf("SLINKERD_SVC_POLICY for %s: %w", svc, err)
		}
		pol.Signer = signer(rp.Sign) // nil (unsigned) unless the service has sign
		return pol, nil
	}, nil
}

// NewLogger returns the process logger, writing to stderr: JSON lines
// where a platform collects the output (Lambda, Cloud Run) or when asked,
// text on a terminal. See newLogger for each platform's keys.
func NewLogger(cfg *config.Config, mode config.Mode) *slog.Logger {
	return newLogger(os.Stderr, cfg, mode)
}

// Lambda's log levels beyond slog's four (AWS_LAMBDA_LOG_LEVEL).
const (
	levelTrace = slog.LevelDebug - 4
	levelFatal = slog.LevelError + 4
)

// newLogger builds the logger NewLogger describes, writing to w.
//
// On Lambda (mode lambda, or AWS_LAMBDA_FUNCTION_NAME set) JSON lines
// carry timestamp, level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) and
// message, the keys Lambda's log-level filtering reads;
// AWS_LAMBDA_LOG_LEVEL, when set, wins over SLINKERD_LOG_LEVEL, and
// AWS_LAMBDA_LOG_FORMAT (JSON or Text) decides the format unless
// SLINKERD_LOG_FORMAT is json or text. Elsewhere JSON lines carry
// Cloud Logging's severity and message.
func newLogger(w io.Writer, cfg *config.Config, mode config.Mode) *slog.Logger {
	pe := cfg.Platform()
	lambda := mode == config.ModeLambda || pe.LambdaFunctionName != ""
	level := cfg.Telemetry.LogLevel.Level()
	format := string(cfg.Telemetry.LogFormat)
	if format == "auto" || format == "" {
		format = "text"
		if lambda || mode == config.ModeCloudRun {
			format = "json"
		}
		if lambda {
			switch strings.ToLower(pe.LambdaLogFormat) {
			case "json":
				format = "json"
			case "text":
				format = "text"
			}
		}
	}
	if lambda {
		if l, ok := lambdaLevel(pe.LambdaLogLevel); ok {
			level = l
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format != "json" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = cloudLoggingAttrs(true)
	if lambda {
		opts.ReplaceAttr = lambdaAttrs
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// lambdaLevel parses AWS_LAMBDA_LOG_LEVEL.
func lambdaLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return levelTrace, true
	case "DEBUG":
		return slog.LevelDebug, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERROR":
		return slog.LevelError, true
	case "FATAL":
		return levelFatal, true
	}
	return 0, false
}

// lambdaAttrs renames time, level and msg to Lambda's timestamp, level
// and message, the level as one of Lambda's six names.
func lambdaAttrs(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		a.Key = "timestamp"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(lambdaLevelName(l))
		}
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

func lambdaLevelName(l slog.Level) string {
	switch {
	case l >= levelFatal:
		return "FATAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= slog.LevelDebug:
		return "DEBUG"
	}
	return "TRACE"
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

// StartError is an error that kept slinkerd from starting (building the
// proxy or opening a listener), as opposed to one that stopped it later.
// The run modes wrap their start failures in it; its message is the
// cause's.
type StartError struct{ Err error }

// Error returns the cause's message.
func (e *StartError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// IsConfigError reports whether err came from configuration.
func IsConfigError(err error) bool {
	var ve *config.VarError
	return errors.As(err, &ve) || strings.HasPrefix(err.Error(), "SLINKERD_")
}
