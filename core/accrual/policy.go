package accrual

import (
	"fmt"
	"math"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
)

// Policy decides when an endpoint is dead, as Finagle's
// FailureAccrualPolicy. It is fed the classified outcome of every request
// to one endpoint; a Gate drives it. A Policy is not safe for concurrent
// use: its Gate's owner serialises the calls.
type Policy interface {
	// RecordSuccess records a request that succeeded.
	RecordSuccess()
	// MarkDeadOnFailure records a request that failed and reports whether
	// the endpoint should now be marked dead, and for how long.
	MarkDeadOnFailure() (time.Duration, bool)
	// Revived tells the policy that a probe succeeded and the endpoint is
	// alive again. It resets the backoff and the failure history.
	Revived()
}

// ConsecutiveFailures marks an endpoint dead after n failures in a row.
// Every further failure (a failed probe) marks it dead again with the next,
// longer backoff until a success revives it.
type ConsecutiveFailures struct {
	n        int
	failures int
	backoff  Backoff
}

// NewConsecutiveFailures returns a policy that marks an endpoint dead
// after n consecutive failures, for the delays of backoff. n must be at
// least 1.
func NewConsecutiveFailures(n int, backoff Backoff) (*ConsecutiveFailures, error) {
	if n < 1 {
		return nil, fmt.Errorf("accrual: consecutive failures %d is below 1", n)
	}
	return &ConsecutiveFailures{n: n, backoff: backoff}, nil
}

// RecordSuccess resets the run of failures.
func (p *ConsecutiveFailures) RecordSuccess() { p.failures = 0 }

// MarkDeadOnFailure counts a failure and returns the next backoff once
// the run reaches n.
func (p *ConsecutiveFailures) MarkDeadOnFailure() (time.Duration, bool) {
	p.failures++
	if p.failures < p.n {
		return 0, false
	}
	return p.backoff.Next(), true
}

// Revived resets the run of failures and the backoff.
func (p *ConsecutiveFailures) Revived() {
	p.failures = 0
	p.backoff.Reset()
}

// successRateBuckets is how many buckets approximate the sliding window.
const successRateBuckets = 10

// SuccessRate marks an endpoint dead when, over a sliding window, it has
// seen at least a minimum number of requests and the fraction that
// succeeded is below a required rate. It is checked on failures only, so
// a success never kills an endpoint.
//
// The window is approximated with 10 buckets of window/10 each, counted
// from the policy's creation: the rate covers the current bucket and the
// 9 before it, that is between 90% and 100% of the window. Unlike
// Finagle's exponential moving average, the counts are exact, so "5
// requests" means five.
type SuccessRate struct {
	required    float64
	minRequests int
	backoff     Backoff
	clock       clock.Clock
	epoch       time.Time
	width       time.Duration
	buckets     [successRateBuckets]rateBucket
}

// rateBucket counts the outcomes of one window/10 slice of time.
type rateBucket struct {
	idx          int64 // which slice since epoch; noBucket when unused
	ok, failures int
}

const noBucket = math.MinInt64

// NewSuccessRate returns a policy that marks an endpoint dead for the
// delays of backoff when fewer than required (in (0, 1]) of at least
// minRequests requests in the last window succeeded. window must be at
// least 10ns and minRequests at least 1; clk nil means the real clock.
func NewSuccessRate(required float64, window time.Duration, minRequests int, backoff Backoff, clk clock.Clock) (*SuccessRate, error) {
	switch {
	case !(required > 0 && required <= 1):
		return nil, fmt.Errorf("accrual: required success rate %v is outside (0, 1]", required)
	case window < successRateBuckets:
		return nil, fmt.Errorf("accrual: success-rate window %v is too short", window)
	case minRequests < 1:
		return nil, fmt.Errorf("accrual: success-rate minimum requests %d is below 1", minRequests)
	}
	clk = clock.Or(clk)
	p := &SuccessRate{
		required:    required,
		minRequests: minRequests,
		backoff:     backoff,
		clock:       clk,
		epoch:       clk.Now(),
		width:       window / successRateBuckets,
	}
	p.clear()
	return p, nil
}

// RecordSuccess counts a success in the window.
func (p *SuccessRate) RecordSuccess() { p.record(true) }

// MarkDeadOnFailure counts a failure and returns the next backoff when
// the window holds at least the minimum number of requests and its
// success rate is below the required one.
func (p *SuccessRate) MarkDeadOnFailure() (time.Duration, bool) {
	p.record(false)
	ok, total := p.counts()
	if total < p.minRequests || float64(ok) >= p.required*float64(total) {
		return 0, false
	}
	return p.backoff.Next(), true
}

// Revived forgets the window and resets the backoff, so a revived
// endpoint starts with a clean record.
func (p *SuccessRate) Revived() {
	p.clear()
	p.backoff.Reset()
}

// Rate returns the success rate over the window and the number of
// requests it is based on; the rate is 1 when there were none.
func (p *SuccessRate) Rate() (float64, int) {
	ok, total := p.counts()
	if total == 0 {
		return 1, 0
	}
	return float64(ok) / float64(total), total
}

func (p *SuccessRate) clear() {
	for i := range p.buckets {
		p.buckets[i] = rateBucket{idx: noBucket}
	}
}

// now returns the index of the current bucket.
func (p *SuccessRate) now() int64 {
	d := p.clock.Now().Sub(p.epoch)
	i := int64(d / p.width)
	if d < 0 && d%p.width != 0 {
		i-- // floor, should the clock step back before the epoch
	}
	return i
}

func (p *SuccessRate) record(ok bool) {
	idx := p.now()
	b := &p.buckets[((idx%successRateBuckets)+successRateBuckets)%successRateBuckets]
	if b.idx != idx {
		*b = rateBucket{idx: idx}
	}
	if ok {
		b.ok++
	} else {
		b.failures++
	}
}

func (p *SuccessRate) counts() (ok, total int) {
	idx := p.now()
	for _, b := range p.buckets {
		if b.idx != noBucket && b.idx <= idx && b.idx > idx-successRateBuckets {
			ok += b.ok
			total += b.ok + b.failures
		}
	}
	return ok, total
}

// Combine returns a policy that feeds every outcome to all of policies
// and marks the endpoint dead when any of them says so, for the longest
// of their backoffs, as Finagle's FailureAccrualPolicy.orElse.
func Combine(policies ...Policy) Policy {
	switch len(policies) {
	case 0:
		return Never()
	case 1:
		return policies[0]
	}
	return combined(append([]Policy(nil), policies...))
}

type combined []Policy

// RecordSuccess tells every policy.
func (c combined) RecordSuccess() {
	for _, p := range c {
		p.RecordSuccess()
	}
}

// MarkDeadOnFailure tells every policy and returns the longest verdict.
func (c combined) MarkDeadOnFailure() (time.Duration, bool) {
	var longest time.Duration
	dead := false
	// Every policy must see the failure, so no early return.
	for _, p := range c {
		if d, ok := p.MarkDeadOnFailure(); ok {
			longest = max(longest, d)
			dead = true
		}
	}
	return longest, dead
}

// Revived tells every policy.
func (c combined) Revived() {
	for _, p := range c {
		p.Revived()
	}
}

// Never returns a policy that never marks an endpoint dead: failure
// accrual is off.
func Never() Policy { return never{} }

type never struct{}

// RecordSuccess does nothing.
func (never) RecordSuccess() {}

// MarkDeadOnFailure never marks dead.
func (never) MarkDeadOnFailure() (time.Duration, bool) { return 0, false }

// Revived does nothing.
func (never) Revived() {}

var (
	_ Policy = (*ConsecutiveFailures)(nil)
	_ Policy = (*SuccessRate)(nil)
	_ Policy = combined(nil)
	_ Policy = never{}
)
