// Package demokit holds what the local demos share: finding the
// repository and waiting for the slinkerd they started to be ready.
package demokit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RepoRoot returns the slinkerd repository that contains the working
// directory, so a demo finds bin/slinkerd and its example files wherever
// it is run from inside the repository.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("demo: working directory: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/slinkerd/slinkerd") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the demo from inside the slinkerd repository")
		}
		dir = parent
	}
}

// WaitReady polls url (slinkerd's admin /ready) until it answers 200, for
// at most 10s. It stops early when the process exits (exited receives its
// Wait error) or ctx is done.
func WaitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("slinkerd exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("slinkerd was not ready within 10s")
}

// StartSlinkerd runs root/bin/slinkerd with the process environment plus
// env, its output on this process's, and waits until its admin server
// (on the default 127.0.0.1:9990) is ready. exited receives the process's
// Wait error if it stops; stop sends it SIGTERM and waits up to 12s before
// killing it.
func StartSlinkerd(ctx context.Context, root string, env ...string) (stop func(), exited <-chan error, err error) {
	cmd := exec.Command(filepath.Join(root, "bin/slinkerd"))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start bin/slinkerd (run `make build` first): %w", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ch:
		case <-time.After(12 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	if err := WaitReady(ctx, "http://127.0.0.1:9990/ready", ch); err != nil {
		stop()
		return nil, nil, err
	}
	return stop, ch, nil
}

// Traffic sends a request to slinkerd's proxy port every 50 ms, to the
// hosts in turn, until ctx ends, logging requests that fail (and, with
// warnStatus, answers other than 200).
func Traffic(ctx context.Context, log *slog.Logger, hosts []string, warnStatus bool) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		go func(host string) {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:4140/", nil)
			req.Host = host
			resp, err := client.Do(req)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					log.Warn("demo request failed", "host", host, "err", err)
				}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if warnStatus && resp.StatusCode != http.StatusOK {
				log.Warn("demo request failed", "host", host, "status", resp.StatusCode, "l5d-err", resp.Header.Get("l5d-err"))
			}
		}(hosts[i%len(hosts)])
	}
}
