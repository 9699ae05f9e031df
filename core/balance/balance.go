// Package balance picks the endpoint for each request among the addresses
// a name is bound to, with Finagle's algorithms (DESIGN.md §4): power of
// two choices (P2C) over peak-EWMA latency (the default) or over
// outstanding requests, and smooth weighted round robin. Every endpoint
// carries a failure-accrual gate (package accrual) whose status steers
// the choice; a weighted Union spreads traffic across several balancers,
// as `0.9 * /a & 0.1 * /b` in a dtab.
//
// Balancers never block and never reject on their own: when every
// endpoint is down they send anyway (fail open). Only an empty endpoint
// set is an error, ErrNoEndpoints.
//
// Time and randomness are injected through Config so tests are exact and
// never sleep. The package starts no goroutines.
package balance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
)

// ErrNoEndpoints is returned by Pick when there is no endpoint at all.
// Callers answer 502 with an l5d-err header. Match it with errors.Is.
var ErrNoEndpoints = errors.New("balance: no endpoints")

// The balancer kinds accepted in Config.Kind.
const (
	// KindEWMA is P2C over peak-EWMA latency × outstanding requests.
	KindEWMA = "ewma"
	// KindP2C is P2C over outstanding requests (least loaded).
	KindP2C = "p2c"
	// KindRoundRobin is smooth weighted round robin.
	KindRoundRobin = "roundrobin"
)

// The defaults of Config.
const (
	// DefaultMaxEffort is how many P2C draws look for an open endpoint.
	DefaultMaxEffort = 5
	// DefaultDecayTime is τ, the peak-EWMA decay time.
	DefaultDecayTime = 10 * time.Second
	// DefaultFailurePenalty is the least latency a failed request is
	// charged in the peak EWMA.
	DefaultFailurePenalty = time.Second
)

// ZoneCounter is a Balancer that routes by zone (Config.Zone set): it
// counts its picks in the caller's zone and in others.
type ZoneCounter interface {
	// ZoneCounts returns the picks in the caller's zone and in another
	// one, counted while the caller's zone was known.
	ZoneCounts() (local, remote uint64)
}

// Config configures New. The zero value is a peak-EWMA P2C balancer with
// max effort 5, τ 10s, default failure accrual, the real clock and a
// randomly seeded source.
type Config struct {
	// Kind is the algorithm: "ewma" (P2C over peak EWMA), "p2c" (P2C
	// least loaded) or "roundrobin" ("roundRobin", linkerd 1's spelling,
	// is accepted too). Defaults to "ewma".
	Kind string
	// MaxEffort is how many times P2C draws a pair looking for an open
	// endpoint before it sends to the best of the last pair anyway.
	// Defaults to 5; must not be negative. Ignored by round robin.
	MaxEffort int
	// DecayTime is τ, the time constant of the peak EWMA: an observation
	// t old weighs exp(-t/τ). Defaults to 10s; must not be negative.
	DecayTime time.Duration
	// FailurePenalty is the least latency a failed request is charged in
	// the peak EWMA, so that an endpoint that fails fast does not look
	// fast: a failure counts as max(rtt, FailurePenalty, current EWMA).
	// Defaults to 1s; negative disables the charge (a failure counts as
	// its rtt). Services whose healthy latency exceeds 1s should raise it.
	FailurePenalty time.Duration
	// Accrual configures failure accrual. The zero value is the default:
	// dead after 5 consecutive failures, for 5s doubling to 300s.
	Accrual accrual.Config
	// Clock tells the time. Nil means the real clock.
	Clock clock.Clock
	// Rand supplies randomness: P2C draws and backoff jitter. The
	// balancer uses it under its own lock, so it must not be shared.
	// Nil means a source seeded at random.
	Rand *rand.Rand

	// Zone returns the caller's zone (e.g. "us-east-1a"), "" while it is
	// not known. When it is set, the balancer routes zone-aware (see
	// zoneBalancer in zone.go): it keeps one balancer of Kind per zone of
	// the endpoints (name.Address.Meta["zone"]) and prefers the caller's
	// zone while it has enough healthy capacity. It is called at every
	// pick, so it must be cheap (an atomic load). Nil, the default, turns
	// zone-aware routing off.
	Zone func() string
	// ZoneMinEndpoints is the least number of endpoints for zone-aware
	// routing (Envoy's min_cluster_size). Defaults to 6; must not be
	// negative.
	ZoneMinEndpoints int
	// ZonePanicThreshold is the least share of healthy capacity, 0 to 1,
	// for zone-aware routing (Envoy's healthy_panic_threshold). Defaults
	// to 0.5.
	ZonePanicThreshold float64
	// ZoneOverloadPending is the number of outstanding requests at which
	// a healthy local endpoint counts as overloaded; when all of them
	// are, requests spill to the other zones. Defaults to 64; negative
	// disables the check.
	ZoneOverloadPending int
}

// Picker chooses endpoints. A Balancer is a Picker over a set of
// addresses it is told about; a Union is a Picker over other Pickers.
type Picker interface {
	// Pick chooses an endpoint. It never blocks. It returns
	// ErrNoEndpoints when there is none. The caller must call Done on the
	// result exactly once.
	Pick() (*Pick, error)
	// Endpoints returns a snapshot of per-endpoint state, for
	// /admin/metrics.json and the dashboard.
	Endpoints() []EndpointStats
}

// Balancer balances over one address set. It is safe for concurrent use.
type Balancer interface {
	Picker
	// Update replaces the complete endpoint set. State (EWMA, pending,
	// accrual) is kept for endpoints whose HostPort stays; in-flight picks
	// of removed endpoints still complete safely.
	Update(addrs []name.Address)
}

// Pick is one chosen endpoint. Report its outcome with Done.
type Pick struct {
	// Address is the chosen endpoint.
	Address name.Address
	// HostPort is Address.HostPort(), rendered once per endpoint.
	HostPort string

	ep         *endpoint
	set        *endpointSet
	onDone     func(failed bool) // a registered balancer's (NewPick)
	start      time.Time
	probe      bool
	done       atomic.Bool
	prev, next *Pick // the endpoint's outstanding Picks, guarded by set.mu
}

// Done records the outcome of the request: failed means the response was
// classified as a failure. Call it exactly once per Pick; later calls are
// no-ops. It never blocks for long and does not allocate.
func (p *Pick) Done(failed bool) {
	if p == nil || !p.done.CompareAndSwap(false, true) {
		return
	}
	switch {
	case p.set != nil:
		p.set.release(p, failed)
	case p.onDone != nil:
		p.onDone(failed)
	}
}

// NewPick returns a Pick of addr for a registered balancer (Register):
// done, if not nil, is called once with the outcome when the proxy is
// finished with the endpoint.
func NewPick(addr name.Address, done func(failed bool)) *Pick {
	return &Pick{Address: addr, HostPort: addr.HostPort(), onDone: done}
}

// Factory builds a registered kind of balancer from its Config (Kind,
// Clock and Rand are the ones to use; the P2C, EWMA, accrual and zone
// settings are the built-in balancers' own and may be ignored).
type Factory func(Config) (Balancer, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// Register adds a kind of balancer, chosen by SLINKERD_BALANCER=kind (or
// Config.Kind), as grpc-go's balancer.Register does: call it from an init
// function. It panics if kind is empty, one of the built-in kinds, or
// registered already. A registered balancer does its own failure
// handling: the built-in failure accrual and zone-aware routing wrap only
// the built-in kinds.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[kind]; ok || kind == "" || f == nil || isBuiltin(kind) {
		panic(fmt.Sprintf("balance: Register(%q): empty, built in, or registered twice", kind))
	}
	registry[kind] = f
}

// Kinds returns the registered kinds, built-in ones first.
func Kinds() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := []string{KindEWMA, KindP2C, KindRoundRobin}
	rest := make([]string, 0, len(registry))
	for k := range registry {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func isBuiltin(kind string) bool {
	switch kind {
	case "", KindEWMA, KindP2C, KindRoundRobin, "roundRobin":
		return true
	}
	return false
}

func registered(kind string) (Factory, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	f, ok := registry[kind]
	return f, ok
}

// EndpointStats is a snapshot of one endpoint's state.
type EndpointStats struct {
	// Address is the endpoint's host:port.
	Address string
	// Weight is the endpoint's effective weight.
	Weight float64
	// Pending is the number of outstanding requests.
	Pending int
	// Load is what the balancer compares, before dividing by Weight:
	// peak EWMA in nanoseconds × (Pending+1) for "ewma" (a huge penalty
	// while a new endpoint's first request is outstanding), Pending for
	// the others.
	Load float64
	// EWMA is the current peak-EWMA latency estimate, decayed to now. It
	// is kept for every kind.
	EWMA time.Duration
	// State is the failure-accrual state: "alive", "dead" or "probing".
	State string
	// Failures is the number of consecutive failed requests.
	Failures int
	// Requests is the number of completed requests.
	Requests int64
	// Failed is the number of completed requests that failed.
	Failed int64
	// DeadUntil is when the current backoff expires; zero when alive.
	DeadUntil time.Time
	// Zone is the endpoint's zone (its Meta["zone"]), "" when unknown.
	Zone string
	// Locality is LocalityLocal or LocalityRemote when the balancer routes
	// zone-aware and knows the caller's zone, "" otherwise.
	Locality string
}

// New returns a balancer for cfg with no endpoints; call Update to give it
// some. It reports the first invalid field.
func New(cfg Config) (Balancer, error) {
	load := leastLoaded
	switch cfg.Kind {
	case "", KindEWMA:
		load = ewmaLoad
	case KindP2C, KindRoundRobin, "roundRobin":
	default:
		if f, ok := registered(cfg.Kind); ok {
			if cfg.Rand == nil {
				cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			}
			cfg.Clock = clock.Or(cfg.Clock)
			b, err := f(cfg)
			if err != nil {
				return nil, fmt.Errorf("balance: %s: %w", cfg.Kind, err)
			}
			return b, nil
		}
		return nil, fmt.Errorf("balance: unknown Kind %q (want one of %s)", cfg.Kind, strings.Join(Kinds(), ", "))
	}
	if cfg.MaxEffort < 0 {
		return nil, fmt.Errorf("balance: MaxEffort %d is negative", cfg.MaxEffort)
	}
	if cfg.MaxEffort == 0 {
		cfg.MaxEffort = DefaultMaxEffort
	}
	if cfg.DecayTime < 0 {
		return nil, fmt.Errorf("balance: DecayTime %v is negative", cfg.DecayTime)
	}
	if cfg.DecayTime == 0 {
		cfg.DecayTime = DefaultDecayTime
	}
	if cfg.FailurePenalty == 0 {
		cfg.FailurePenalty = DefaultFailurePenalty
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.ZoneMinEndpoints < 0 {
		return nil, fmt.Errorf("balance: ZoneMinEndpoints %d is negative", cfg.ZoneMinEndpoints)
	}
	if cfg.ZoneMinEndpoints == 0 {
		cfg.ZoneMinEndpoints = DefaultZoneMinEndpoints
	}
	if !(cfg.ZonePanicThreshold >= 0 && cfg.ZonePanicThreshold <= 1) {
		return nil, fmt.Errorf("balance: ZonePanicThreshold %v is not within 0 and 1", cfg.ZonePanicThreshold)
	}
	if cfg.ZonePanicThreshold == 0 {
		cfg.ZonePanicThreshold = DefaultZonePanicThreshold
	}
	if cfg.ZoneOverloadPending == 0 {
		cfg.ZoneOverloadPending = DefaultZoneOverloadPending
	}
	clk := clock.Or(cfg.Clock)
	if cfg.Zone != nil {
		cfg.Clock = clk
		if _, err := accrual.NewFactory(cfg.Accrual, clk, cfg.Rand.Float64); err != nil {
			return nil, fmt.Errorf("balance: failure accrual: %w", err)
		}
		return newZoneBalancer(cfg), nil
	}
	gates, err := accrual.NewFactory(cfg.Accrual, clk, cfg.Rand.Float64)
	if err != nil {
		return nil, fmt.Errorf("balance: failure accrual: %w", err)
	}
	set := newEndpointSet(clk, gates, costModel{tau: float64(cfg.DecayTime), failurePenalty: float64(cfg.FailurePenalty)}, load)
	if cfg.Kind == KindRoundRobin || cfg.Kind == "roundRobin" {
		return newRoundRobin(set), nil
	}
	return newP2C(set, cfg.MaxEffort, cfg.Rand), nil
}
