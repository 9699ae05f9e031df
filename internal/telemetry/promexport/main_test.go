package promexport_test

import (
	"testing"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

// TestMain fails the run if a goroutine of this package outlives the
// tests: a scrape starts none.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 0, "slinkerd/internal/telemetry/promexport.")
}
