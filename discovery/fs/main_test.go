package fs_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestMain fails the run if a goroutine of this package outlives the
// tests: every test closes its Namer, and Close waits for the watcher and
// for background checks.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "slinkerd/discovery/fs.") || strings.Contains(g, "namerkit.(*Flight)") {
				fmt.Fprintf(os.Stderr, "leaked goroutine:\n%s\n", g)
				code = 1
			}
		}
	}
	os.Exit(code)
}
