package balance_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
)

// sequence picks n times (finishing each at once) and returns the last
// octet of each chosen host, e.g. "1 1 2 1 3 1 1".
func sequence(t *testing.T, b balance.Picker, n int) string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		p, err := b.Pick()
		require.NoError(t, err)
		out[i] = strings.TrimPrefix(p.Address.Host, "10.0.0.")
		p.Done(false)
	}
	return strings.Join(out, " ")
}

func TestRoundRobinOrder(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
		picks   int
		want    string
	}{
		{name: "one", weights: []float64{1}, picks: 3, want: "1 1 1"},
		{name: "equal weights rotate in order", weights: []float64{1, 1, 1}, picks: 7, want: "1 2 3 1 2 3 1"},
		{name: "zero weight is the default 1", weights: []float64{0, 1}, picks: 4, want: "1 2 1 2"},
		{name: "nginx's smooth 5:1:1", weights: []float64{5, 1, 1}, picks: 14, want: "1 1 2 1 3 1 1 1 1 2 1 3 1 1"},
		{name: "1:3", weights: []float64{1, 3}, picks: 8, want: "2 1 2 2 2 1 2 2"},
		{name: "2:1 fractional", weights: []float64{0.5, 0.25}, picks: 6, want: "1 2 1 1 2 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(len(tt.weights), tt.weights...))
			assert.Equal(t, tt.want, sequence(t, b, tt.picks))
		})
	}
}

func TestRoundRobinSharesFollowWeights(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(3, 1, 2, 3))
	counts := pickDone(t, b, 600, false)
	assert.Equal(t, map[string]int{"10.0.0.1:80": 100, "10.0.0.2:80": 200, "10.0.0.3:80": 300}, counts)
}

func TestRoundRobinIgnoresLoad(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(2))
	counts, _ := hold(t, b, 10)
	assert.Equal(t, map[string]int{"10.0.0.1:80": 5, "10.0.0.2:80": 5}, counts)
}

func TestRoundRobinSkipsDeadEndpoints(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(3))
	kill(t, b, "10.0.0.2:80")
	b.Update(addrs(3)) // restart the rotation; the gate stays dead
	assert.Equal(t, "1 3 1 3 1 3", sequence(t, b, 6))
}

func TestRoundRobinUpdateRestartsTheRotation(t *testing.T) {
	b, _ := newBalancer(t, balance.Config{Kind: balance.KindRoundRobin}, addrs(3))
	assert.Equal(t, "1 2", sequence(t, b, 2))
	b.Update(addrs(2))
	assert.Equal(t, "1 2 1", sequence(t, b, 3))
}
