// Package zone learns the zone the proxy runs in, for zone-aware routing
// (core/balance): an explicit SLINKERD_ZONE wins; otherwise, in the
// background so that no request waits for it,
//
//   - on ECS, the task metadata endpoint v4
//     ($ECS_CONTAINER_METADATA_URI_V4/task, field AvailabilityZone);
//   - on Google Compute Engine (and GKE), the metadata server's
//     instance/zone ("projects/N/zones/europe-west1-b" → "europe-west1-b").
//     Cloud Run ($K_SERVICE or $CLOUD_RUN_JOB set) has only a region, so
//     there is no zone there;
//   - on AWS Lambda there is no documented zone (no AWS_LAMBDA_* variable
//     and no metadata endpoint carries one), so there is none.
//
// Without a zone, zone-aware routing stays off.
package zone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds the metadata request.
const DefaultTimeout = 2 * time.Second

// ErrNoZone means the platform has no zone to learn (Lambda, Cloud Run, or
// none of the known platforms). Match it with errors.Is.
var ErrNoZone = errors.New("zone: the platform reports no zone")

// Config configures Learn and Start. The zero value reads the process's
// environment and uses a client with DefaultTimeout.
type Config struct {
	// Explicit is the zone configured by SLINKERD_ZONE; it wins when set.
	Explicit string
	// Getenv reads the environment. Nil means os.Getenv.
	Getenv func(string) string
	// Client makes the metadata requests. Nil means a client whose
	// Timeout is Timeout.
	Client *http.Client
	// Timeout bounds each metadata request. Defaults to 2s.
	Timeout time.Duration
	// OnGCE says whether the process runs on Google Compute Engine when
	// GCE_METADATA_HOST is not set. Nil means reading the DMI product name
	// (/sys/class/dmi/id/product_name holds "Google"), as Google's
	// metadata library does.
	OnGCE func() bool
}

func (c Config) withDefaults() Config {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	if c.OnGCE == nil {
		c.OnGCE = dmiSaysGoogle
	}
	return c
}

func dmiSaysGoogle() bool {
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	return err == nil && strings.Contains(string(b), "Google")
}

// Learn returns the zone and where it came from ("SLINKERD_ZONE", "ecs",
// "gce"), or an error wrapping ErrNoZone when the platform has none, or
// the metadata request's error.
func Learn(ctx context.Context, cfg Config) (zone, from string, err error) {
	cfg = cfg.withDefaults()
	env := cfg.Getenv
	switch {
	case cfg.Explicit != "":
		return cfg.Explicit, "SLINKERD_ZONE", nil
	case env("ECS_CONTAINER_METADATA_URI_V4") != "":
		z, err := ecsZone(ctx, cfg, env("ECS_CONTAINER_METADATA_URI_V4"))
		return z, "ecs", err
	case env("AWS_LAMBDA_FUNCTION_NAME") != "":
		return "", "lambda", fmt.Errorf("lambda: %w (set SLINKERD_ZONE to route zone-aware)", ErrNoZone)
	case env("K_SERVICE") != "" || env("CLOUD_RUN_JOB") != "":
		return "", "cloudrun", fmt.Errorf("cloud run: %w, only a region", ErrNoZone)
	case env("GCE_METADATA_HOST") != "" || cfg.OnGCE():
		host := env("GCE_METADATA_HOST")
		if host == "" {
			host = "metadata.google.internal"
		}
		z, err := gceZone(ctx, cfg, host)
		return z, "gce", err
	}
	return "", "", ErrNoZone
}

// ecsZone reads AvailabilityZone from the task metadata.
func ecsZone(ctx context.Context, cfg Config, base string) (string, error) {
	body, err := get(ctx, cfg, strings.TrimSuffix(base, "/")+"/task", nil)
	if err != nil {
		return "", fmt.Errorf("zone: ecs task metadata: %w", err)
	}
	var task struct {
		AvailabilityZone string `json:"AvailabilityZone"`
	}
	if err := json.Unmarshal(body, &task); err != nil {
		return "", fmt.Errorf("zone: ecs task metadata: decode: %w", err)
	}
	if task.AvailabilityZone == "" {
		return "", fmt.Errorf("zone: ecs task metadata: no AvailabilityZone: %w", ErrNoZone)
	}
	return task.AvailabilityZone, nil
}

// gceZone reads instance/zone from the metadata server.
func gceZone(ctx context.Context, cfg Config, host string) (string, error) {
	body, err := get(ctx, cfg, "http://"+host+"/computeMetadata/v1/instance/zone", http.Header{"Metadata-Flavor": {"Google"}})
	if err != nil {
		return "", fmt.Errorf("zone: gce metadata instance/zone: %w", err)
	}
	s := strings.TrimSpace(string(body))
	z := s[strings.LastIndexByte(s, '/')+1:]
	if z == "" {
		return "", fmt.Errorf("zone: gce metadata instance/zone: %q has no zone: %w", s, ErrNoZone)
	}
	return z, nil
}

func get(ctx context.Context, cfg Config, url string, h http.Header) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, nil
}

// Source holds the caller's zone as it is learned. Its methods are safe
// for concurrent use; Zone is one atomic load, cheap enough for every
// balancer pick.
type Source struct {
	zone atomic.Pointer[string]
	done chan struct{}
	from string
	err  error
}

// Learnable says, without asking anything over the network, whether
// Learn may find a zone here: SLINKERD_ZONE is set, or the process runs
// on ECS or Google Compute Engine. On Lambda, Cloud Run and elsewhere it
// is false, and callers need not prepare for a zone at all.
func Learnable(cfg Config) bool {
	cfg = cfg.withDefaults()
	env := cfg.Getenv
	switch {
	case cfg.Explicit != "", env("ECS_CONTAINER_METADATA_URI_V4") != "":
		return true
	case env("AWS_LAMBDA_FUNCTION_NAME") != "", env("K_SERVICE") != "" || env("CLOUD_RUN_JOB") != "":
		return false
	}
	return env("GCE_METADATA_HOST") != "" || cfg.OnGCE()
}

// Start returns a Source and learns the zone in the background (at once
// when Explicit is set). Until it is learned, or when there is none, Zone
// returns "". The background request ends with ctx or cfg.Timeout.
func Start(ctx context.Context, cfg Config) *Source {
	s := &Source{done: make(chan struct{})}
	learn := func() {
		defer close(s.done)
		z, from, err := Learn(ctx, cfg)
		s.from, s.err = from, err
		if err == nil {
			s.zone.Store(&z)
		}
	}
	if cfg.Explicit != "" {
		learn()
		return s
	}
	go learn()
	return s
}

// Zone returns the zone, "" while unknown.
func (s *Source) Zone() string {
	if p := s.zone.Load(); p != nil {
		return *p
	}
	return ""
}

// Done is closed when learning has ended, with or without a zone.
func (s *Source) Done() <-chan struct{} { return s.done }

// Result returns, once Done is closed, where the zone came from and why
// there is none (an error wrapping ErrNoZone, or the request's error).
func (s *Source) Result() (from string, err error) {
	<-s.done
	return s.from, s.err
}
