package balance

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/name"
)

// ZoneMetaKey is the name.Address.Meta key that holds an endpoint's zone
// (e.g. "us-east-1a"), filled by the namers that know it (Cloud Map's
// AVAILABILITY_ZONE attribute, the fs namer's zone= attribute).
const ZoneMetaKey = "zone"

// The defaults of the zone-aware fields of Config.
const (
	// DefaultZoneMinEndpoints is Envoy's min_cluster_size default: below
	// 6 endpoints zone-aware routing is off.
	DefaultZoneMinEndpoints = 6
	// DefaultZonePanicThreshold is Envoy's healthy_panic_threshold
	// default, 50%: below it zone-aware routing is off.
	DefaultZonePanicThreshold = 0.5
	// DefaultZoneOverloadPending is how many outstanding requests every
	// healthy local endpoint must have for the local zone to count as
	// overloaded.
	DefaultZoneOverloadPending = 64
)

// The values of EndpointStats.Locality.
const (
	// LocalityLocal marks an endpoint in the caller's zone.
	LocalityLocal = "local"
	// LocalityRemote marks an endpoint in another zone or in no known zone.
	LocalityRemote = "remote"
)

// zoneBalancer is the locality-aware pick in front of the other kinds,
// after Envoy's zone-aware routing. It keeps one balancer of cfg.Kind per
// zone of the endpoints (an endpoint without a zone belongs to the zone
// "", never the caller's), so each endpoint's state lives in exactly one
// place, and picks a zone before the zone's balancer picks an endpoint.
//
// With T_z the weight of zone z's endpoints and H_z the weight of its
// healthy ones (failure-accrual open, and no failed last request in the
// last zoneFailureHold), T and H their sums, and L the
// caller's zone, the rules are Envoy's, with the callers assumed to be
// spread over the zones as the endpoints are (a sidecar does not see the
// other callers, Envoy reads them from its local cluster):
//
//   - Zone-aware routing applies only when the caller's zone is known,
//     the set has at least ZoneMinEndpoints endpoints (Envoy's
//     min_cluster_size), H/T is at least ZonePanicThreshold (Envoy's
//     panic mode turns it off), and L has a healthy endpoint. Otherwise
//     a zone is drawn by healthy capacity H_z (by T_z when nothing is
//     healthy), which spreads traffic as one balancer over all would.
//   - If L's share of healthy capacity H_L/H covers its share of callers
//     T_L/T, every request stays in L (Envoy's "local zone percentage of
//     upstream hosts ≥ of originating hosts").
//   - Otherwise the fraction (H_L/H)/(T_L/T) stays in L, and the rest
//     goes to the zones with residual capacity H_z/H − T_z/T > 0, in
//     proportion to it (Envoy's residual-capacity spill-over), so every
//     healthy endpoint keeps about the same request rate.
//   - Overload: when every healthy endpoint of L has at least
//     ZoneOverloadPending outstanding requests, the request spills to the
//     other zones by healthy capacity.
//
// The pick is O(endpoints) (the capacities are read at each pick, under
// each zone's lock) and allocates nothing beyond the Pick itself.
type zoneBalancer struct {
	cfg  Config // Kind, Rand etc. for each zone's balancer
	zone func() string
	min  int
	pan  float64
	over int

	// local and remote count the picks made in the caller's zone and in
	// another one, while the caller's zone is known: monotonic, unlike
	// sums over the current endpoints.
	local, remote atomic.Uint64

	mu    sync.Mutex
	rng   *rand.Rand
	zones []*zoneGroup // one per zone, in order of first appearance
	caps  []zoneCap    // scratch for Pick, parallel to zones
	order []string     // HostPorts in Update order, for Endpoints
}

// zoneGroup is one zone's balancer.
type zoneGroup struct {
	name string
	bal  Balancer
	set  *endpointSet
}

// zoneCap is one zone's capacity at a pick.
type zoneCap struct {
	total, healthy float64
	n              int
	overloaded     bool
}

func newZoneBalancer(cfg Config) *zoneBalancer {
	z := &zoneBalancer{cfg: cfg, zone: cfg.Zone, min: cfg.ZoneMinEndpoints, pan: cfg.ZonePanicThreshold,
		over: cfg.ZoneOverloadPending, rng: cfg.Rand}
	z.cfg.Zone = nil
	return z
}

// Update partitions addrs by zone and updates each zone's balancer.
func (z *zoneBalancer) Update(addrs []name.Address) {
	byZone := map[string][]name.Address{}
	var names []string
	order := make([]string, 0, len(addrs))
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		key := a.HostPort()
		if seen[key] {
			continue // the first of duplicates wins, as in one set
		}
		seen[key] = true
		zn := a.Meta[ZoneMetaKey]
		if _, ok := byZone[zn]; !ok {
			names = append(names, zn)
		}
		byZone[zn] = append(byZone[zn], a)
		order = append(order, key)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	old := map[string]*zoneGroup{}
	for _, g := range z.zones {
		old[g.name] = g
	}
	zones := make([]*zoneGroup, 0, len(names))
	for _, zn := range names {
		g := old[zn]
		if g == nil {
			g = z.newGroup(zn)
		}
		g.bal.Update(byZone[zn])
		zones = append(zones, g)
	}
	z.zones, z.caps, z.order = zones, make([]zoneCap, len(zones)), order
}

// newGroup builds a zone's balancer with its own randomness drawn from
// the zone balancer's, so a fixed seed gives a fixed sequence.
func (z *zoneBalancer) newGroup(zn string) *zoneGroup {
	cfg := z.cfg
	cfg.Rand = rand.New(rand.NewPCG(z.rng.Uint64(), z.rng.Uint64()))
	b, err := New(cfg) // cfg was validated by the New that made z
	if err != nil {
		panic("balance: zone balancer: " + err.Error())
	}
	g := &zoneGroup{name: zn, bal: b}
	switch b := b.(type) {
	case *p2c:
		g.set = b.endpointSet
	case *roundRobin:
		g.set = b.endpointSet
	}
	return g
}

// Pick chooses a zone by the rules above, then an endpoint in it.
func (z *zoneBalancer) Pick() (*Pick, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(z.zones) == 0 {
		return nil, ErrNoEndpoints
	}
	lz := z.zone()
	i := z.chooseZone(z.cfg.Clock.Now(), lz)
	p, err := z.zones[i].bal.Pick()
	if err == nil {
		if lz != "" {
			if z.zones[i].name == lz {
				z.local.Add(1)
			} else {
				z.remote.Add(1)
			}
		}
	}
	return p, err
}

// ZoneCounts reports the picks made so far in the caller's zone and in
// another one (counted while the caller's zone was known).
func (z *zoneBalancer) ZoneCounts() (local, remote uint64) {
	return z.local.Load(), z.remote.Load()
}

// chooseZone returns the index of the zone to pick in, for a caller in
// zone lz ("" when unknown). The caller holds mu.
func (z *zoneBalancer) chooseZone(now time.Time, lz string) int {
	if len(z.zones) == 1 {
		return 0
	}
	var tot zoneCap
	local := -1
	for i, g := range z.zones {
		c := g.set.capacity(now, z.over)
		z.caps[i] = c
		tot.total += c.total
		tot.healthy += c.healthy
		tot.n += c.n
		if lz != "" && g.name == lz {
			local = i
		}
	}
	if local < 0 || tot.n < z.min || tot.healthy < z.pan*tot.total || z.caps[local].healthy == 0 {
		return z.draw(-1)
	}
	lc := z.caps[local]
	if lc.overloaded && tot.healthy > lc.healthy {
		return z.draw(local)
	}
	callers := lc.total / tot.total      // the local share of callers, assumed
	upstream := lc.healthy / tot.healthy // the local share of healthy capacity
	if upstream >= callers || z.rng.Float64() < upstream/callers {
		return local
	}
	// Spill over by residual capacity.
	residual := 0.0
	for i, c := range z.caps {
		if i != local {
			residual += max(c.healthy/tot.healthy-c.total/tot.total, 0)
		}
	}
	x := z.rng.Float64() * residual
	pick := local // float rounding, or no residual anywhere
	for i, c := range z.caps {
		r := max(c.healthy/tot.healthy-c.total/tot.total, 0)
		if i == local || r <= 0 {
			continue
		}
		pick = i
		if x < r {
			break
		}
		x -= r
	}
	return pick
}

// draw returns a zone other than exclude (-1: any) drawn by healthy
// capacity, or by total weight when none of them has a healthy endpoint.
// The caller holds mu and has filled caps.
func (z *zoneBalancer) draw(exclude int) int {
	healthy, total := 0.0, 0.0
	for i, c := range z.caps {
		if i != exclude {
			healthy += c.healthy
			total += c.total
		}
	}
	byTotal := healthy <= 0
	x := z.rng.Float64() * healthy
	if byTotal {
		x = z.rng.Float64() * total
	}
	pick := max(exclude, 0)
	for i, c := range z.caps {
		w := c.healthy
		if byTotal {
			w = c.total
		}
		if i == exclude || w <= 0 {
			continue
		}
		pick = i
		if x < w {
			break
		}
		x -= w
	}
	return pick
}

// Endpoints returns every zone's endpoints in Update order, with their
// zone and locality.
func (z *zoneBalancer) Endpoints() []EndpointStats {
	z.mu.Lock()
	zones, order := z.zones, z.order
	z.mu.Unlock()
	lz := z.zone()
	byKey := map[string]EndpointStats{}
	for _, g := range zones {
		for _, s := range g.bal.Endpoints() {
			s.Locality = LocalityRemote
			if lz != "" && g.name == lz {
				s.Locality = LocalityLocal
			}
			if lz == "" {
				s.Locality = ""
			}
			byKey[s.Address] = s
		}
	}
	out := make([]EndpointStats, 0, len(byKey))
	for _, k := range order {
		if s, ok := byKey[k]; ok {
			out = append(out, s)
		}
	}
	return out
}

// capacity returns the set's total and healthy (open) weight, its size,
// and whether every healthy endpoint has at least overload outstanding
// requests (false when none is healthy or overload is negative).
func (s *endpointSet) capacity(now time.Time, overload int) zoneCap {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := zoneCap{n: len(s.eps), overloaded: overload >= 0}
	for _, e := range s.eps {
		c.total += e.weight
		// An endpoint whose last request failed within zoneFailureHold
		// does not count: a zone whose endpoints just died must not keep
		// drawing requests (and their requeues) until failure accrual
		// marks them, five failures each. Past the hold it counts again,
		// so the zone is tried again and can come back.
		if st, _ := s.status(e, now); st == accrual.StatusOpen && (e.failures == 0 || now.Sub(e.lastFail) >= zoneFailureHold) {
			c.healthy += e.weight
			if e.pending < overload {
				c.overloaded = false
			}
		}
	}
	if c.healthy == 0 {
		c.overloaded = false
	}
	return c
}

// zoneFailureHold is how long an endpoint whose last request failed is
// left out of its zone's healthy capacity.
const zoneFailureHold = time.Second

var _ Balancer = (*zoneBalancer)(nil)
