package accrual

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff yields the dead periods of one endpoint: equal-jittered delays
// that double from a minimum up to a maximum, as Finagle's
// Backoff.equalJittered.
//
// The first delay (attempt 0) is exactly the minimum. Attempt n ≥ 1 has the
// ceiling e = min(max, min·2ⁿ) and returns a delay drawn uniformly from
// [e/2, e), raised to the minimum if e/2 falls below it. So with the
// defaults the delays are 5 s, then 5–10 s, 10–20 s, 20–40 s, … and
// finally 150–300 s for every later attempt. Every delay lies in
// [min, max]. Half of each delay is fixed (the "equal" part), so a
// flapping endpoint is never retried too early, and the other half is
// random, so endpoints that died together are not probed together.
//
// A Backoff is a small value meant to be embedded in a policy. It is not
// safe for concurrent use.
type Backoff struct {
	min, max time.Duration
	rand     func() float64
	attempt  int
}

// NewBackoff returns a backoff from min to max. rand returns numbers in
// [0, 1) and supplies the jitter; nil means math/rand/v2's Float64. min
// must be positive and max at least min.
func NewBackoff(min, max time.Duration, rand func() float64) (Backoff, error) {
	if min <= 0 {
		return Backoff{}, fmt.Errorf("accrual: backoff minimum %v is not positive", min)
	}
	if max < min {
		return Backoff{}, fmt.Errorf("accrual: backoff maximum %v is below the minimum %v", max, min)
	}
	if rand == nil {
		rand = defaultRand
	}
	return Backoff{min: min, max: max, rand: rand}, nil
}

// defaultRand is math/rand/v2's goroutine-safe, randomly seeded source.
func defaultRand() float64 { return rand.Float64() }

// Next returns the next delay and advances to the following attempt.
func (b *Backoff) Next() time.Duration {
	n := b.attempt
	if b.attempt < maxAttempt {
		b.attempt++
	}
	if n == 0 {
		return b.min
	}
	ceil := b.Ceiling(n)
	half := ceil / 2
	d := half + time.Duration(b.rand()*float64(ceil-half))
	if d < b.min {
		d = b.min
	}
	if d > b.max {
		d = b.max // rand returned ≥ 1 or rounding: keep the promise.
	}
	return d
}

// maxAttempt bounds the attempt counter; 2⁶² overflows any Duration, so
// the ceiling has long reached the maximum by then.
const maxAttempt = 62

// Ceiling returns the upper bound of attempt n's delay: min(max, min·2ⁿ).
func (b *Backoff) Ceiling(n int) time.Duration {
	e := b.min
	for i := 0; i < n && e < b.max; i++ {
		if e > b.max/2 {
			return b.max
		}
		e *= 2
	}
	return min(e, b.max)
}

// Attempt returns how many delays Next has returned since the last Reset.
func (b *Backoff) Attempt() int { return b.attempt }

// Reset starts over at the minimum, as after a revival.
func (b *Backoff) Reset() { b.attempt = 0 }
