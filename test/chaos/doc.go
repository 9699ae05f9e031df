// Package chaos is slinkerd's fault-injection suite. It runs the real
// bin/slinkerd under steady open-loop load (idempotent GETs and a stream
// of POSTs, test/internal/load) and injects faults: a backend killed with
// SIGKILL (a separate OS process), a backend that hangs, bursts of 503s,
// every endpoint down and back, the discovery source down, throttled or
// answering with an empty set, and slinkerd itself drained with SIGTERM
// and restarted. For each it reports requests sent, succeeded and failed,
// p99, and why failures failed, and it asserts the targets:
//
//   - no idempotent request fails while at least one healthy endpoint
//     exists;
//   - no request is lost: every request gets a response or a clear error
//     (a status the proxy explains with l5d-err, a backend's own status,
//     or a refused connection while slinkerd is down), and none takes
//     longer than the total timeout.
//
// `go test ./test/chaos` (part of `make test`) runs every scenario for a
// few seconds at 200 requests/s. `make chaos` runs the full suite: 60 s
// per fault at 500 requests/s, printing a results table and writing
// test/artifacts/chaos.json.
package chaos
