package retry_test

import (
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

// TestMain fails the run when a test leaves a connection goroutine behind
// (a server loop, an HTTP/1 persistConn, an HTTP/2 read loop).
func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "net/http.", "golang.org/x/net/http2", "core/retry_test.")
}
