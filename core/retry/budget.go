package retry

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
)

// Retry budget defaults, Finagle's (RetryBudget.apply()).
const (
	// DefaultBudgetTTL is how long a deposit or withdrawal counts.
	DefaultBudgetTTL = 10 * time.Second
	// DefaultMinRetriesPerSec is the reserve, in retries per second, that
	// lets a client with little traffic still retry.
	DefaultMinRetriesPerSec = 10
	// DefaultPercentCanRetry is the fraction of requests that may be
	// retried on top of the reserve.
	DefaultPercentCanRetry = 0.2
)

// Bounds that NewBudget enforces.
const (
	minBudgetTTL = time.Second
	maxBudgetTTL = 60 * time.Second
	// minPercentCanRetry keeps the withdrawal scale (scaleFactor/percent)
	// within int64 arithmetic that cannot overflow.
	minPercentCanRetry = 1e-6
)

// scaleFactor is Finagle's TokenRetryBudget.ScaleFactor: deposits and
// withdrawals are scaled to integers so that a fractional percentage
// needs no floating point on the hot path. A deposit adds scaleFactor
// tokens and a withdrawal takes scaleFactor/percentCanRetry.
const scaleFactor = 1000

// budgetSlices is how many slices the budget window is cut into, as in
// Finagle's TokenBucket.newLeakyBucket (WindowedAdder with 10 slices): a
// deposit stops counting between ttl-ttl/10 and ttl after it was made.
const budgetSlices = 10

// BudgetConfig configures a [Budget]: within any TTL, retries may not
// exceed MinRetriesPerSec × TTL plus PercentCanRetry × the requests
// deposited in that TTL. [DefaultBudgetConfig] returns Finagle's defaults.
type BudgetConfig struct {
	// TTL is how long a deposit (a request) or a withdrawal (a retry)
	// counts, from 1s to 60s as in Finagle. Zero means DefaultBudgetTTL
	// (10s).
	TTL time.Duration
	// MinRetriesPerSec is the reserve, in retries per second, available
	// whatever the traffic; 0 means no reserve. Must not be negative.
	// DefaultBudgetConfig sets 10.
	MinRetriesPerSec int
	// PercentCanRetry is the fraction (not a percentage: 0.2 means 20 %)
	// of deposited requests that may be retried on top of the reserve,
	// from 0 to 1 (Finagle allows up to 1000; more retries than requests
	// defeats a budget, so slinkerd does not). 0 means only the reserve;
	// non-zero values below 1e-6 are rejected. DefaultBudgetConfig sets
	// 0.2.
	PercentCanRetry float64
	// Clock tells the time. If nil, clock.Real is used.
	Clock clock.Clock
}

// DefaultBudgetConfig returns Finagle's default budget: TTL 10s,
// MinRetriesPerSec 10, PercentCanRetry 0.2, the real clock.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{
		TTL:              DefaultBudgetTTL,
		MinRetriesPerSec: DefaultMinRetriesPerSec,
		PercentCanRetry:  DefaultPercentCanRetry,
	}
}

// Validate reports whether c is a valid configuration, naming the field,
// the bad value and what is allowed.
func (c BudgetConfig) Validate() error {
	var errs []error
	if c.TTL != 0 && (c.TTL < minBudgetTTL || c.TTL > maxBudgetTTL) {
		errs = append(errs, fmt.Errorf("retry budget: TTL %v out of range (want 1s to 60s, or 0 for 10s)", c.TTL))
	}
	if c.MinRetriesPerSec < 0 {
		errs = append(errs, fmt.Errorf("retry budget: MinRetriesPerSec %d is negative (want 0 or more)", c.MinRetriesPerSec))
	}
	p := c.PercentCanRetry
	if !(p >= 0 && p <= 1) || (p > 0 && p < minPercentCanRetry) {
		errs = append(errs, fmt.Errorf("retry budget: PercentCanRetry %v out of range (want a fraction from 0 to 1, e.g. 0.2; non-zero values at least 1e-6)", p))
	}
	return errors.Join(errs...)
}

// Budget is Finagle's TokenRetryBudget: a token bucket over a sliding
// window. Every request deposits tokens, every retry withdraws
// 1/PercentCanRetry times as many, and a reserve of MinRetriesPerSec × TTL
// retries is always there; tokens count for TTL. So, within any TTL,
// retries ≤ MinRetriesPerSec × TTL + PercentCanRetry × requests.
//
// A Budget is safe for concurrent use; each call takes a short mutex and
// reads the clock once. The state is soft: losing it (a restart, a
// Lambda freeze) only refills the reserve.
type Budget struct {
	clock    clock.Clock
	deposit  int64 // tokens added by Deposit
	withdraw int64 // tokens taken by TryWithdraw
	reserve  int64 // tokens always present

	exhausted atomic.Uint64

	mu sync.Mutex
	w  windowedAdder
}

// NewBudget returns a budget configured by cfg, or an error naming the
// invalid field.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultBudgetTTL
	}
	b := &Budget{clock: clock.Or(cfg.Clock)}
	// As in Finagle's RetryBudget.apply: with no percentage, deposits are
	// worthless and a withdrawal costs one token of the reserve.
	if cfg.PercentCanRetry == 0 {
		b.deposit, b.withdraw = 0, 1
	} else {
		b.deposit = scaleFactor
		b.withdraw = int64(scaleFactor / cfg.PercentCanRetry)
	}
	reserve := float64(cfg.MinRetriesPerSec) * ttl.Seconds() * float64(b.withdraw)
	b.reserve = int64(min(reserve, math.MaxInt64/4))
	b.w = windowedAdder{epoch: b.clock.Now(), window: ttl / budgetSlices}
	return b, nil
}

// Deposit credits the budget with one request. Call it once per request
// (not per attempt), whatever its outcome, as Finagle's RequeueFilter
// does: the percentage then reads "retries per request".
func (b *Budget) Deposit() {
	if b.deposit == 0 {
		return
	}
	now := b.clock.Now()
	b.mu.Lock()
	b.w.add(now, b.deposit)
	b.mu.Unlock()
}

// TryWithdraw takes one retry from the budget and reports whether it
// could; false means the budget is exhausted and the retry must not be
// sent (counted by Exhausted). Requeues withdraw too.
func (b *Budget) TryWithdraw() bool {
	now := b.clock.Now()
	b.mu.Lock()
	ok := b.w.sum(now)+b.reserve >= b.withdraw
	if ok {
		b.w.add(now, -b.withdraw)
	}
	b.mu.Unlock()
	if !ok {
		b.exhausted.Add(1)
	}
	return ok
}

// Balance returns how many retries the budget would allow now. It is
// negative when deposits have expired before the retries they paid for,
// i.e. the last TTL saw more retries than it now allows.
func (b *Budget) Balance() int {
	now := b.clock.Now()
	b.mu.Lock()
	n := b.w.sum(now) + b.reserve
	b.mu.Unlock()
	return int(n / b.withdraw)
}

// Exhausted returns how many times TryWithdraw found the budget empty
// since the budget was made.
func (b *Budget) Exhausted() uint64 { return b.exhausted.Load() }

// windowedAdder is Finagle's WindowedAdder: a sum over the last
// budgetSlices windows, the current one included. Slices start at
// epoch + k×window, so a value added during a slice stops counting
// budgetSlices windows after that slice began. It is not safe for
// concurrent use; Budget guards it.
type windowedAdder struct {
	epoch  time.Time     // when slice 0 began; times are measured from it (monotonic)
	window time.Duration // length of one slice
	start  time.Duration // when the current slice began, since epoch
	cur    int           // index of the current slice in slices
	slices [budgetSlices]int64
}

// advance rotates the ring so that the current slice contains now,
// clearing the slices that fell out of the window. A clock that goes
// backwards is read as no time passing.
func (w *windowedAdder) advance(now time.Time) {
	elapsed := now.Sub(w.epoch) - w.start
	if elapsed < w.window {
		return
	}
	n := int64(elapsed / w.window)
	if n >= budgetSlices {
		w.slices = [budgetSlices]int64{}
	} else {
		for range n {
			w.cur = (w.cur + 1) % budgetSlices
			w.slices[w.cur] = 0
		}
	}
	w.start += time.Duration(n) * w.window
}

// add adds x to the current slice.
func (w *windowedAdder) add(now time.Time, x int64) {
	w.advance(now)
	w.slices[w.cur] += x
}

// sum returns the total of the slices in the window.
func (w *windowedAdder) sum(now time.Time) int64 {
	w.advance(now)
	var s int64
	for _, v := range w.slices {
		s += v
	}
	return s
}
