package proxy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
)

// TestClientsAreBounded: a namer that binds names the caller chooses
// (/$/inet/<host>/<port> behind a path identifier) made one client per
// name, kept forever (defect 4 of issue 14: per-name state keyed by
// attacker-chosen input must be capped). Past maxClients the table
// evicts a client, preferring one with nothing in flight; a client in use
// keeps working, and a name seen again gets a new client.
func TestClientsAreBounded(t *testing.T) {
	cs := clients{newBalancer: func() (balance.Balancer, error) { return balance.New(balance.Config{}) }}
	bound := func(i int) name.Bound {
		v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 1}}}, nil)
		return name.Bound{ID: name.Path{"$", "inet", fmt.Sprintf("h%d", i), "80"}, Addr: v}
	}
	busy := bound(0)
	c0, err := cs.get(busy)
	require.NoError(t, err)
	c0.sync()
	pick, err := c0.bal.Pick() // in flight while the flood passes
	require.NoError(t, err)

	for i := 1; i <= 3*maxClients; i++ {
		_, err := cs.get(bound(i))
		require.NoError(t, err)
	}
	cs.mu.RLock()
	nID, nVar := len(cs.byID), len(cs.byVar)
	_, busyKept := cs.byVar[busy.Addr]
	cs.mu.RUnlock()
	assert.LessOrEqual(t, nID, maxClients)
	assert.LessOrEqual(t, nVar, maxClients)
	assert.True(t, busyKept, "the client with a request in flight was not evicted")
	pick.Done(false)
	assert.Len(t, cs.snapshot(), nID)
}
