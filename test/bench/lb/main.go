// Command lb replays linkerd's 2016 load-balancing experiment ("Beyond
// Round Robin: Load Balancing for Latency") on loopback: 11 HTTP backends,
// each sleeping for the next latency of Finagle's production trace from a
// random start; one open-loop client at 1000 req/s for 60 s; from 25% to
// 75% of the run (15 s to 45 s) one backend's latencies are multiplied by
// 10. It runs the same load through slinkerd with each balancer and
// through HAProxy (roundrobin and leastconn), and prints the percentiles
// beside the published ones.
//
//	go run ./test/bench/lb [-duration 60s] [-rate 1000] [-slow 10] [-only ewma,haproxy-leastconn]
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/load"
)

var (
	duration  = flag.Duration("duration", 60*time.Second, "length of each run")
	rate      = flag.Float64("rate", 1000, "requests per second (open loop)")
	slow      = flag.Float64("slow", 10, "latency multiplier of the slow backend")
	backends  = flag.Int("backends", 11, "number of backends")
	only      = flag.String("only", "", "comma-separated setups to run (default all): ewma,p2c,roundrobin,haproxy-roundrobin,haproxy-leastconn")
	tracePath = flag.String("trace", "", "latency trace, milliseconds one per line (default: the embedded testdata/real_latencies.data)")
	timeout   = flag.Duration("timeout", time.Second, "client timeout for the success rate")
	binary    = flag.String("slinkerd", "bin/slinkerd", "slinkerd binary")
	jsonOut   = flag.String("json", "", "write results as JSON to this file")
)

// published are the 2016 post's percentiles in ms.
var published = map[string]map[string]float64{
	"p2c":        {"p50": 174, "p90": 184, "p95": 189, "p99": 205, "p99.9": 1723, "p99.99": 1825},
	"ewma":       {"p50": 174, "p90": 183, "p95": 188, "p99": 199, "p99.9": 211, "p99.99": 1780},
	"roundrobin": {"p50": 175, "p90": 187, "p95": 203, "p99": 1714, "p99.9": 1862, "p99.99": 1978},
}

type setup struct {
	name  string
	start func(ctx context.Context, addrs []string) (proxyAddr string, stop func(), err error)
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-lb:", err)
		os.Exit(1)
	}
}

type runResult struct {
	Setup       string             `json:"setup"`
	Requests    int                `json:"requests"`
	SuccessRate float64            `json:"success_rate"`
	Millis      map[string]float64 `json:"percentiles_ms"`
	Errors      map[string]int     `json:"errors"`
}

func run() error {
	trace, err := readTrace()
	if err != nil {
		return err
	}
	ctx := context.Background()
	start := time.Now()
	var slowOn atomic.Bool
	var addrs []string
	for i := 0; i < *backends; i++ {
		addr, err := startBackend(trace, i == 0, &slowOn)
		if err != nil {
			return err
		}
		addrs = append(addrs, addr)
	}
	_ = start

	setups := []setup{
		{"ewma", slinkerd("ewma")},
		{"p2c", slinkerd("p2c")},
		{"roundrobin", slinkerd("roundrobin")},
		{"haproxy-roundrobin", haproxy("roundrobin")},
		{"haproxy-leastconn", haproxy("leastconn")},
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			want[s] = true
		}
	}
	var results []runResult
	for _, s := range setups {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "running %s for %s at %.0f req/s...\n", s.name, *duration, *rate)
		proxyAddr, stop, err := s.start(ctx, addrs)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rs := runLoad(ctx, proxyAddr, &slowOn)
		stop()
		sum := load.Summarize(rs, *timeout)
		r := runResult{Setup: s.name, Requests: sum.Count, SuccessRate: float64(sum.OK) / float64(max(1, sum.Count)), Millis: map[string]float64{}, Errors: sum.Errors}
		for k, v := range sum.Percentiles {
			r.Millis[k] = float64(v.Microseconds()) / 1000
		}
		results = append(results, r)
	}
	printTable(results)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runLoad sends the open-loop load; the slow window is 25%..75% of the run.
func runLoad(ctx context.Context, proxyAddr string, slowOn *atomic.Bool) []load.Result {
	client := &http.Client{
		// Let slow requests finish so their real latency is recorded; the
		// success rate applies the timeout afterwards.
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	// Warm up connections and EWMA state briefly, outside the record.
	warm := load.HTTPGet(client, "http://"+proxyAddr+"/", "lb")
	load.Run(ctx, *rate, 2*time.Second, warm)

	d := *duration
	timer1 := time.AfterFunc(d/4, func() { slowOn.Store(true) })
	timer2 := time.AfterFunc(3*d/4, func() { slowOn.Store(false) })
	defer timer1.Stop()
	defer timer2.Stop()
	rs := load.Run(ctx, *rate, d, warm)
	slowOn.Store(false)
	return rs
}

func printTable(results []runResult) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "setup\t")
	for _, p := range load.Pcts {
		fmt.Fprintf(w, "%s\t", p.Name)
	}
	fmt.Fprintf(w, "success (<%s)\t\n", *timeout)
	for _, r := range results {
		fmt.Fprintf(w, "%s\t", r.Setup)
		for _, p := range load.Pcts {
			fmt.Fprintf(w, "%.0f\t", r.Millis[p.Name])
		}
		fmt.Fprintf(w, "%.2f%%\t\n", 100*r.SuccessRate)
		if pub, ok := published[r.Setup]; ok {
			fmt.Fprintf(w, "  published 2016\t")
			for _, p := range load.Pcts {
				if v, ok := pub[p.Name]; ok {
					fmt.Fprintf(w, "%.0f\t", v)
				} else {
					fmt.Fprintf(w, "-\t")
				}
			}
			fmt.Fprintf(w, "\t\n")
		}
	}
	w.Flush()
	fmt.Println("(latencies in ms; every request counted at its full latency, open loop)")
	for _, r := range results {
		if len(r.Errors) > 0 {
			fmt.Printf("%s failures: %v\n", r.Setup, r.Errors)
		}
	}
}

// realLatencies is the production latency trace the experiment replays:
// 86,333 latencies in milliseconds, one per line, published with
// Finagle's load-balancer simulation (twitter/finagle,
// finagle-benchmark/src/main/resources/real_latencies.data, Apache
// License 2.0; see testdata/README.md). It is carried in the repository
// so that a lone clone can run the benchmark.
//
//go:embed testdata/real_latencies.data
var realLatencies []byte

// readTrace reads the -trace file, or the embedded trace.
func readTrace() ([]time.Duration, error) {
	if *tracePath == "" {
		return parseTrace("testdata/real_latencies.data", bytes.NewReader(realLatencies))
	}
	f, err := os.Open(*tracePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseTrace(*tracePath, f)
}

// parseTrace reads latencies in milliseconds, one per line.
func parseTrace(name string, r io.Reader) ([]time.Duration, error) {
	var out []time.Duration
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		ms, err := strconv.ParseFloat(line, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, time.Duration(ms*float64(time.Millisecond)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty trace", name)
	}
	return out, nil
}

// startBackend serves requests that sleep for the next trace latency,
// from a random start; the slow one multiplies it while slowOn is set.
func startBackend(trace []time.Duration, isSlow bool, slowOn *atomic.Bool) (string, error) {
	var idx atomic.Int64
	idx.Store(rand.Int64N(int64(len(trace))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := trace[int(idx.Add(1))%len(trace)]
		if isSlow && slowOn.Load() {
			d = time.Duration(float64(d) * *slow)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("ok"))
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(addr string, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after %s", addr, deadline)
}

func slinkerd(balancer string) func(ctx context.Context, addrs []string) (string, func(), error) {
	return func(ctx context.Context, addrs []string) (string, func(), error) {
		dir, err := os.MkdirTemp("", "bench-lb-fs")
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		for _, a := range addrs {
			h, p, _ := net.SplitHostPort(a)
			fmt.Fprintf(&b, "%s %s\n", h, p)
		}
		if err := os.WriteFile(filepath.Join(dir, "lb"), []byte(b.String()), 0o644); err != nil {
			return "", nil, err
		}
		listen, err := freePort()
		if err != nil {
			return "", nil, err
		}
		admin, err := freePort()
		if err != nil {
			return "", nil, err
		}
		cmd := exec.Command(*binary)
		cmd.Env = append(os.Environ(),
			"SLINKERD_MODE=container", "SLINKERD_LISTEN="+listen, "SLINKERD_ADMIN_LISTEN="+admin,
			"SLINKERD_FS_DIR="+dir, "SLINKERD_DTAB=/svc=>/#/io.l5d.fs", "SLINKERD_BALANCER="+balancer,
			"SLINKERD_LOG_LEVEL=warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("start %s (make build first): %w", *binary, err)
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			os.RemoveAll(dir)
		}
		if err := waitListening(listen, 10*time.Second); err != nil {
			stop()
			return "", nil, err
		}
		return listen, stop, nil
	}
}

func haproxy(algo string) func(ctx context.Context, addrs []string) (string, func(), error) {
	return func(ctx context.Context, addrs []string) (string, func(), error) {
		bin, err := exec.LookPath("haproxy")
		if err != nil {
			return "", nil, errors.New("haproxy is not installed (make bench-lb installs it with apt-get)")
		}
		listen, err := freePort()
		if err != nil {
			return "", nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, `global
  maxconn 8000
  nbthread 2
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind %s
  default_backend be
backend be
  balance %s
`, listen, algo)
		for i, a := range addrs {
			fmt.Fprintf(&b, "  server s%d %s\n", i, a)
		}
		f, err := os.CreateTemp("", "bench-lb-haproxy-*.cfg")
		if err != nil {
			return "", nil, err
		}
		f.WriteString(b.String())
		f.Close()
		cmd := exec.Command(bin, "-db", "-f", f.Name())
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			os.Remove(f.Name())
		}
		if err := waitListening(listen, 10*time.Second); err != nil {
			stop()
			return "", nil, err
		}
		return listen, stop, nil
	}
}
