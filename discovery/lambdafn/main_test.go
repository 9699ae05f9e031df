package lambdafn_test

import (
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

// TestMain fails the run if a goroutine of this package, of the fake
// Lambda API or of a response stream's reader outlives the tests: every
// test closes the bodies it reads and the fakes it starts.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "slinkerd/discovery/lambdafn.", "slinkerd/test/fakes/lambdastream.",
		"invokeWithResponseStreamResponseEventReader")
}
