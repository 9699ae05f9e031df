package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff defaults used by [DefaultPolicy].
const (
	// DefaultBackoffMin is the shortest wait before an application retry:
	// about a round trip inside one region.
	DefaultBackoffMin = 10 * time.Millisecond
	// DefaultBackoffMax caps the wait before an application retry. It is
	// short because serverless requests have short deadlines; the retry
	// budget, not the backoff, is what protects a struggling backend.
	DefaultBackoffMax = time.Second
)

// Backoff says how long to wait before the next attempt of one request.
// It is stateless: the caller keeps the previous wait, so one Backoff
// serves every request and is safe for concurrent use.
type Backoff interface {
	// Next returns the wait before the next retry, given the wait before
	// the previous one: 0 before the first retry.
	Next(prev time.Duration) time.Duration
}

// NoWait is the backoff of requeues: a request that never reached a
// server is sent again at once (to another endpoint, if the balancer
// finds one).
type NoWait struct{}

// Next returns 0.
func (NoWait) Next(time.Duration) time.Duration { return 0 }

// DecorrelatedJitter is the "decorrelated jitter" backoff of the AWS
// Architecture Blog's "Exponential Backoff And Jitter" (and Finagle's
// Backoff.decorrelatedJittered):
//
//	sleep = min(max, random_between(min, prev*3)), prev starting at min
//
// so waits grow by up to three times per retry, stay within [min, max],
// and spread out the retries of clients that failed together. A min of 0
// disables waiting (Next always returns 0).
type DecorrelatedJitter struct {
	min, max time.Duration
	int64n   func(n int64) int64
}

// NewDecorrelatedJitter returns a decorrelated-jitter backoff between
// minWait and maxWait (both ≥ 0, minWait ≤ maxWait). int64n returns a
// uniform random number in [0, n); it must be safe for concurrent use if
// the backoff is shared. If nil, math/rand/v2's Int64N (concurrency-safe)
// is used. For a deterministic sequence pass the method value of a seeded
// generator, e.g. rand.New(rand.NewPCG(1, 2)).Int64N, and use it from one
// goroutine.
func NewDecorrelatedJitter(minWait, maxWait time.Duration, int64n func(n int64) int64) (*DecorrelatedJitter, error) {
	if minWait < 0 || maxWait < minWait {
		return nil, fmt.Errorf("retry: backoff min %v max %v: want 0 ≤ min ≤ max", minWait, maxWait)
	}
	if int64n == nil {
		int64n = rand.Int64N
	}
	return &DecorrelatedJitter{min: minWait, max: maxWait, int64n: int64n}, nil
}

// Min returns the shortest wait.
func (d *DecorrelatedJitter) Min() time.Duration { return d.min }

// Max returns the longest wait.
func (d *DecorrelatedJitter) Max() time.Duration { return d.max }

// Next returns a random wait in [min, max]: uniform in [min, 3×prev)
// (prev raised to min first), capped at max.
func (d *DecorrelatedJitter) Next(prev time.Duration) time.Duration {
	if d.min == 0 {
		return 0
	}
	prev = max(prev, d.min)
	hi := time.Duration(math.MaxInt64)
	if prev <= math.MaxInt64/3 {
		hi = prev * 3
	}
	wait := d.min
	if span := int64(hi - d.min); span > 0 {
		wait += time.Duration(d.int64n(span))
	}
	return min(wait, d.max)
}

var (
	_ Backoff = NoWait{}
	_ Backoff = (*DecorrelatedJitter)(nil)
)
