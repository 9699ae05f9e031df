package app

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ShutdownContext returns a context that is cancelled when ctx is, or when
// the process gets SIGTERM or SIGINT: the signals that start a drain, in
// every mode. SIGHUP, whose Go default is to exit at once without a drain
// (a closing terminal or a tool expecting a reload sends it), is ignored
// as Envoy ignores it; the first one is logged at info.
//
// The returned stop releases SIGTERM and SIGINT (their defaults apply
// again) but keeps ignoring SIGHUP, so that a late one cannot interrupt
// the drain that follows.
func ShutdownContext(ctx context.Context, log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, stopTerm := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		logged := false
		for {
			select {
			case <-hup:
				if !logged {
					logged = true
					log.Info("slinkerd got SIGHUP and ignores it: it reloads nothing; SIGTERM or SIGINT drains and stops it")
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			stopTerm()
			signal.Ignore(syscall.SIGHUP)
			signal.Stop(hup)
			close(done)
			<-exited
		})
	}
}
