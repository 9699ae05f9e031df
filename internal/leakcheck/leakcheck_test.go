package leakcheck_test

import (
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
	"github.com/stretchr/testify/assert"
)

func leakyWorker(stop <-chan struct{}, started chan<- struct{}) {
	close(started)
	<-stop
}

func TestLeaked(t *testing.T) {
	stop, started := make(chan struct{}), make(chan struct{})
	go leakyWorker(stop, started)
	<-started
	assert.Contains(t, leakcheck.Leaked(0, "leakcheck_test.leakyWorker"), "leakyWorker", "a live goroutine is reported")
	assert.Empty(t, leakcheck.Leaked(0, "no.such.function"), "nothing matches")

	close(stop)
	assert.Empty(t, leakcheck.Leaked(5*time.Second, "leakcheck_test.leakyWorker"), "a goroutine that exits within the grace is not")
}
