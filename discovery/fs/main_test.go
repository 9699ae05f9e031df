package fs_test

import (
	"testing"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

// TestMain fails the run if a goroutine of this package outlives the
// tests: every test closes its Namer, and Close waits for the watcher and
// for background checks.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 0, "slinkerd/discovery/fs.", "namerkit.(*Flight)")
}
