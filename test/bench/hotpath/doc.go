// Package hotpath holds the Go benchmarks of slinkerd's request hot path:
// a proxied HTTP/1.1 GET and POST, and an h2c GET, end to end through the
// proxy that cmd/slinkerd runs (assembled by internal/app from the same
// SLINKERD_* settings), and its pieces — identify, a bind-cache hit, a
// balancer pick.
//
//	go test -run '^$' -bench . -benchmem ./test/bench/hotpath
//
// # Allocations per proxied request
//
// An in-process benchmark counts every allocation in the process, the
// client's and the backend's included. To charge the proxy only with its
// own, the client and the backend here are raw HTTP/1.1 over TCP that do
// not allocate per request, and each end-to-end benchmark also runs the
// same number of requests straight to the backend (no proxy) and
// subtracts that baseline: the proxy-allocs/req and proxy-B/req metrics
// are what passing through the proxy adds. The h2c benchmark uses Go's
// own HTTP/2 client and server, which allocate, and relies on the same
// subtraction.
//
// For profiles of the proxy under concurrent load:
//
//	go test -run '^$' -bench ProxyHTTP1Parallel -cpuprofile cpu.prof -memprofile mem.prof ./test/bench/hotpath
package hotpath
