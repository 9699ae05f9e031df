package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/harness"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interopCases are the grpc-go interop client's test cases that need no
// credentials (see google.golang.org/grpc/interop/client). The compressed
// cases of the cross-language spec are listed too: grpc-go's client does
// not implement them, so they fail directly and are reported, not
// required. pick_first_unary needs several servers, orca_* need ORCA on
// the server; they fail directly as well.
var interopCases = []struct {
	name    string
	timeout time.Duration
}{
	{name: "empty_unary"},
	{name: "large_unary"},
	{name: "client_streaming"},
	{name: "server_streaming"},
	{name: "ping_pong"},
	{name: "empty_stream"},
	{name: "timeout_on_sleeping_server"},
	{name: "cancel_after_begin"},
	{name: "cancel_after_first_response"},
	{name: "status_code_and_message"},
	{name: "special_status_message"},
	{name: "custom_metadata"},
	{name: "unimplemented_method"},
	{name: "unimplemented_service"},
	{name: "rpc_soak"},
	{name: "channel_soak"},
	{name: "pick_first_unary"},
	{name: "orca_per_rpc"},
	{name: "orca_oob", timeout: 5 * time.Second}, // waits forever for ORCA
	{name: "client_compressed_unary"},
	{name: "server_compressed_unary"},
	{name: "client_compressed_streaming"},
	{name: "server_compressed_streaming"},
}

// interopCaseTimeout bounds one client process.
const interopCaseTimeout = 30 * time.Second

type interopOutcome struct {
	pass     bool
	detail   string // the last line of a failing run
	duration time.Duration
}

// runInteropCase runs the interop client once for one case against port.
func runInteropCase(bin string, port int, name string, timeout time.Duration) interopOutcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "--server_host=127.0.0.1", "--server_port="+strconv.Itoa(port), "--test_case="+name)
	out, err := cmd.CombinedOutput()
	o := interopOutcome{pass: err == nil, duration: time.Since(start)}
	if err != nil {
		o.detail = strings.TrimSpace(tail(string(out), 1))
		if ctx.Err() != nil {
			o.detail = fmt.Sprintf("timed out after %s", timeout)
		}
	}
	return o
}

// TestGRPCInterop runs the grpc-go interop client against the grpc-go
// interop server, once directly and once through slinkerd, one process per
// case. Issue 3: every case that passes directly passes through slinkerd,
// and at least 16 pass directly.
func TestGRPCInterop(t *testing.T) {
	client, okc := toolPath("grpc-interop-client")
	server, oks := toolPath("grpc-interop-server")
	if !okc || !oks {
		t.Skip("grpc-interop-client/grpc-interop-server are not installed in .tools/: run `make tools`")
	}
	t.Parallel()

	port := closedPort(t)
	srv := exec.Command(server, "--port="+strconv.Itoa(port))
	srvProc := harness.StartProcess(t, srv, nil)
	waitFor(t, 10*time.Second, "the interop server accepts connections", func() bool {
		select {
		case <-srvProc.Exited():
			t.Fatalf("the interop server exited:\n%s", srvProc.Logs())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc=>/$/inet/127.0.0.1/%d", port)})
	_, proxyPort, err := splitPort(p.ProxyAddr)
	require.NoError(t, err)

	// Run the processes a few at a time: most cases take milliseconds,
	// a few wait on timeouts.
	type result struct{ direct, proxied interopOutcome }
	results := make([]result, len(interopCases))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, tc := range interopCases {
		timeout := tc.timeout
		if timeout == 0 {
			timeout = interopCaseTimeout
		}
		for _, via := range []string{"direct", "proxied"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if via == "direct" {
					results[i].direct = runInteropCase(client, port, tc.name, timeout)
				} else {
					results[i].proxied = runInteropCase(client, proxyPort, tc.name, timeout)
				}
			}()
		}
	}
	wg.Wait()

	var table strings.Builder
	fmt.Fprintf(&table, "%-30s %-8s %-8s %s\n", "case", "direct", "slinkerd", "detail")
	verdict := func(o interopOutcome) string {
		if o.pass {
			return "PASS"
		}
		return "FAIL"
	}
	directPasses, proxiedPasses := 0, 0
	for i, tc := range interopCases {
		r := results[i]
		detail := ""
		switch {
		case r.direct.pass && !r.proxied.pass:
			detail = "slinkerd: " + r.proxied.detail
		case !r.direct.pass:
			detail = "direct: " + r.direct.detail
		}
		if len(detail) > 120 {
			detail = detail[:120] + "…"
		}
		fmt.Fprintf(&table, "%-30s %-8s %-8s %s\n", tc.name, verdict(r.direct), verdict(r.proxied), detail)
		if r.direct.pass {
			directPasses++
			if r.proxied.pass {
				proxiedPasses++
			}
		}
		assert.False(t, r.direct.pass && !r.proxied.pass, "%s passes directly but fails through slinkerd: %s", tc.name, r.proxied.detail)
	}
	t.Logf("grpc-go interop: %d cases pass directly, %d of them through slinkerd\n%s", directPasses, proxiedPasses, table.String())
	assert.GreaterOrEqual(t, directPasses, 16, "issue 3 expects 16 interop cases to pass over a direct connection")
}
