// Package demokit holds what the local demos share: finding the
// repository and waiting for the slinkerd they started to be ready.
package demokit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
