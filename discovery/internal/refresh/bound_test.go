package refresh_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
)

// names lists the names c holds, in State's order.
func names(c *refresh.Cache) []string {
	out := []string{}
	for _, s := range c.State() {
		out = append(out, s.Name)
	}
	return out
}

// lookupN looks key up with a Source that answers one endpoint, and waits
// for its refresh to end.
func lookupN(t *testing.T, c *refresh.Cache, key string) *refresh.Entry {
	t.Helper()
	src := &script{}
	src.push(ok(1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, _, err := c.Lookup(ctx, key, func() refresh.Source { return src })
	require.NoError(t, err)
	<-e.Idle()
	return e
}

// A name not used for an hour is forgotten, so that names looked up once
// (by an admin visitor's /delegator.json, or a caller's Host) do not stay
// forever (defect 13 of issue 14).
func TestForgetsUnusedNames(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, nil)
	lookupN(t, c, "old")
	used := lookupN(t, c, "used")
	clk.Advance(50 * time.Minute)
	use(t, used)
	clk.Advance(11 * time.Minute)
	lookupN(t, c, "new")
	assert.Equal(t, []string{"new", "used"}, names(c), "old, unused for 61m, is forgotten")
}

// Past MaxEntries, the least recently used names are forgotten; a
// forgotten name's Var keeps refreshing on use for whoever holds it.
func TestCapsTheNames(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, func(cfg *refresh.Config) { cfg.MaxEntries = 2 })
	held := lookupN(t, c, "a")
	clk.Advance(time.Millisecond)
	lookupN(t, c, "b")
	clk.Advance(time.Millisecond)
	lookupN(t, c, "c")
	assert.Equal(t, []string{"b", "c"}, names(c))

	clk.Advance(10 * time.Second) // the TTL
	assert.Equal(t, addrs(1), use(t, held).Addresses)
	assert.Equal(t, []string{"b", "c"}, names(c), "a use of a forgotten name's Var does not bring it back")
}

func TestNewRejectsNegativeBounds(t *testing.T) {
	_, err := refresh.New(refresh.Config{Namer: "x", MaxEntries: -1})
	assert.ErrorContains(t, err, "x: Config.MaxEntries is -1")
	_, err = refresh.New(refresh.Config{Namer: "x", ForgetAfter: -time.Second})
	assert.ErrorContains(t, err, "x: Config.ForgetAfter is -1s")
}
