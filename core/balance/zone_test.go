package balance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
)

// zoned returns perZone endpoints in each of zones, 10.0.<zone index>.<i>:80,
// with Meta["zone"] set (none for the zone "").
func zoned(perZone int, zones ...string) []name.Address {
	var out []name.Address
	for zi, z := range zones {
		for i := range perZone {
			a := name.Address{Host: fmt.Sprintf("10.0.%d.%d", zi, i+1), Port: 80}
			if z != "" {
				a.Meta = map[string]string{balance.ZoneMetaKey: z}
			}
			out = append(out, a)
		}
	}
	return out
}

// zoneOf maps a host:port of zoned back to its zone.
func zoneOf(zones []string) func(hostPort string) string {
	return func(hp string) string {
		var zi, i int
		_, _ = fmt.Sscanf(strings.TrimPrefix(hp, "10.0."), "%d.%d", &zi, &i)
		return zones[zi]
	}
}

func callerIn(zone string) func() string { return func() string { return zone } }

// byZone picks and finishes n requests, failing those whose endpoint is in
// a zone of fail, and counts them by zone.
func byZone(t *testing.T, b balance.Picker, n int, of func(string) string, fail ...string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		p, err := b.Pick()
		require.NoError(t, err)
		z := of(p.HostPort)
		counts[z]++
		failed := false
		for _, f := range fail {
			failed = failed || f == z
		}
		p.Done(failed)
	}
	return counts
}

// TestZoneAwareAcceptance is issue 20's acceptance case: 3 zones × 3
// endpoints, the caller in a: ≥ 95% stays in a while all are healthy; when
// a's endpoints all die, traffic leaves a after a failure or two on each
// (well before failure accrual would mark them, five failures each) and spreads
// over b and c; a is tried again once zoneFailureHold has passed, and
// accrual then marks its endpoints dead.
func TestZoneAwareAcceptance(t *testing.T) {
	zones := []string{"a", "b", "c"}
	of := zoneOf(zones)
	for _, kind := range []string{balance.KindEWMA, balance.KindP2C, balance.KindRoundRobin} {
		t.Run(kind, func(t *testing.T) {
			b, clk := newBalancer(t, balance.Config{Kind: kind, Zone: callerIn("a")}, zoned(3, zones...))
			const n = 9000
			healthy := byZone(t, b, n, of)
			assert.GreaterOrEqual(t, healthy["a"], n*95/100, "healthy: %v", healthy)

			// Zone a dies: a few failed requests (one or two on each
			// endpoint), then none go there.
			dying := byZone(t, b, 200, of, "a")
			assert.LessOrEqual(t, dying["a"], 6, "failures before traffic left a (accrual alone needs 15): %v", dying)
			after := byZone(t, b, n, of, "a")
			assert.Zero(t, after["a"], "no request goes to a while its failures are fresh: %v", after)
			assert.InDelta(t, n/2, after["b"], n*0.05, "b and c share: %v", after)

			// Still dead when tried again after the hold: accrual marks
			// them dead, and no request goes there any more.
			for i := 0; i < 10; i++ {
				clk.Advance(1100 * time.Millisecond)
				byZone(t, b, 50, of, "a")
			}
			for _, s := range b.Endpoints() {
				if s.Zone == "a" {
					assert.Equal(t, "dead", s.State, s.Address)
				}
			}
			dead := byZone(t, b, n, of, "a")
			assert.Zero(t, dead["a"], "no request goes to a once it is marked dead: %v", dead)

			// The namer removes a's endpoints: the same.
			b.Update(zoned(3, zones...)[3:])
			removed := byZone(t, b, n, of)
			assert.Zero(t, removed["a"])
			assert.InDelta(t, n/2, removed["b"], n*0.05, "b and c share: %v", removed)
		})
	}
}

func TestZoneAwareRules(t *testing.T) {
	tests := []struct {
		name    string
		zones   []string
		perZone int
		caller  string
		dead    string // a zone whose first endpoint is marked dead first
		want    map[string]float64
	}{
		{name: "all local while healthy", zones: []string{"a", "b", "c"}, perZone: 3, caller: "a",
			want: map[string]float64{"a": 1}},
		// 8 healthy of 9: a's healthy share 2/8 < its caller share 3/9, so
		// (2/8)/(3/9) = 75% stays local and the rest spills to b and c.
		{name: "one local down spills the deficit", zones: []string{"a", "b", "c"}, perZone: 3, caller: "a", dead: "a",
			want: map[string]float64{"a": 0.75, "b": 0.125, "c": 0.125}},
		{name: "a remote down changes nothing", zones: []string{"a", "b", "c"}, perZone: 3, caller: "a", dead: "b",
			want: map[string]float64{"a": 1}},
		{name: "below 6 endpoints spread by capacity", zones: []string{"a", "b", "c"}, perZone: 1, caller: "a",
			want: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}},
		{name: "caller zone unknown", zones: []string{"a", "b", "c"}, perZone: 3, caller: "",
			want: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}},
		{name: "caller zone has no endpoints", zones: []string{"a", "b", "c"}, perZone: 3, caller: "d",
			want: map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}},
		{name: "endpoints without a zone are another zone", zones: []string{"a", ""}, perZone: 3, caller: "a",
			want: map[string]float64{"a": 1}},
		{name: "caller in the unknown zone is not local", zones: []string{"a", ""}, perZone: 3, caller: "",
			want: map[string]float64{"a": 0.5, "": 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			of := zoneOf(tt.zones)
			caller := "" // while the victim dies, so that every zone is reached
			b, _ := newBalancer(t, balance.Config{Kind: balance.KindP2C, Zone: func() string { return caller }}, zoned(tt.perZone, tt.zones...))
			if tt.dead != "" {
				victim := zoned(tt.perZone, tt.zones...)[indexOf(tt.zones, tt.dead)*tt.perZone].HostPort()
				for range 10_000 {
					p, err := b.Pick()
					require.NoError(t, err)
					p.Done(p.HostPort == victim)
					if stats(b)[victim].State == "dead" {
						break
					}
				}
				require.Equal(t, "dead", stats(b)[victim].State)
			}
			caller = tt.caller
			const n = 20_000
			got := byZone(t, b, n, of)
			for z, share := range tt.want {
				assert.InDelta(t, share*n, got[z], 0.02*n, "zone %q: %v", z, got)
			}
			assert.Equal(t, len(tt.want), len(got), "zones reached: %v", got)
		})
	}
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// An overloaded local zone (every healthy endpoint at ZoneOverloadPending
// outstanding requests) spills to the others until it drains.
func TestZoneAwareOverloadSpills(t *testing.T) {
	zones := []string{"a", "b", "c"}
	of := zoneOf(zones)
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindP2C, Zone: callerIn("a"), ZoneOverloadPending: 4}, zoned(3, zones...))
	counts, held := hold(t, b, 12)
	for hp, n := range counts {
		assert.Equal(t, "a", of(hp), "%v", counts)
		assert.Equal(t, 4, n, "%v", counts)
	}
	spilled := byZone(t, b, 1000, of)
	assert.Zero(t, spilled["a"], "%v", spilled)
	held[0].Done(false)
	p, err := b.Pick()
	require.NoError(t, err)
	assert.Equal(t, "a", of(p.HostPort), "a has room again")
	p.Done(false)
	for _, p := range held[1:] {
		p.Done(false)
	}
}

func TestZoneAwareEndpointsCarryLocality(t *testing.T) {
	zone := "a"
	b, _ := newBalancer(t, balance.Config{Zone: func() string { return zone }}, zoned(2, "a", "b", ""))
	eps := b.Endpoints()
	require.Len(t, eps, 6)
	want := []struct{ zone, locality string }{{"a", "local"}, {"a", "local"}, {"b", "remote"}, {"b", "remote"}, {"", "remote"}, {"", "remote"}}
	for i, s := range eps {
		assert.Equal(t, want[i].zone, s.Zone, s.Address)
		assert.Equal(t, want[i].locality, s.Locality, s.Address)
	}
	zone = ""
	for _, s := range b.Endpoints() {
		assert.Empty(t, s.Locality, "caller's zone unknown")
	}
	plain, _ := newBalancer(t, balance.Config{}, zoned(1, "a"))
	assert.Equal(t, "a", plain.Endpoints()[0].Zone)
	assert.Empty(t, plain.Endpoints()[0].Locality)
}

func TestZoneAwareEmptyAndValidation(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Zone: callerIn("a")}, nil)
	_, err := b.Pick()
	assert.ErrorIs(t, err, balance.ErrNoEndpoints)
	for _, cfg := range []balance.Config{
		{Zone: callerIn("a"), ZoneMinEndpoints: -1},
		{Zone: callerIn("a"), ZonePanicThreshold: 1.5},
		{Zone: callerIn("a"), Kind: "nosuch"},
	} {
		_, err := balance.New(cfg)
		assert.Error(t, err)
	}
}

// The zone-aware pick allocates what the plain one does: the Pick.
func TestZoneAwarePickAllocations(t *testing.T) {
	plain, _ := newBalancer(t, balance.Config{}, zoned(3, "a", "b", "c"))
	zoneAware, _ := newBalancer(t, balance.Config{Zone: callerIn("a")}, zoned(3, "a", "b", "c"))
	run := func(b balance.Picker) float64 {
		return testing.AllocsPerRun(200, func() {
			p, _ := b.Pick()
			p.Done(false)
		})
	}
	assert.Equal(t, run(plain), run(zoneAware))
}

// The same host:port in two zones is one endpoint, in the first one's zone.
func TestZoneAwareDuplicateAcrossZones(t *testing.T) {
	eps := zoned(3, "a", "b")
	dup := eps[0]
	dup.Meta = map[string]string{balance.ZoneMetaKey: "b"}
	b, _ := newBalancer(t, balance.Config{Zone: callerIn("b")}, append(eps, dup))
	got := b.Endpoints()
	require.Len(t, got, 6)
	assert.Equal(t, "a", got[0].Zone)
	counts := pickDone(t, b, 1000, false)
	assert.Zero(t, counts[eps[0].HostPort()], "not picked as a b endpoint: %v", counts)
}
