package lambdaext

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

const (
	// telemetryHost is the host name Lambda documents for an extension's
	// Telemetry API listener.
	telemetryHost = "sandbox.localdomain"
	// maxPendingDone bounds the runtimeDone events kept for invocations
	// nobody waits for yet (one arriving before its INVOKE is handled).
	maxPendingDone = 16
)

// telemetryEvent is one event of a Telemetry API batch.
type telemetryEvent struct {
	Time   string          `json:"time"`
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

// runtimeDone tells when the runtime finished which invocation.
type runtimeDone struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
}

// doneListener receives Telemetry API batches and hands each
// platform.runtimeDone to whoever waits for its request ID.
type doneListener struct {
	ln  net.Listener
	srv *http.Server
	uri string
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]string // request ID → status, not yet waited for
	waiters map[string]chan string
	served  chan struct{}
}

// listenTelemetry opens the listener for Telemetry API events on addr.
// An empty addr means a free port on sandbox.localdomain, the host Lambda
// documents for extension listeners, when running in a function
// (AWS_LAMBDA_FUNCTION_NAME is set) and the name resolves; else on
// 127.0.0.1 (the emulator, tests, a developer's machine).
func listenTelemetry(addr string, log *slog.Logger) (*doneListener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
		if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if _, err := net.DefaultResolver.LookupHost(ctx, telemetryHost); err == nil {
				addr = telemetryHost + ":0"
			}
			cancel()
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lambda: telemetry listener on %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = telemetryHost
	}
	port := ln.Addr().(*net.TCPAddr).Port
	l := &doneListener{ln: ln, log: log, uri: "http://" + net.JoinHostPort(host, strconv.Itoa(port)),
		pending: map[string]string{}, waiters: map[string]chan string{}, served: make(chan struct{})}
	l.srv = &http.Server{Handler: http.HandlerFunc(l.serveHTTP), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(ln)
	}()
	return l, nil
}

// close stops the listener and waits for its goroutine.
func (l *doneListener) close() {
	_ = l.srv.Close()
	<-l.served
}

func (l *doneListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var batch []telemetryEvent
	// Lambda's batches are at most 1 MiB (buffering.maxBytes).
	if err := json.NewDecoder(io.LimitReader(r.Body, 2<<20)).Decode(&batch); err != nil {
		l.log.Debug("bad Telemetry API batch", "err", err)
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	for _, ev := range batch {
		if ev.Type != "platform.runtimeDone" {
			continue
		}
		var rd runtimeDone
		if err := json.Unmarshal(ev.Record, &rd); err != nil || rd.RequestID == "" {
			continue
		}
		l.done(rd.RequestID, rd.Status)
	}
	w.WriteHeader(http.StatusOK)
}

// done hands a runtimeDone to its waiter, or keeps it for one.
func (l *doneListener) done(id, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.waiters[id]; ok {
		delete(l.waiters, id)
		ch <- status
		return
	}
	if len(l.pending) >= maxPendingDone {
		clear(l.pending) // stale: nobody waited for them
	}
	l.pending[id] = status
}

// wait waits for the runtimeDone of invocation id until ctx is done, and
// returns its status and whether it arrived.
func (l *doneListener) wait(ctx context.Context, id string) (string, bool) {
	l.mu.Lock()
	if st, ok := l.pending[id]; ok {
		delete(l.pending, id)
		l.mu.Unlock()
		return st, true
	}
	ch := make(chan string, 1)
	l.waiters[id] = ch
	l.mu.Unlock()
	select {
	case st := <-ch:
		return st, true
	case <-ctx.Done():
		l.mu.Lock()
		delete(l.waiters, id)
		l.mu.Unlock()
		select {
		case st := <-ch: // arrived meanwhile
			return st, true
		default:
			return "", false
		}
	}
}
