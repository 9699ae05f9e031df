// Command demo runs the local slinkerd demo behind `make demo`: five demo
// backends (three "hello", two "world") on loopback, bin/slinkerd routing
// to them through the io.l5d.fs namer over examples/hello/disco, and a
// little steady traffic. Ctrl-C stops everything it started.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/slinkerd/slinkerd/examples/internal/demokit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type backend struct {
	service string
	addr    string
	slow    time.Duration
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	root, err := demokit.RepoRoot()
	if err != nil {
		return err
	}
	backends := []backend{
		{"hello", "127.0.0.1:9101", 5 * time.Millisecond},
		{"hello", "127.0.0.1:9102", 8 * time.Millisecond},
		{"hello", "127.0.0.1:9103", 40 * time.Millisecond}, // a slow one: watch EWMA avoid it
		{"world", "127.0.0.1:9201", 3 * time.Millisecond},
		{"world", "127.0.0.1:9202", 3 * time.Millisecond},
	}
	var servers []*http.Server
	for _, b := range backends {
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			return fmt.Errorf("demo backend %s: %w (is another demo running?)", b.addr, err)
		}
		srv := &http.Server{Handler: demoHandler(b), ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()

	dtab, err := os.ReadFile(filepath.Join(root, "examples/hello/dtab"))
	if err != nil {
		return err
	}
	stop, exited, err := demokit.StartSlinkerd(ctx, root,
		"SLINKERD_FS_DIR="+filepath.Join(root, "examples/hello/disco"),
		"SLINKERD_DTAB="+string(dtab),
		"SLINKERD_MODE=container",
	)
	if err != nil {
		return err
	}
	defer stop()

	fmt.Print(`
slinkerd demo is running.
  dashboard:   http://127.0.0.1:9990/
  delegator:   http://127.0.0.1:9990/delegator.json?path=/svc/hello
  try:
    curl -H 'Host: hello' http://127.0.0.1:4140/
    curl -H 'Host: world' http://127.0.0.1:4140/
    curl -H 'Host: hello-canary' http://127.0.0.1:4140/
    curl -i -H 'Host: nosuch' http://127.0.0.1:4140/     # 502 with l5d-err
    bin/slinkerd delegate --text --dtab "$(cat examples/hello/dtab)" /svc/hello-canary
  Ctrl-C stops everything.
`)
	go demokit.Traffic(ctx, log, []string{"hello", "hello", "world", "hello-canary"}, false)
	select {
	case <-ctx.Done():
		fmt.Println("\nstopping")
		return nil
	case err := <-exited:
		return fmt.Errorf("slinkerd exited: %v", err)
	}
}

func demoHandler(b backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jitter := time.Duration(rand.Int64N(int64(b.slow)/2 + 1))
		select {
		case <-time.After(b.slow + jitter):
		case <-r.Context().Done():
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s from %s (l5d-dst-client %s)\n", b.service, b.addr, r.Header.Get("l5d-dst-client"))
	})
}
