package namerkit

import "time"

// EmptyGrace tracks an empty answer from discovery for a name that still
// has a non-empty set: the set is kept until discovery has kept
// answering empty for the grace period (SLINKERD_DISCOVERY_EMPTY_GRACE),
// so that a discovery hiccup does not take every endpoint away. The zero
// value has no empty answer pending. Not safe for concurrent use: the
// namer's entry lock guards it.
type EmptyGrace struct{ since time.Time }

// Empty records an empty answer at now and returns how much of grace is
// left: positive means keep serving the set. have says whether there is
// a non-empty set to keep; without one, or without a grace, or once the
// grace is over, it returns 0 and forgets the pending answer.
func (g *EmptyGrace) Empty(now time.Time, grace time.Duration, have bool) time.Duration {
	if !have || grace <= 0 {
		g.since = time.Time{}
		return 0
	}
	if g.since.IsZero() {
		g.since = now
	}
	left := grace - now.Sub(g.since)
	if left <= 0 {
		g.since = time.Time{}
		return 0
	}
	return left
}

// Clear forgets a pending empty answer: discovery confirmed or replaced
// the set.
func (g *EmptyGrace) Clear() { g.since = time.Time{} }

// Since is when the pending empty answer began; zero when none is.
func (g *EmptyGrace) Since() time.Time { return g.since }
