// Package accrual implements failure accrual, as Finagle's
// FailureAccrualFactory: a Policy object decides from classified request
// outcomes when an endpoint is dead and for how long, and a small Gate
// state machine per endpoint turns that verdict into a status for the
// load balancer (alive → dead for a backoff → one probe → alive again, or
// dead for a longer backoff).
//
// A dead endpoint is only reported busy: the balancer steers traffic away
// from it but still sends to it when every endpoint is down (fail open).
// Nothing in this package rejects a request.
//
// Time and randomness are injected (clock.Clock, func() float64) so tests
// advance a fake clock instead of sleeping. The package starts no
// goroutines.
package accrual

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
)

// The defaults of Config, Finagle's and linkerd 1's.
const (
	// DefaultConsecutiveFailures is how many failures in a row mark an
	// endpoint dead.
	DefaultConsecutiveFailures = 5
	// DefaultSuccessRateWindow is the success-rate policy's window.
	DefaultSuccessRateWindow = 30 * time.Second
	// DefaultSuccessRateMinRequests is how many requests the window needs
	// before the success rate counts.
	DefaultSuccessRateMinRequests = 5
	// DefaultBackoffMin is the first dead period.
	DefaultBackoffMin = 5 * time.Second
	// DefaultBackoffMax is the longest dead period.
	DefaultBackoffMax = 300 * time.Second
)

// Config configures failure accrual. The zero value is Finagle's default:
// 5 consecutive failures, dead for 5 s doubling to 300 s, success-rate
// policy off.
type Config struct {
	// ConsecutiveFailures is how many failures in a row mark an endpoint
	// dead. Defaults to 5 when zero; negative disables the policy.
	ConsecutiveFailures int
	// SuccessRate, when positive, also marks an endpoint dead when the
	// fraction of its requests that succeeded over SuccessRateWindow falls
	// below it, e.g. 0.8. It must lie in [0, 1]. Defaults to 0: disabled.
	// With both policies on, either one marks the endpoint dead.
	SuccessRate float64
	// SuccessRateWindow is the sliding window of the success-rate policy.
	// Defaults to 30s.
	SuccessRateWindow time.Duration
	// SuccessRateMinRequests is how many requests the window must hold
	// before the success rate can mark an endpoint dead. Defaults to 5.
	SuccessRateMinRequests int
	// BackoffMin is the first dead period; later ones double, with equal
	// jitter, up to BackoffMax. Defaults to 5s.
	BackoffMin time.Duration
	// BackoffMax is the longest dead period. Defaults to 300s (5m).
	BackoffMax time.Duration
}

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if c.SuccessRateWindow == 0 {
		c.SuccessRateWindow = DefaultSuccessRateWindow
	}
	if c.SuccessRateMinRequests == 0 {
		c.SuccessRateMinRequests = DefaultSuccessRateMinRequests
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	return c
}

// Validate reports every field that is out of range, after applying
// defaults, joined into one error.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if math.IsNaN(c.SuccessRate) || c.SuccessRate < 0 || c.SuccessRate > 1 {
		errs = append(errs, fmt.Errorf("accrual: SuccessRate %v is outside [0, 1]", c.SuccessRate))
	}
	if c.SuccessRateWindow < successRateBuckets {
		errs = append(errs, fmt.Errorf("accrual: SuccessRateWindow %v is shorter than %v", c.SuccessRateWindow, time.Duration(successRateBuckets)))
	}
	if c.SuccessRateMinRequests < 0 {
		errs = append(errs, fmt.Errorf("accrual: SuccessRateMinRequests %d is negative", c.SuccessRateMinRequests))
	}
	if c.BackoffMin < 0 {
		errs = append(errs, fmt.Errorf("accrual: BackoffMin %v is negative", c.BackoffMin))
	}
	if c.BackoffMax < 0 {
		errs = append(errs, fmt.Errorf("accrual: BackoffMax %v is negative", c.BackoffMax))
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("accrual: BackoffMax %v is below BackoffMin %v", c.BackoffMax, c.BackoffMin))
	}
	return errors.Join(errs...)
}

// Factory builds the per-endpoint policies and gates of one validated
// Config. A balancer holds one Factory and asks it for a Gate per
// endpoint.
type Factory struct {
	cfg   Config
	clock clock.Clock
	rand  func() float64
}

// NewFactory validates c and returns a factory for its policies. clk
// (nil = real clock) times the success-rate window; rand (nil =
// math/rand/v2) supplies backoff jitter and is called only from the
// policies' methods, so a caller that serialises those may pass an
// unsynchronised source.
func NewFactory(c Config, clk clock.Clock, rand func() float64) (*Factory, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if rand == nil {
		rand = defaultRand
	}
	f := &Factory{cfg: c.WithDefaults(), clock: clock.Or(clk), rand: rand}
	return f, nil
}

// Config returns the factory's configuration with defaults applied.
func (f *Factory) Config() Config { return f.cfg }

// NewPolicy returns a fresh policy for one endpoint: consecutive failures,
// success rate, both combined, or Never when both are disabled.
func (f *Factory) NewPolicy() Policy {
	var ps []Policy
	// Validate has checked every argument, so the constructors cannot fail.
	if f.cfg.ConsecutiveFailures > 0 {
		ps = append(ps, &ConsecutiveFailures{n: f.cfg.ConsecutiveFailures, backoff: f.backoff()})
	}
	if f.cfg.SuccessRate > 0 {
		p, _ := NewSuccessRate(f.cfg.SuccessRate, f.cfg.SuccessRateWindow, f.cfg.SuccessRateMinRequests, f.backoff(), f.clock)
		ps = append(ps, p)
	}
	return Combine(ps...)
}

// NewGate returns a gate for one new endpoint, driven by NewPolicy.
func (f *Factory) NewGate() *Gate { return NewGate(f.NewPolicy()) }

func (f *Factory) backoff() Backoff {
	return Backoff{min: f.cfg.BackoffMin, max: f.cfg.BackoffMax, rand: f.rand}
}
