package inet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

// cachedHosts lists the host names n caches, in State's order.
func cachedHosts(n *inet.Inet) []string {
	out := []string{}
	for _, s := range n.State() {
		out = append(out, s.Host)
	}
	return out
}

// A host name not used for IdleAfter (10m by default) is dropped from the
// cache, so that names looked up once (by an admin visitor's
// /delegator.json, or a caller's Host) do not stay forever (defect 13 of
// issue 14: every name was cached for the life of the process).
func TestInetDropsIdleHosts(t *testing.T) {
	res := newFakeResolver()
	res.set("a.example", fakeAnswer{ips: []string{"10.0.0.1"}})
	res.set("b.example", fakeAnswer{ips: []string{"10.0.0.2"}})
	res.set("c.example", fakeAnswer{ips: []string{"10.0.0.3"}})
	clk := clock.NewFake(t0)
	n := newInet(t, res, clk)

	lookupBound(t, n, "/a.example/80")
	used := lookupBound(t, n, "/b.example/80")
	require.Equal(t, []string{"a.example", "b.example"}, cachedHosts(n))

	clk.Advance(9 * time.Minute)
	used.Addr.Sample() // b is in use: sampling its Var counts
	waitChanged(t, n.Idle("b.example"))
	clk.Advance(2 * time.Minute)
	lookupBound(t, n, "/c.example/80")
	assert.Equal(t, []string{"b.example", "c.example"}, cachedHosts(n), "a.example, idle for 11m, is dropped")
}

// Past MaxNames host name and port pairs, the least recently used host
// names are dropped, so that no caller or admin visitor can grow the cache
// without bound; a dropped name's Var keeps working for whoever holds it.
func TestInetCapsTheCache(t *testing.T) {
	res := newFakeResolver()
	for _, h := range []string{"a", "b", "c", "d"} {
		res.set(h+".example", fakeAnswer{ips: []string{"10.0.0.1"}})
	}
	clk := clock.NewFake(t0)
	n, err := inet.NewInet(inet.Config{Resolver: res, Clock: clk, Logger: quiet, MaxNames: 4, TTL: time.Second})
	require.NoError(t, err)

	held := lookupBound(t, n, "/a.example/80")
	clk.Advance(time.Millisecond)
	lookupBound(t, n, "/b.example/80")
	lookupBound(t, n, "/b.example/81")
	clk.Advance(time.Millisecond)
	lookupBound(t, n, "/c.example/80")
	require.Equal(t, []string{"a.example", "b.example", "c.example"}, cachedHosts(n))

	// A fifth pair goes past the cap: the least recently used host names
	// go until at most 90% of it (rounded up: 4 pairs) are left.
	clk.Advance(time.Millisecond)
	lookupBound(t, n, "/d.example/80")
	assert.Equal(t, []string{"b.example", "c.example", "d.example"}, cachedHosts(n))
	clk.Advance(time.Millisecond)
	lookupBound(t, n, "/d.example/81")
	lookupBound(t, n, "/d.example/82")
	assert.Equal(t, []string{"c.example", "d.example"}, cachedHosts(n), "b.example, with two ports, goes next")

	// The dropped a.example's Var still refreshes when used.
	res.set("a.example", fakeAnswer{ips: []string{"10.0.0.9"}})
	clk.Advance(time.Second)
	changed := held.Addr.Changed()
	held.Addr.Sample()
	waitChanged(t, changed)
	assert.Equal(t, []string{"10.0.0.9:80"}, hostsOf(held.Addr.Peek()))
}

func TestNewInetRejectsNegativeBounds(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  inet.Config
		want string
	}{
		{name: "MaxNames", cfg: inet.Config{MaxNames: -1}, want: "Config.MaxNames is -1"},
		{name: "IdleAfter", cfg: inet.Config{IdleAfter: -time.Second}, want: "Config.IdleAfter is -1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inet.NewInet(tt.cfg)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
