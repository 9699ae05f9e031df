package lambdaext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/slinkerd/slinkerd/adapters/lambdaext/internal/extapi"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/internal/app"
)

// Error types reported to Lambda through init/error and exit/error. Lambda
// shows them in the function's init or invoke error.
const (
	// ErrConfigInvalid: a SLINKERD_* variable is invalid.
	ErrConfigInvalid = "Extension.ConfigInvalid"
	// ErrInitFailed: the proxy could not be assembled (a namer failed).
	ErrInitFailed = "Extension.InitFailed"
	// ErrListenFailed: the proxy or admin port could not be bound.
	ErrListenFailed = "Extension.ListenFailed"
	// ErrServeFailed: a listener stopped serving after init.
	ErrServeFailed = "Extension.ServeFailed"
	// ErrEventsFailed: event/next failed after init.
	ErrEventsFailed = "Extension.EventsFailed"
)

// shutdownMargin is kept back from the SHUTDOWN deadline for what follows
// the drain: closing namers and telemetry, the last EMF flush, and exit.
const shutdownMargin = 150 * time.Millisecond

// spanFlushTimeout bounds the export of waiting trace spans on INVOKE,
// which delays the extension's next event/next and so may delay the end of
// the invocation.
const spanFlushTimeout = 250 * time.Millisecond

// Options configures Run.
type Options struct {
	// Config is the loaded configuration; nil when ConfigErr is set.
	Config *config.Config
	// ConfigErr is the configuration's error, if loading failed. Run then
	// registers, reports it to Lambda as Extension.ConfigInvalid and
	// returns it, so the function's init fails with a readable reason.
	ConfigErr error
	// RuntimeAPI is the host:port of the Extensions API, the value of
	// AWS_LAMBDA_RUNTIME_API. Required.
	RuntimeAPI string
	// Name is the name the extension registers under, which Lambda
	// requires to be its file name in /opt/extensions. Defaults to the
	// base name of os.Args[0].
	Name string
	// Log receives the extension's log. Defaults to slog.Default().
	Log *slog.Logger
	// Started is when the process started; Run logs the time from it to
	// ready as startup_ms. Defaults to when Run is called.
	Started time.Time
	// Metrics receives the CloudWatch EMF lines, written when each
	// invocation ends (every SLINKERD_LAMBDA_MANAGED_FLUSH on Lambda
	// Managed Instances) and at SHUTDOWN. Defaults to os.Stdout, which
	// Lambda sends to CloudWatch Logs.
	Metrics io.Writer
	// TelemetryListen is the host:port of the listener that receives
	// Telemetry API events. Defaults to empty: a free port on
	// sandbox.localdomain (the host Lambda documents for extension
	// listeners) in a function (AWS_LAMBDA_FUNCTION_NAME set) where that
	// name resolves, else on 127.0.0.1.
	TelemetryListen string
}

// ExtensionGCPercent is the GOGC that Run sets when the GOGC variable is
// not set.
const ExtensionGCPercent = 50

// Run runs slinkerd as an AWS Lambda external extension, from register
// to SHUTDOWN:
//
//  1. Build the proxy and open its listener and the admin listener, so
//     that they are open before Lambda starts the runtime, which it does
//     once every extension has registered.
//  2. Register for INVOKE and SHUTDOWN (SHUTDOWN only on Lambda Managed
//     Instances, where Lambda refuses INVOKE). A failure of step 1 is then
//     reported through init/error with a reason (the Extension.*
//     constants) and returned; a failure to register can only be
//     returned.
//  3. Serve, and only then ask for the first event.
//  4. Subscribe to the Telemetry API's platform events, to learn when
//     the runtime has finished each invocation (platform.runtimeDone).
//  5. On INVOKE: set the invocation's X-Amzn-Trace-Id for requests that
//     carry none, close idle pooled connections after a thaw (see
//     Config.Run.LambdaThawGap), and start the refresh of stale names.
//     Then wait for the invocation's platform.runtimeDone (at most until
//     its deadline), write the invocation's metrics as EMF lines and
//     export its spans, and only then ask for the next event: the
//     invocation lasts until every extension has asked, so its metrics
//     are written, timestamped inside it, before the next one starts.
//     Where the Telemetry API is missing (the Runtime Interface
//     Emulator) or the subscription fails, the extension says so once
//     and falls back to writing the previous invocation's metrics at the
//     next INVOKE, each line timestamped with the arrival of its
//     service's latest request (inside that invocation).
//     On Lambda Managed Instances there is no INVOKE, invocations
//     overlap and nothing is frozen: step 4 is skipped, and a timer
//     writes the metrics and exports the spans every
//     SLINKERD_LAMBDA_MANAGED_FLUSH instead.
//  6. On SHUTDOWN: drain within the event's deadline (and at most
//     SLINKERD_DRAIN_TIMEOUT), flush metrics and spans, and return nil so
//     the process exits 0 before Lambda has to kill it.
//
// Run sets the garbage collector's target to GOGC=50 (ExtensionGCPercent)
// unless the GOGC variable is set: the extension's live heap is under
// 1 MB, so Go's minimum heap goal (4 MB at GOGC=100) is most of its
// memory, and that memory is the function's. It costs about 1.2 µs of
// GC CPU per proxied request (docs/performance.md).
//
// When ctx ends or the process gets SIGTERM or SIGINT (Lambda itself
// sends SHUTDOWN, but a test harness may signal), Run drains for
// SLINKERD_DRAIN_TIMEOUT and returns nil. Nothing in Run uses a timer
// across events in classic Lambda, so a freeze between events loses
// nothing; the timer of Managed Instances runs where nothing freezes.
func Run(ctx context.Context, o Options) error {
	if o.Started.IsZero() {
		o.Started = time.Now()
	}
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = os.Stdout
	}
	log := o.Log
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(ExtensionGCPercent)
	}
	ctx, stop := app.ShutdownContext(ctx, log)
	defer stop()
	c, err := extapi.NewClient(o.RuntimeAPI, nil)
	if err != nil {
		return &app.StartError{Err: err}
	}
	defer c.CloseIdleConnections()

	// Build and listen before registering: Lambda starts the runtime once
	// every extension has registered, and the function may call the proxy
	// from its own init. A failure is reported after registering, which
	// gives the identifier that init/error needs.
	var a *app.App
	var act *app.Activity
	// On Lambda Managed Instances an external extension may register for
	// SHUTDOWN only: Lambda refuses INVOKE there (403
	// Extension.InvalidEventType), and invocations overlap.
	var maxConcurrency int
	var managed bool
	if o.Config != nil {
		maxConcurrency, managed = o.Config.LambdaManagedInstances(config.ModeLambda)
	} else {
		// No configuration to read it from, but the init error must
		// still be reported, which needs a registration Lambda accepts:
		// tell the flavour from Lambda's own variables.
		managed = os.Getenv("AWS_LAMBDA_INITIALIZATION_TYPE") == "lambda-managed-instances" ||
			os.Getenv("AWS_LAMBDA_MAX_CONCURRENCY") != ""
	}
	events := []extapi.EventType{extapi.Invoke, extapi.Shutdown}
	if managed {
		events = []extapi.EventType{extapi.Shutdown}
	}
	errType, initErr := ErrConfigInvalid, o.ConfigErr
	if initErr == nil && o.Config == nil {
		initErr = errors.New("lambda: no configuration")
	}
	if initErr == nil {
		a, initErr = app.Build(o.Config, config.ModeLambda, log)
		if initErr != nil && !app.IsConfigError(initErr) {
			errType = ErrInitFailed
		}
	}
	if initErr == nil {
		act = app.NewActivity(time.Now())
		var h http.Handler = a.Proxy
		if !managed {
			h = act.Wrap(h) // thaw detection: classic Lambda only freezes
		}
		if initErr = a.Listen(h); initErr != nil {
			errType = ErrListenFailed
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	reg, err := c.Register(rctx, o.Name, events...)
	cancel()
	if err != nil {
		if initErr != nil {
			err = errors.Join(initErr, err)
		} else {
			_ = a.Stop(closedContext())
		}
		return &app.StartError{Err: err}
	}
	registered := time.Now()
	if initErr != nil {
		log.Error("slinkerd extension init failed", "errorType", errType, "err", initErr)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := c.InitError(rctx, errType, initErr); err != nil {
			log.Error("cannot report the init error to Lambda", "err", err)
		}
		return &app.StartError{Err: fmt.Errorf("%s: %w", errType, initErr)}
	}
	serveErr := a.Start()
	ready := time.Now()
	log.Info("slinkerd lambda extension ready",
		"startup_ms", ms(ready.Sub(o.Started)),
		"register_ms", ms(registered.Sub(o.Started)),
		"function", reg.FunctionName, "version", reg.FunctionVersion,
		"managed_instances", managed, "max_concurrency", maxConcurrency)

	x := &extension{o: o, c: c, a: a, act: act, log: log, managed: managed}
	if managed {
		x.startTicker(o.Config.Run.LambdaManagedFlush)
	} else {
		x.subscribe(ctx)
	}
	return x.loop(ctx, serveErr)
}

// extension is Run's state after init.
type extension struct {
	o   Options
	c   *extapi.Client
	a   *app.App
	act *app.Activity
	log *slog.Logger

	// done receives platform.runtimeDone; nil when the Telemetry API is
	// not available, and metrics are flushed at the next event instead.
	done *doneListener

	// managed is true on Lambda Managed Instances: no INVOKE events, no
	// freeze; metrics are flushed by a ticker instead (startTicker).
	managed bool
	// tickStop stops the ticker; tickDone is closed when it has stopped.
	// Both nil when there is none.
	tickStop, tickDone chan struct{}
}

// startTicker flushes metrics and spans every interval, from a goroutine
// of its own, until stopTicker. It serves Lambda Managed Instances, where
// the environment is never frozen, so a timer runs, and where no event
// marks the end of an invocation: invocations overlap, and Lambda sends
// an external extension SHUTDOWN only.
func (x *extension) startTicker(interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	x.tickStop, x.tickDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(x.tickDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-x.tickStop:
				return
			case now := <-t.C:
				// The flush ends the period, so now is inside it.
				x.flush(context.Background(), now, spanFlushTimeout)
			}
		}
	}()
}

// stopTicker stops the ticker of startTicker, if any, and waits for it:
// after it returns, no flush is running.
func (x *extension) stopTicker() {
	if x.tickStop == nil {
		return
	}
	close(x.tickStop)
	<-x.tickDone
	x.tickStop, x.tickDone = nil, nil
}

// subscribe subscribes to the Telemetry API's platform events. If that
// fails, it logs why at info and leaves x.done nil: metrics are then
// written at the next event.
func (x *extension) subscribe(ctx context.Context) {
	if x.o.Config != nil && x.o.Config.Telemetry.EMFFlush == "next-event" {
		x.log.Debug("SLINKERD_EMF_FLUSH=next-event: an invocation's metrics are written when the next event arrives")
		return
	}
	l, err := listenTelemetry(x.o.TelemetryListen, x.log)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = x.c.SubscribeTelemetry(sctx, l.uri, []string{"platform"},
			extapi.TelemetryBuffering{MaxItems: 1000, MaxBytes: 256 << 10, TimeoutMs: extapi.MinBufferingMs})
		cancel()
		if err != nil {
			l.close()
		}
	}
	if err != nil {
		x.log.Info("no Telemetry API: an invocation's metrics are written when the next event arrives, not when it ends", "err", err)
		return
	}
	x.done = l
	x.log.Debug("subscribed to the Telemetry API", "destination", l.uri)
}

type nextResult struct {
	ev  *extapi.Event
	err error
}

func (x *extension) loop(ctx context.Context, serveErr <-chan error) error {
	for {
		nc := make(chan nextResult, 1)
		go func() {
			ev, err := x.c.Next(ctx)
			nc <- nextResult{ev, err}
		}()
		select {
		case r := <-nc:
			if r.err != nil {
				if ctx.Err() != nil {
					return x.stop(time.Time{}, "signal")
				}
				x.exitError(ErrEventsFailed, r.err)
				_ = x.stop(time.Time{}, "event/next failed")
				return r.err
			}
			switch r.ev.EventType {
			case extapi.Invoke:
				x.invoke(ctx, r.ev)
			case extapi.Shutdown:
				return x.stop(r.ev.Deadline(), r.ev.ShutdownReason)
			default:
				x.log.Warn("unknown Lambda extension event", "eventType", r.ev.EventType)
			}
		case err := <-serveErr:
			x.exitError(ErrServeFailed, err)
			_ = x.stop(time.Time{}, "serve failed")
			return err
		case <-ctx.Done():
			<-nc // the request is cancelled with ctx
			return x.stop(time.Time{}, "signal")
		}
	}
}

// invoke handles an INVOKE event. The invocation does not end before the
// extension asks for its next event, so invoke returns as soon as the
// runtime has finished it (platform.runtimeDone) and its metrics are
// written; without the Telemetry API it writes the previous invocation's
// metrics and returns at once.
func (x *extension) invoke(ctx context.Context, ev *extapi.Event) {
	now := time.Now()
	if x.managed {
		// Not expected: Lambda sends no INVOKE to an extension registered
		// for SHUTDOWN only. Were one to come, it is one of many
		// overlapping invocations of a never-frozen environment: nothing
		// to thaw, no trace id to set for all, and no wait, which would
		// hold up the events of the others.
		x.log.Debug("invoke", "requestId", ev.RequestID, "managed_instances", true)
		return
	}
	x.a.Telemetry.Tracer().SetLambdaTraceID(ev.TraceHeader())
	idle, closed, names := x.a.InvokeStart(ctx, x.act, x.o.Config.Run.LambdaThawGap, now)
	x.log.Debug("invoke", "requestId", ev.RequestID, "deadline", ev.Deadline(), "trace", ev.TraceHeader(),
		"idle_ms", ms(idle), "closed_idle", closed, "names", names)
	if x.done == nil {
		x.flush(ctx, time.Time{}, spanFlushTimeout)
		return
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if d := ev.Deadline(); !d.IsZero() {
		wctx, cancel = context.WithDeadline(ctx, d)
	}
	status, ok := x.done.wait(wctx, ev.RequestID)
	cancel()
	if !ok && ctx.Err() == nil {
		// Lambda sends runtimeDone even for a timeout; not getting it
		// means it will not come, and waiting would make every
		// invocation last until its deadline.
		x.log.Warn("no platform.runtimeDone before the invocation's deadline; metrics are written at the next event from now on",
			"requestId", ev.RequestID)
		x.done.close()
		x.done = nil
	}
	x.flush(ctx, time.Now(), spanFlushTimeout)
	x.log.Debug("invocation done", "requestId", ev.RequestID, "status", status, "took_ms", ms(time.Since(now)))
}

// flush writes the EMF lines of the period since the last flush,
// timestamped at (a time inside that period), and exports the waiting
// spans within spanTimeout.
func (x *extension) flush(ctx context.Context, at time.Time, spanTimeout time.Duration) {
	if err := x.a.Telemetry.FlushEMF(x.o.Metrics, at); err != nil {
		x.log.Warn("cannot write EMF metrics", "err", err)
	}
	sctx, cancel := context.WithTimeout(ctx, spanTimeout)
	defer cancel()
	if err := x.a.Telemetry.Tracer().Flush(sctx); err != nil {
		x.log.Debug("cannot export trace spans", "err", err)
	}
}

// stop drains the proxy until deadline less shutdownMargin (at most
// SLINKERD_DRAIN_TIMEOUT; a zero deadline means the drain timeout alone),
// then flushes metrics. It returns nil: a drain cut short is logged, not
// an error, since Lambda would only kill the process for it.
func (x *extension) stop(deadline time.Time, reason string) error {
	start := time.Now()
	x.stopTicker() // the last flush below is then the only one
	drain := x.o.Config.Proxy.DrainTimeout
	if !deadline.IsZero() {
		drain = min(drain, deadline.Sub(start)-shutdownMargin)
	}
	drain = max(drain, 0)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	err := x.a.Stop(ctx) // also closes telemetry, which exports the last spans
	cancel()
	if err != nil {
		x.log.Warn("drain cut short", "err", err, "drain_ms", ms(drain))
	}
	if x.done != nil {
		x.done.close()
		x.done = nil
	}
	if ferr := x.a.Telemetry.FlushEMF(x.o.Metrics, time.Time{}); ferr != nil {
		x.log.Warn("cannot write EMF metrics", "err", ferr)
	}
	attrs := []any{"reason", reason, "took_ms", ms(time.Since(start)), "drain_ms", ms(drain)}
	if !deadline.IsZero() {
		attrs = append(attrs, "deadline_left_ms", ms(time.Until(deadline)))
	}
	x.log.Info("slinkerd lambda extension stopped", attrs...)
	return nil
}

func (x *extension) exitError(errType string, cause error) {
	x.log.Error("slinkerd extension failed", "errorType", errType, "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := x.c.ExitError(ctx, errType, cause); err != nil {
		x.log.Debug("cannot report the exit error to Lambda", "err", err)
	}
}

// ms returns d in milliseconds with µs precision, for logs.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// closedContext returns a context that is already done.
func closedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
