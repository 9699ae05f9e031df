// Package leakcheck is the shared test teardown that fails a package's
// test run when goroutines it started outlive the tests.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs m and, if the tests passed, checks that no goroutine whose
// stack contains one of marks (e.g. "slinkerd/discovery/fs.",
// "net/http.(*persistConn)") is still alive, waiting up to grace for
// them to exit (closing a connection ends its goroutines soon, not at
// once). It exits the process with the result. Call it from TestMain.
func Main(m *testing.M, grace time.Duration, marks ...string) {
	code := m.Run()
	if code == 0 {
		if leaks := Leaked(grace, marks...); leaks != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of goroutines matching marks, polling every
// 10ms until none is left or grace has passed; "" when none is left.
func Leaked(grace time.Duration, marks ...string) string {
	deadline := time.Now().Add(grace)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaks []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			// The goroutine running this check, and the test runner's.
			if strings.Contains(g, "internal/leakcheck.") || strings.Contains(g, "testing.(*M).") {
				continue
			}
			for _, mark := range marks {
				if strings.Contains(g, mark) {
					leaks = append(leaks, g)
					break
				}
			}
		}
		if len(leaks) == 0 || !time.Now().Before(deadline) {
			return strings.Join(leaks, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
