package proxy

import (
	"fmt"
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

// clients holds one client per bound ID.
type clients struct {
	newBalancer func() (balance.Balancer, error)

	mu sync.RWMutex
	m  map[string]*client
}

func (cs *clients) get(b name.Bound) (*client, error) {
	id := b.ID.String()
	cs.mu.RLock()
	c := cs.m[id]
	cs.mu.RUnlock()
	if c != nil && c.bound.Addr == b.Addr {
		return c, nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c = cs.m[id]; c != nil && c.bound.Addr == b.Addr {
		return c, nil
	}
	bal, err := cs.newBalancer()
	if err != nil {
		return nil, fmt.Errorf("client %s: %w", id, err)
	}
	if c != nil {
		// The namer replaced the name's Var (e.g. a file came back): keep
		// the balancer's endpoint state by reusing it.
		bal = c.bal
	}
	c = &client{id: id, bound: b, bal: bal}
	if cs.m == nil {
		cs.m = map[string]*client{}
	}
	cs.m[id] = c
	return c, nil
}

// snapshot lists the clients, for metrics and the dashboard.
func (cs *clients) snapshot() []*client {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]*client, 0, len(cs.m))
	for _, c := range cs.m {
		out = append(out, c)
	}
	return out
}
