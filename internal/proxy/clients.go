package proxy

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
)

// client is the concrete side of one bound name: its balancer, kept in step
// with the name's live address set. Clients live as long as the proxy;
// their balancers hold only soft state.
type client struct {
	id      string // bound ID, e.g. /#/io.l5d.fs/users
	bound   name.Bound
	bal     balance.Balancer
	version atomic.Uint64 // Var version last pushed into bal
	mu      sync.Mutex    // serialises Update

	residual atomic.Pointer[pathString] // the last residual's text (residualString)
}

// pathString is a path and its text.
type pathString struct {
	p name.Path
	s string
}

// residualString returns residual.String(), remembering the last one: a
// client's requests mostly share their residual path, and l5d-dst-residual
// is set on every attempt.
func (c *client) residualString(residual name.Path) string {
	if m := c.residual.Load(); m != nil && slices.Equal(m.p, residual) {
		return m.s
	}
	m := &pathString{p: slices.Clone(residual), s: residual.String()}
	c.residual.Store(m)
	return m.s
}

// sync brings the balancer up to date with the name's addresses. It costs
// one Var read when nothing changed, so it runs on every request; this is
// what makes lazily refreshed (pull-style) namers work where background
// goroutines are frozen between requests.
func (c *client) sync() name.Addr {
	a, v := c.bound.Addr.SampleVersion()
	if c.version.Load() == v+1 {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version.Load() != v+1 {
		if a.State == name.AddrBound {
			c.bal.Update(a.Addresses)
		} else if a.State == name.AddrNeg {
			c.bal.Update(nil)
		}
		// Pending and Failed keep the last good set.
		c.version.Store(v + 1)
	}
	return a
}

// clients holds one client per bound name. The hot path finds a client
// by its name's Var, which identifies a bound name without rendering its
// ID; byID keeps a client's balancer when a namer replaces a name's Var.
type clients struct {
	newBalancer func() (balance.Balancer, error)

	mu    sync.RWMutex
	byVar map[*name.Var]*client
	byID  map[string]*client
}

func (cs *clients) get(b name.Bound) (*client, error) {
	if b.Addr == nil {
		return nil, fmt.Errorf("client %s: the namer bound it without an address set", b.ID)
	}
	cs.mu.RLock()
	c := cs.byVar[b.Addr]
	cs.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	id := b.ID.String()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c = cs.byVar[b.Addr]; c != nil {
		return c, nil
	}
	old := cs.byID[id]
	var bal balance.Balancer
	if old != nil {
		// The namer replaced the name's Var (e.g. a file came back): keep
		// the balancer's endpoint state by reusing it.
		bal = old.bal
		delete(cs.byVar, old.bound.Addr)
	} else {
		var err error
		if bal, err = cs.newBalancer(); err != nil {
			return nil, fmt.Errorf("client %s: %w", id, err)
		}
	}
	c = &client{id: id, bound: b, bal: bal}
	if cs.byVar == nil {
		cs.byVar, cs.byID = map[*name.Var]*client{}, map[string]*client{}
	}
	if old == nil && len(cs.byID) >= maxClients {
		cs.evictLocked()
	}
	cs.byVar[b.Addr], cs.byID[id] = c, c
	return c, nil
}

// maxClients caps the clients (DESIGN.md §8): a namer may bind names the
// caller chooses (/$/inet/<host>/<port> behind a path identifier), and
// each client holds a balancer and its name's address set.
const maxClients = 4096

// evictLocked drops one client to make room, preferring one with no
// request in flight among a few that map iteration (random) offers. A
// client's state is soft: requests in flight on an evicted client finish
// on it, and the name gets a new client when it is used again.
func (cs *clients) evictLocked() {
	var victim *client
	n := 0
	for _, c := range cs.byID {
		if victim == nil {
			victim = c
		}
		if idle(c.bal) {
			victim = c
			break
		}
		if n++; n == 8 {
			break
		}
	}
	if victim != nil {
		delete(cs.byID, victim.id)
		delete(cs.byVar, victim.bound.Addr)
	}
}

// idle says whether b has no request in flight.
func idle(b balance.Balancer) bool {
	for _, e := range b.Endpoints() {
		if e.Pending > 0 {
			return false
		}
	}
	return true
}

// snapshot lists the clients, for metrics and the dashboard.
func (cs *clients) snapshot() []*client {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]*client, 0, len(cs.byID))
	for _, c := range cs.byID {
		out = append(out, c)
	}
	return out
}
