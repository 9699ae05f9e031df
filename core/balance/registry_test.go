package balance_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
)

// first is a registered balancer for the test: always the first endpoint,
// counting outcomes.
type first struct {
	mu       sync.Mutex
	addrs    []name.Address
	outcomes []bool
}

func (f *first) Pick() (*balance.Pick, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.addrs) == 0 {
		return nil, balance.ErrNoEndpoints
	}
	return balance.NewPick(f.addrs[0], func(failed bool) {
		f.mu.Lock()
		f.outcomes = append(f.outcomes, failed)
		f.mu.Unlock()
	}), nil
}

func (f *first) Endpoints() []balance.EndpointStats { return nil }

func (f *first) Update(addrs []name.Address) {
	f.mu.Lock()
	f.addrs = addrs
	f.mu.Unlock()
}

var built *first

func init() {
	balance.Register("test.first", func(cfg balance.Config) (balance.Balancer, error) {
		built = &first{}
		return built, nil
	})
}

func TestRegisteredBalancer(t *testing.T) {
	assert.Contains(t, balance.Kinds(), "test.first")
	assert.Equal(t, []string{"ewma", "p2c", "roundrobin"}, balance.Kinds()[:3])
	b, err := balance.New(balance.Config{Kind: "test.first"})
	require.NoError(t, err)
	require.Same(t, built, b)
	_, err = b.Pick()
	assert.ErrorIs(t, err, balance.ErrNoEndpoints)

	b.Update([]name.Address{{Host: "10.0.0.1", Port: 80}, {Host: "10.0.0.2", Port: 80}})
	p, err := b.Pick()
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1:80", p.HostPort)
	p.Done(true)
	p.Done(false) // a second Done is a no-op
	assert.Equal(t, []bool{true}, built.outcomes)

	assert.PanicsWithValue(t, `balance: Register("test.first"): empty, built in, or registered twice`, func() {
		balance.Register("test.first", func(balance.Config) (balance.Balancer, error) { return nil, nil })
	})
	assert.Panics(t, func() {
		balance.Register("ewma", func(balance.Config) (balance.Balancer, error) { return nil, nil })
	})
}
