package main

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The benchmark's trace travels with the binary: a lone clone, with no
// ../shared beside it, has it (issue 15: make bench-lb failed there with
// "cannot find ../shared/data/real_latencies.data").
func TestEmbeddedTrace(t *testing.T) {
	trace, err := readTrace()
	require.NoError(t, err)
	assert.Equal(t, 86333, len(trace))
	sorted := slices.Clone(trace)
	slices.Sort(sorted)
	assert.InDelta(t, 167.5, float64(sorted[len(sorted)/2])/float64(time.Millisecond), 1)
	assert.GreaterOrEqual(t, sorted[0], 164*time.Millisecond)
	assert.LessOrEqual(t, sorted[len(sorted)-1], 201*time.Millisecond)
}
