package conntrack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Shutdown waits for the connections it saw to leave, and no new one is
// taken once it began.
func TestShutdownWaitsForTheLastConnection(t *testing.T) {
	var s Set[int]
	require.True(t, s.Add(1))
	require.True(t, s.Add(2))
	var told []int
	done := s.Shutdown(func(c int) { told = append(told, c) })
	require.NotNil(t, done)
	assert.ElementsMatch(t, []int{1, 2}, told)
	assert.True(t, s.ShuttingDown())
	assert.False(t, s.Add(3), "no connection is taken after Shutdown")

	s.Remove(1)
	select {
	case <-done:
		t.Fatal("done before the last connection left")
	default:
	}
	s.Remove(2)
	select {
	case <-done:
	default:
		t.Fatal("not done after the last connection left")
	}
}

// With no connection, Shutdown has nothing to wait for; Close calls f on
// each connection and stops Add.
func TestShutdownEmptyAndClose(t *testing.T) {
	var s Set[string]
	assert.Nil(t, s.Shutdown(func(string) { t.Fatal("no connection to tell") }))

	var c Set[string]
	require.True(t, c.Add("a"))
	var closed []string
	c.Close(func(x string) { closed = append(closed, x) })
	assert.Equal(t, []string{"a"}, closed)
	assert.False(t, c.Add("b"))
	n := 0
	c.Each(func(string) { n++ })
	assert.Equal(t, 1, n, "Close tells, the servers' own goroutines Remove")
}
