package telemetry

import (
	"sort"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
)

// view is a consistent read of everything, built under readMu for one
// scrape, JSON answer or EMF flush.
type view struct {
	now      time.Time
	server   scopeView
	services []serviceView
	clients  []clientView
	// conns is false until the ConnState hook has been called.
	conns                 bool
	connsOpen, connsTotal int64
}

// scopeView is one scope's (or a sum of scopes') counters and latency.
type scopeView struct {
	counts counts
	lat    *HistogramSnapshot // cumulative
	win    *HistogramSnapshot // the quantile window
}

func (a *scopeView) add(b scopeView) {
	a.counts.add(b.counts)
	if a.lat == nil {
		a.lat, a.win = new(HistogramSnapshot), new(HistogramSnapshot)
	}
	a.lat.Add(b.lat)
	a.win.Add(b.win)
}

type serviceView struct {
	name string
	scopeView
	budget          bool // the budget fields are known
	budgetBalance   int
	budgetExhausted uint64
}

type clientView struct {
	id        string
	addrState string
	scopeView
	pending   int
	states    map[string]int // endpoints per accrual state
	endpoints []endpointView
	own       int // endpoints with their own series (the rest are "other")
	omitted   int // endpoints folded into "other"
	// zoneAware is true when the balancer routes zone-aware and has
	// routed with the caller's zone known; zoneRequests and crossZone then
	// count its picks, all and in other zones (monotonic).
	zoneAware               bool
	zoneRequests, crossZone int64
}

type endpointView struct {
	address string
	scopeView
	stats    balance.EndpointStats
	hasStats bool // the balancer knows the endpoint now
}

// read builds a view, rotating the quantile window when it is due.
func (t *Telemetry) read() *view {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	now := t.clk.Now()
	rotate := now.Sub(t.winTime) >= t.cfg.Window
	if rotate {
		t.winTime = now
	}
	v := &view{now: now, conns: t.connsSeen.Load(), connsOpen: t.connsOpen.Load(), connsTotal: int64(t.connsTotal.Load())}
	read := func(s *scope) scopeView {
		sv := scopeView{counts: s.counts(), lat: s.lat.Snapshot()}
		if rotate {
			// Reuse the oldest base's memory for the new one.
			next := baseOf(sv.lat, s.winPrev)
			s.winPrev, s.winCur = s.winCur, next
		}
		// The window: since the base taken one to two rotations ago.
		sv.win = sv.lat.subBase(s.winPrev)
		return sv
	}

	var src Source
	if p := t.source.Load(); p != nil {
		src = *p
	}

	// Services, then the server as their sum.
	budgets := map[string]int{}
	var svcStates []serviceView
	if src != nil {
		for _, st := range src.Services() {
			budgets[st.Service] = len(svcStates)
			svcStates = append(svcStates, serviceView{name: st.Service, budget: true, budgetBalance: st.BudgetBalance, budgetExhausted: st.BudgetExhausted})
		}
	}
	for name, s := range t.services.all() {
		sv := serviceView{name: name, scopeView: read(s)}
		if i, ok := budgets[name]; ok {
			sv.budget, sv.budgetBalance, sv.budgetExhausted = true, svcStates[i].budgetBalance, svcStates[i].budgetExhausted
		}
		v.services = append(v.services, sv)
		v.server.add(sv.scopeView)
	}
	other := read(&t.svcOther)
	if other.counts.requests() > 0 {
		v.services = append(v.services, serviceView{name: OtherName, scopeView: other})
	}
	v.server.add(other)
	v.server.add(read(&t.unnamed))
	if v.server.lat == nil {
		v.server.lat, v.server.win = new(HistogramSnapshot), new(HistogramSnapshot)
	}
	sort.Slice(v.services, func(i, j int) bool { return v.services[i].name < v.services[j].name })

	// Clients: the balancer's state joined with the counters.
	states := map[string]clientStateView{}
	if src != nil {
		for _, c := range src.Clients() {
			states[c.ID] = clientStateView{addr: c.Addr, endpoints: c.Endpoints, zoneAware: c.ZoneAware, localZone: c.LocalZone, crossZone: c.CrossZone}
		}
	}
	// In name order, so that the endpoints the balancer knows but no
	// request has reached yet get the cap's spare series in the same order
	// at every read.
	scopes := t.clients.all()
	ids := make([]string, 0, max(len(scopes), len(states)))
	for id := range scopes {
		ids = append(ids, id)
	}
	for id := range states {
		if scopes[id] == nil {
			ids = append(ids, id) // known to the balancer, no request finished yet
		}
	}
	sort.Strings(ids)
	spare := max(t.cfg.MaxEndpoints, 0) - int(t.endpoints.Load())
	for _, id := range ids {
		v.clients = append(v.clients, t.readClient(id, scopes[id], states[id], read, &spare))
	}
	if c := t.clientOther.other.counts(); c.requests() > 0 || len(t.clientOther.endpoints.all()) > 0 {
		v.clients = append(v.clients, t.readClient(OtherName, &t.clientOther, clientStateView{}, read, &spare))
		sort.Slice(v.clients, func(i, j int) bool { return v.clients[i].id < v.clients[j].id })
	}
	return v
}

type clientStateView struct {
	addr      string
	endpoints []balance.EndpointStats
	// The zone balancer's counts of picks (ClientState).
	zoneAware            bool
	localZone, crossZone uint64
}

// readClient joins one client's endpoint scopes with its balancer state.
// Endpoints with a scope keep their series; endpoints the balancer knows
// that have none take series from spare, the cap's unused slots; the
// rest are folded into "other".
func (t *Telemetry) readClient(id string, cs *clientScopes, st clientStateView, read func(*scope) scopeView, spare *int) clientView {
	cv := clientView{id: id, addrState: st.addr, states: map[string]int{}}
	if st.zoneAware && st.localZone+st.crossZone > 0 {
		cv.zoneAware = true
		cv.zoneRequests, cv.crossZone = int64(st.localZone+st.crossZone), int64(st.crossZone)
	}
	byAddr := map[string]int{} // address -> index in cv.endpoints
	var scopes map[string]*scope
	if cs != nil {
		scopes = cs.endpoints.all()
	}
	for addr, s := range scopes {
		byAddr[addr] = len(cv.endpoints)
		cv.endpoints = append(cv.endpoints, endpointView{address: addr, scopeView: read(s)})
	}
	var other endpointView
	other.address = OtherEndpoint
	if cs != nil {
		other.scopeView = read(&cs.other)
	}
	hasOther := other.counts.requests() > 0
	for _, es := range st.endpoints {
		cv.pending += es.Pending
		cv.states[es.State]++
		if i, ok := byAddr[es.Address]; ok {
			cv.endpoints[i].stats, cv.endpoints[i].hasStats = es, true
			continue
		}
		if *spare > 0 {
			*spare--
			byAddr[es.Address] = len(cv.endpoints)
			cv.endpoints = append(cv.endpoints, endpointView{address: es.Address, stats: es, hasStats: true,
				scopeView: scopeView{lat: new(HistogramSnapshot), win: new(HistogramSnapshot)}})
			continue
		}
		// Past the cap: fold the gauges into "other".
		hasOther = true
		cv.omitted++
		other.hasStats = true
		other.stats.Pending += es.Pending
		other.stats.Load += es.Load
		other.stats.Weight += es.Weight
		other.stats.Failures += es.Failures
		other.stats.Requests += es.Requests
		other.stats.Failed += es.Failed
	}
	sort.Slice(cv.endpoints, func(i, j int) bool { return cv.endpoints[i].address < cv.endpoints[j].address })
	if len(scopes) == 0 && other.lat != nil {
		// Every request is in other (the common case past the endpoint
		// cap): share its snapshots, read-only from here, rather than copy.
		cv.scopeView = other.scopeView
	} else {
		for _, e := range cv.endpoints {
			cv.scopeView.add(e.scopeView)
		}
		cv.scopeView.add(other.scopeView)
	}
	cv.own = len(cv.endpoints)
	if hasOther {
		cv.endpoints = append(cv.endpoints, other)
	}
	return cv
}
