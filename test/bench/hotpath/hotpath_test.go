package hotpath_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// backendResponse is the raw backend's one answer.
var backendResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

// rawBackend is an HTTP/1.1 keep-alive server that answers every request
// with backendResponse without allocating per request. It reads request
// bodies of a Content-Length (not chunked ones).
type rawBackend struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startRawBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	var mu sync.Mutex
	var conns []net.Conn
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				serveRaw(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		b.wg.Wait()
	})
	return ln.Addr().String()
}

func serveRaw(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	for {
		// Read the request head: lines up to an empty one.
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(clPrefix) && asciiHasPrefixFold(line, clPrefix) {
				n = atoi(bytes.TrimSpace(line[len(clPrefix):]))
			}
		}
		if n > 0 {
			if _, err := br.Discard(n); err != nil {
				return
			}
		}
		if _, err := c.Write(backendResponse); err != nil {
			return
		}
	}
}

// rawClient sends keep-alive GETs on one connection and reads the
// responses without allocating per request.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func dialRaw(tb testing.TB, addr, host string) *rawClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawClient{c: c, br: bufio.NewReaderSize(c, 16<<10), req: []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")}
}

// postBody is what the POST benchmarks send.
const postBody = `{"id":42,"name":"slinkerd","tags":["a","b"]}`

// dialRawPost is dialRaw for keep-alive POSTs of postBody.
func dialRawPost(tb testing.TB, addr, host string) *rawClient {
	rc := dialRaw(tb, addr, host)
	rc.req = []byte("POST /orders HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(postBody)) + "\r\n\r\n" + postBody)
	return rc
}

var (
	errStatus = errors.New("status is not 200")
	errLength = errors.New("response without Content-Length")
	clPrefix  = []byte("content-length:")
)

// do sends one request and reads its response to the end.
func (rc *rawClient) do() error {
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	status, err := rc.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("%w: %q", errStatus, status)
	}
	n := -1
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(clPrefix) && asciiHasPrefixFold(line, clPrefix) {
			n = atoi(bytes.TrimSpace(line[len(clPrefix):]))
		}
	}
	if n < 0 {
		return errLength
	}
	_, err = rc.br.Discard(n)
	return err
}

func asciiHasPrefixFold(b, prefix []byte) bool {
	for i, c := range prefix {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != c {
			return false
		}
	}
	return true
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// startSlinkerd assembles and serves slinkerd as cmd/slinkerd does, from
// SLINKERD_* settings, routing /svc/bench to backend. It returns the
// proxy's address.
func startSlinkerd(tb testing.TB, backend string) string {
	tb.Helper()
	_, port, _ := net.SplitHostPort(backend)
	environ := map[string]string{
		"SLINKERD_MODE":         "container",
		"SLINKERD_LISTEN":       "127.0.0.1:0",
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
		"SLINKERD_DTAB":         "/svc=>/$/inet/127.0.0.1/" + port,
		"SLINKERD_LOG_LEVEL":    "warn",
	}
	cfg, err := config.Load(environ)
	if err != nil {
		tb.Fatal(err)
	}
	mode := cfg.ResolveMode(environ)
	a, err := app.New(cfg, mode, app.NewLogger(cfg, mode))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, 2*time.Second) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("slinkerd: %v", err)
		}
	})
	return a.Server.Addr().String()
}

// counters are the process-wide figures the end-to-end benchmarks
// difference: allocations, allocated bytes, and CPU time (user + system,
// all threads), which unlike wall time does not grow while a busy machine
// keeps the process waiting.
type counters struct {
	mallocs, bytes uint64
	cpu            time.Duration
}

func readCounters() counters {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return counters{mallocs: ms.Mallocs, bytes: ms.TotalAlloc, cpu: cpu}
}

// reportPerRequest reports what n proxied requests cost beyond n direct
// ones: proxy-allocs/req, proxy-B/req and proxy-cpu-µs/req.
func reportPerRequest(b *testing.B, n int, direct, proxied counters) {
	per := func(x float64) float64 { return x / float64(n) }
	b.ReportMetric(per(float64(proxied.mallocs)-float64(direct.mallocs)), "proxy-allocs/req")
	b.ReportMetric(per(float64(proxied.bytes)-float64(direct.bytes)), "proxy-B/req")
	b.ReportMetric(per(float64(proxied.cpu-direct.cpu)/1e3), "proxy-cpu-µs/req")
}

// sub is a - b, field by field.
func (a counters) sub(b counters) counters {
	return counters{mallocs: a.mallocs - b.mallocs, bytes: a.bytes - b.bytes, cpu: a.cpu - b.cpu}
}

// run sends n requests through rc, failing tb on the first error.
func run(tb testing.TB, rc *rawClient, n int) {
	for i := 0; i < n; i++ {
		if err := rc.do(); err != nil {
			tb.Fatalf("request %d: %v", i, err)
		}
	}
}

// TestHarness checks the benchmark's plumbing: a proxied request through
// the raw client gets the raw backend's answer, and the raw client and
// backend do not allocate per request (the subtraction relies on it).
func TestHarness(t *testing.T) {
	be := startRawBackend(t)
	addr := startSlinkerd(t, be)
	pc := dialRaw(t, addr, "bench")
	run(t, pc, 10)
	dc := dialRaw(t, be, "bench")
	run(t, dc, 10)
	allocs := testing.AllocsPerRun(100, func() {
		if err := dc.do(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.5 {
		t.Errorf("direct request allocates %.1f times; the baseline must be near zero", allocs)
	}
}

// BenchmarkDirectHTTP1 is the baseline: raw client to raw backend, no
// proxy, one keep-alive connection.
func BenchmarkDirectHTTP1(b *testing.B) {
	be := startRawBackend(b)
	dc := dialRaw(b, be, "bench")
	run(b, dc, 100)
	b.ReportAllocs()
	b.ResetTimer()
	run(b, dc, b.N)
}

// BenchmarkProxyHTTP1 is one proxied HTTP/1.1 request end to end, one at
// a time on one keep-alive connection, through slinkerd as the binary
// assembles it. proxy-allocs/req and proxy-B/req subtract the same
// number of direct requests measured just before.
func BenchmarkProxyHTTP1(b *testing.B) { benchSerial(b, dialRaw) }

// BenchmarkProxyHTTP1Post is BenchmarkProxyHTTP1 with a small JSON body
// (a POST, which is neither idempotent nor bodiless).
func BenchmarkProxyHTTP1Post(b *testing.B) { benchSerial(b, dialRawPost) }

// benchSerial runs b.N requests made by dial's clients one at a time,
// straight to the backend and then through slinkerd, and reports the
// difference per request.
func benchSerial(b *testing.B, dial func(tb testing.TB, addr, host string) *rawClient) {
	be := startRawBackend(b)
	addr := startSlinkerd(b, be)
	pc := dial(b, addr, "bench")
	dc := dial(b, be, "bench")
	run(b, pc, 100) // warm: bind cache, balancer, upstream connection
	run(b, dc, 100)

	c0 := readCounters()
	run(b, dc, b.N)
	c1 := readCounters()
	b.ReportAllocs()
	b.ResetTimer()
	run(b, pc, b.N)
	b.StopTimer()
	c2 := readCounters()
	reportPerRequest(b, b.N, c1.sub(c0), c2.sub(c1))
}

// BenchmarkProxyHTTP1Parallel is proxied HTTP/1.1 under concurrency: 32
// keep-alive connections per GOMAXPROCS, each sending back to back, with
// the same per-request metrics as BenchmarkProxyHTTP1 (the direct
// baseline runs the same way, outside the timer). It is the one to
// profile; the profile then holds the baseline's raw client and backend
// too, which are small and easy to tell apart.
func BenchmarkProxyHTTP1Parallel(b *testing.B) {
	be := startRawBackend(b)
	addr := startSlinkerd(b, be)
	warm := dialRaw(b, addr, "bench")
	run(b, warm, 100)
	b.SetParallelism(32)
	parallel := func(target string) {
		var mu sync.Mutex
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			c := dialRaw(b, target, "bench")
			mu.Unlock()
			for pb.Next() {
				if err := c.do(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	// The direct baseline runs the same b.N requests the same way first.
	c0 := readCounters()
	parallel(be)
	c1 := readCounters()
	b.ReportAllocs()
	b.ResetTimer()
	parallel(addr)
	b.StopTimer()
	c2 := readCounters()
	reportPerRequest(b, b.N, c1.sub(c0), c2.sub(c1))
}

// BenchmarkIdentify is naming a request /svc/<host>.
func BenchmarkIdentify(b *testing.B) {
	req, err := http.NewRequest(http.MethodGet, "http://bench:4140/x", nil)
	if err != nil {
		b.Fatal(err)
	}
	id := proxy.HeaderIdentifier{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := id.Identify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBindCacheHit is binding /svc/bench when the interpreter has
// it cached, through the dtab and namers the binary builds.
func BenchmarkBindCacheHit(b *testing.B) {
	environ := map[string]string{"SLINKERD_DTAB": "/svc=>/$/inet/127.0.0.1/8080"}
	cfg, err := config.Load(environ)
	if err != nil {
		b.Fatal(err)
	}
	in, closers, err := app.NewInterpreter(cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	path := name.Path{"svc", "bench"}
	ctx := context.Background()
	if _, err := in.Bind(ctx, nil, path); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := in.Bind(ctx, nil, path)
		if err != nil || len(res.Bounds) != 1 {
			b.Fatalf("bind: %v %v", res, err)
		}
	}
}

// BenchmarkBalancerPick is one Pick and Done over three endpoints, for
// each balancer kind.
func BenchmarkBalancerPick(b *testing.B) {
	addrs := make([]name.Address, 3)
	for i := range addrs {
		addrs[i] = name.Address{Host: "127.0.0.1", Port: 8080 + i}
	}
	for _, kind := range []string{balance.KindEWMA, balance.KindP2C, balance.KindRoundRobin} {
		b.Run(kind, func(b *testing.B) {
			bal, err := balance.New(balance.Config{Kind: kind})
			if err != nil {
				b.Fatal(err)
			}
			bal.Update(addrs)
			b.ReportAllocs()
			for b.Loop() {
				p, err := bal.Pick()
				if err != nil {
					b.Fatal(err)
				}
				p.Done(false)
			}
		})
	}
}

// BenchmarkPathString is rendering a logical name, which the proxy does
// for every request (cache key, l5d-dst-service).
func BenchmarkPathString(b *testing.B) {
	p := name.Path{"svc", "bench"}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.String()
	}
}
