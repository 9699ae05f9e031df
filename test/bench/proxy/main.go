// Command proxy is the side-by-side benchmark behind `make bench`: it
// measures slinkerd against HAProxy, nginx and Caddy, and against no proxy
// at all, on loopback, in front of one Go backend.
//
// Every process is separate: the backend and the open-loop load
// generator are this binary re-executed (-role backend, -role openloop),
// saturation load comes from wrk (HTTP/1.1) and h2load (h2c and gRPC), so
// that only the proxy's own CPU is counted as the proxy's. Setups run
// interleaved (direct, slinkerd, haproxy, nginx, caddy, then again) for
// -rounds rounds, and the table shows medians over rounds, with ratios to
// direct and to HAProxy. Measured:
//
//  1. saturation throughput: HTTP/1.1 keep-alive at -conns connections
//     (wrk), h2c and gRPC unary at -h2-conns × -h2-streams (h2load);
//  2. latency at fixed open-loop rates (-rates): p50, p99, p99.9, shown
//     as added over direct in the same round;
//  3. resource cost: the proxy's CPU seconds per 100k requests (utime +
//     stime of all its processes), RSS at idle and peak RSS under load
//     (summed over its processes);
//  4. start-up: exec to the first successful proxied request, cold, and
//     the size of each proxy's main binary.
//
// Usage:
//
//	go run ./test/bench/proxy [-quick] [-rounds 3] [-duration 6s] [-json test/artifacts/bench.json]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	role        = flag.String("role", "", "internal: run as the backend or the open-loop load generator")
	quick       = flag.Bool("quick", false, "a short, noisier run: 1 round, 5s per measurement, 3 start-ups (explicit flags win)")
	rounds      = flag.Int("rounds", 3, "rounds of interleaved runs; the table shows medians over rounds")
	duration    = flag.Duration("duration", 6*time.Second, "length of each saturation run")
	latDuration = flag.Duration("lat-duration", 10*time.Second, "length of each fixed-rate latency run")
	warmup      = flag.Duration("warmup", time.Second, "unrecorded warm-up before each run")
	rates       = flag.String("rates", "1000,3000,5000", "open-loop rates for the latency runs and their CPU rows, req/s")
	conns       = flag.Int("conns", 64, "HTTP/1.1 keep-alive connections for the saturation run")
	h2Conns     = flag.Int("h2-conns", 8, "h2c and gRPC connections for the saturation runs")
	h2Streams   = flag.Int("h2-streams", 8, "concurrent streams per h2c or gRPC connection")
	loadThreads = flag.Int("load-threads", 2, "wrk and h2load threads")
	workers     = flag.Int("workers", 2, "worker threads or processes per proxy (HAProxy nbthread, nginx worker_processes, GOMAXPROCS)")
	startups    = flag.Int("startups", 10, "cold start-ups per proxy; the table shows the median")
	only        = flag.String("setups", "", "comma-separated setups to run (default all but the bare floors): direct,slinkerd,slinkerd-lambda,haproxy,nginx,caddy,bareh2,bareproxy,bareloop,barestack")
	measures    = flag.String("measure", "", "comma-separated measurements (default all): h1,h2c,grpc,latency,startup")
	slinkerdBin = flag.String("slinkerd", "bin/slinkerd", "slinkerd binary (make build)")
	lambdaBin   = flag.String("slinkerd-lambda", "bin/slinkerd-lambda", "slinkerd as the Lambda layer builds it, with the Makefile's LAYER_TAGS (make bench builds it; skipped if missing)")
	jsonOut     = flag.String("json", "test/artifacts/bench.json", "result file")
	proxyCPUs   = flag.String("proxy-cpus", "", "pin each proxy with taskset to this CPU list, e.g. 0,1 (default: no pinning)")
	loadCPUs    = flag.String("load-cpus", "", "pin the load generators to this CPU list")
	backendCPUs = flag.String("backend-cpus", "", "pin the backend to this CPU list")
	keep        = flag.Bool("keep", false, "keep the scratch directory (configs and logs)")
)

func main() {
	flag.Parse()
	var err error
	switch *role {
	case "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx)
		stop()
		stopAll()
	case "backend":
		err = runBackend()
	case "openloop":
		err = runOpenLoop(flag.Args())
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// applyQuick lowers the defaults for -quick, keeping flags set explicitly.
func applyQuick() {
	if !*quick {
		return
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["rounds"] {
		*rounds = 1
	}
	if !set["duration"] {
		*duration = 5 * time.Second
	}
	if !set["lat-duration"] {
		*latDuration = 5 * time.Second
	}
	if !set["startups"] {
		*startups = 3
	}
}

// bench is one run of the whole benchmark.
type bench struct {
	env      *env
	setups   []*setup
	backend  *backendConn
	self     string
	grpcBody string
	rates    []float64
	measure  map[string]bool
	tools    map[string]string // tool -> why it is missing
	res      *Result
}

func run(ctx context.Context) error {
	applyQuick()
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	b := &bench{measure: map[string]bool{}, tools: map[string]string{}}
	const allMeasures = "h1,h2c,grpc,latency,startup"
	for _, m := range splitList(*measures, allMeasures) {
		if !slices.Contains(strings.Split(allMeasures, ","), m) {
			return fmt.Errorf("-measure: unknown measurement %q", m)
		}
		b.measure[m] = true
	}
	for _, s := range splitList(*rates, "") {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 {
			return fmt.Errorf("-rates: bad rate %q", s)
		}
		b.rates = append(b.rates, r)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	b.self = self
	if _, err := os.Stat(*slinkerdBin); err != nil {
		return fmt.Errorf("slinkerd binary: %w (run make build)", err)
	}
	slk, err := filepath.Abs(*slinkerdBin)
	if err != nil {
		return err
	}
	lambda, err := filepath.Abs(*lambdaBin)
	if err != nil {
		return err
	}
	all := setups(slk, lambda)
	want := map[string]bool{}
	for _, name := range splitList(*only, "") {
		if !slices.ContainsFunc(all, func(s *setup) bool { return s.name == name }) {
			return fmt.Errorf("-setups: unknown setup %q", name)
		}
		want[name] = true
	}
	for _, s := range all {
		if (len(want) == 0 && !s.optIn) || want[s.name] || s.name == "direct" {
			b.setups = append(b.setups, s)
		}
	}
	for tool, pkg := range map[string]string{"wrk": "wrk", "h2load": "nghttp2-client"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.tools[tool] = fmt.Sprintf("%s is not installed (Debian package %s); its measurements are skipped", tool, pkg)
		}
	}

	dir, err := os.MkdirTemp("", "slinkerd-bench-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "scratch directory (kept):", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	defer stopAll() // before the directory goes, whatever happened
	// Run a private copy of slinkerd, so that a rebuild of bin/ during
	// the run cannot change what is measured, and its size is the size of
	// what ran.
	for _, s := range b.setups {
		if strings.HasPrefix(s.name, "slinkerd") && s.missing == "" {
			cp := filepath.Join(dir, s.name)
			if err := copyFile(s.binary, cp); err != nil {
				return fmt.Errorf("copy %s: %w", s.name, err)
			}
			s.binary = cp
		}
	}
	b.grpcBody = filepath.Join(dir, "grpc-health-check.bin")
	// One gRPC message: not compressed, length 0 (an empty HealthCheckRequest).
	if err := os.WriteFile(b.grpcBody, []byte{0, 0, 0, 0, 0}, 0o644); err != nil {
		return err
	}

	b.res = newResult(b)
	for _, s := range b.setups {
		if s.missing != "" {
			fmt.Fprintln(os.Stderr, "skipping", s.name+":", s.missing)
		}
	}
	for _, why := range b.tools {
		fmt.Fprintln(os.Stderr, "note:", why)
	}
	for _, s := range b.setups {
		// The bench runs the binaries as they are on disk: say which
		// build they are, so that a stale one is seen (make build).
		if strings.HasPrefix(s.name, "slinkerd") && s.missing == "" {
			v, _, _ := strings.Cut(b.res.Versions[s.name], " without ")
			fmt.Fprintf(os.Stderr, "note: the %s setup runs %s\n", s.name, v)
		}
	}
	if la := loadAvg(); la > 0.5 {
		fmt.Fprintf(os.Stderr, "note: the 1-minute load average is %.2f; other work on this machine makes the figures noisy\n", la)
	}

	b.backend, err = startBackend(b.self, dir, *backendCPUs)
	if err != nil {
		return err
	}
	defer b.backend.close()
	b.env = &env{backend: b.backend.ports, dir: dir, cpus: *proxyCPUs, workers: *workers}

	started := time.Now()
	if b.measure["startup"] {
		if err := b.startups(ctx); err != nil {
			return err
		}
	}
	for r := 0; r < *rounds; r++ {
		if err := b.round(ctx, r); err != nil {
			return err
		}
	}
	b.res.Meta.Elapsed = time.Since(started).Round(time.Second).String()
	b.res.Meta.LoadAvgEnd = loadAvg()
	b.res.summarize(b)
	b.res.print(os.Stdout, b)
	if *jsonOut != "" {
		if err := b.res.write(*jsonOut); err != nil {
			return err
		}
		fmt.Println("results written to", *jsonOut)
	}
	return nil
}

// startups measures each proxy's cold start, interleaved.
func (b *bench) startups(ctx context.Context) error {
	for i := 0; i < *startups; i++ {
		for _, s := range b.setups {
			if s.name == "direct" || s.missing != "" {
				continue
			}
			t0 := time.Now()
			in, err := s.start(b.env, fmt.Sprintf("startup%d", i))
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			d, err := waitReady(ctx, in, t0, 10*time.Second)
			var rss uint64
			if err == nil && in.addrs[protoH1] != "" {
				// Memory after a little traffic, as a Lambda extension
				// has it after its first invocations.
				if err = warm(ctx, in.addrs[protoH1]); err == nil {
					rss, _ = memory(in.proc.pid())
				}
			}
			in.stop()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.res.note(s.name, "startup: "+err.Error()+"\n"+in.proc.logTail())
				continue
			}
			b.res.Startup[s.name] = append(b.res.Startup[s.name], float64(d.Microseconds())/1000)
			if rss > 0 {
				b.res.AfterRequestsRSS[s.name] = append(b.res.AfterRequestsRSS[s.name], float64(rss))
			}
		}
	}
	fmt.Fprintf(os.Stderr, "start-up: %d cold starts per proxy done\n", *startups)
	return nil
}

// round starts every setup fresh, then runs each measurement across the
// setups in order, and stops them.
func (b *bench) round(ctx context.Context, r int) error {
	fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, *rounds)
	insts := map[string]*instance{}
	defer func() {
		for _, in := range insts {
			in.stop()
		}
	}()
	rr := &RoundResult{Round: r + 1, Setups: map[string]*SetupRound{}}
	b.res.Rounds = append(b.res.Rounds, rr)
	var live []*setup
	for _, s := range b.setups {
		if s.missing != "" {
			continue
		}
		in, err := s.start(b.env, fmt.Sprintf("round%d", r+1))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		insts[s.name] = in
		if _, err := waitReady(ctx, in, time.Now(), 10*time.Second); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			tail := ""
			if in.proc != nil {
				tail = "\n" + in.proc.logTail()
			}
			b.res.note(s.name, fmt.Sprintf("round %d: not ready: %v%s", r+1, err, tail))
			continue
		}
		check(ctx, in)
		for proto, why := range in.unsupported {
			if !b.measure[proto] {
				continue
			}
			b.res.note(s.name, fmt.Sprintf("%s does not work through %s, skipped: %s", proto, s.name, why))
		}
		sr := &SetupRound{Sat: map[string]*SatMeasure{}, Latency: map[string]*LatMeasure{}}
		rr.Setups[s.name] = sr
		live = append(live, s)
	}
	// Let start-up work settle before reading idle memory.
	if !sleep(ctx, time.Second) {
		return ctx.Err()
	}
	for _, s := range live {
		if in := insts[s.name]; in.proc != nil {
			sr := rr.Setups[s.name]
			sr.IdleRSS, sr.IdlePSS = memory(in.proc.pid())
		}
	}
	for _, proto := range []string{protoH1, protoH2C, protoGRPC} {
		if !b.measure[proto] {
			continue
		}
		tool := "h2load"
		if proto == protoH1 {
			tool = "wrk"
		}
		if b.tools[tool] != "" {
			continue
		}
		for _, s := range live {
			if err := b.saturate(ctx, s, insts[s.name], rr.Setups[s.name], proto); err != nil {
				return err
			}
		}
	}
	if b.measure["latency"] {
		for _, rate := range b.rates {
			for _, s := range live {
				if err := b.latency(ctx, s, insts[s.name], rr.Setups[s.name], rate); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// saturate runs one closed-loop saturation measurement.
func (b *bench) saturate(ctx context.Context, s *setup, in *instance, sr *SetupRound, proto string) error {
	addr := in.addrs[proto]
	if addr == "" {
		return nil
	}
	argv := func(d time.Duration) []string {
		switch proto {
		case protoH1:
			return wrkArgs(addr, *conns, *loadThreads, d)
		case protoH2C:
			return h2loadArgs(addr, *h2Conns, *h2Streams, *loadThreads, d, "")
		default:
			return h2loadArgs(addr, *h2Conns, *h2Streams, *loadThreads, d, b.grpcBody)
		}
	}
	limit := *duration + 30*time.Second
	if *warmup > 0 {
		if _, err := runTool(ctx, "warmup", b.env.dir, *loadCPUs, limit, argv(*warmup)...); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.res.note(s.name, fmt.Sprintf("%s warm-up: %v", proto, err))
		}
	}
	before, err := b.backend.stats()
	if err != nil {
		return err
	}
	cpu0, sampler := b.startUsage(in)
	out, err := runTool(ctx, proto+"-load", b.env.dir, *loadCPUs, limit, argv(*duration)...)
	cpu, rss, pss := b.endUsage(in, cpu0, sampler)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		b.res.note(s.name, fmt.Sprintf("%s saturation: %v", proto, err))
		return nil
	}
	var sat satResult
	if proto == protoH1 {
		sat, err = parseWrk(out)
	} else {
		sat, err = parseH2load(out)
	}
	if err != nil {
		b.res.note(s.name, fmt.Sprintf("%s saturation: %v", proto, err))
		return nil
	}
	after, err := b.backend.stats()
	if err != nil {
		return err
	}
	served := int64(after.HTTP - before.HTTP)
	if proto == protoGRPC {
		served = int64(after.GRPC - before.GRPC)
	}
	if sat.OK > served {
		// The tool saw more successes than reached the backend: the
		// proxy answered some itself. Count only what was proxied.
		b.res.note(s.name, fmt.Sprintf("%s saturation: the load tool counted %d successes but the backend served %d", proto, sat.OK, served))
		sat.OK = served
	}
	m := &SatMeasure{Requests: sat.Requests, OK: sat.OK, Seconds: sat.Seconds, RPS: sat.rps(), BackendServed: served}
	if in.proc != nil {
		m.CPUSeconds = cpu
		m.PeakRSS, m.PeakPSS = rss, pss
		if sat.OK > 0 {
			m.CPUPer100k = cpu / float64(sat.OK) * 1e5
		}
		if proto == protoH1 {
			sr.LoadRSS, sr.LoadPSS = rss, pss
		}
	}
	if fail := sat.Requests - sat.OK; fail > 0 {
		b.res.note(s.name, fmt.Sprintf("%s saturation: %d of %d requests failed", proto, fail, sat.Requests))
	}
	sr.Sat[proto] = m
	fmt.Fprintf(os.Stderr, "  %-8s %-4s %10.0f req/s\n", s.name, proto, m.RPS)
	return nil
}

// latency runs one open-loop fixed-rate measurement with HTTP/1.1.
func (b *bench) latency(ctx context.Context, s *setup, in *instance, sr *SetupRound, rate float64) error {
	addr := in.addrs[protoH1]
	if addr == "" {
		return nil
	}
	cpu0, sampler := b.startUsage(in)
	out, err := runTool(ctx, "openloop", b.env.dir, *loadCPUs, *warmup+*latDuration+30*time.Second,
		b.self, "-role", "openloop", "--", "-url", "http://"+addr+"/", "-host", hostHTTP,
		"-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-duration", latDuration.String(), "-warmup", warmup.String())
	cpu, rss, pss := b.endUsage(in, cpu0, sampler)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	key := strconv.FormatFloat(rate, 'f', -1, 64)
	if err != nil {
		b.res.note(s.name, fmt.Sprintf("latency at %s req/s: %v", key, err))
		return nil
	}
	var ol openLoopResult
	if err := json.Unmarshal([]byte(out), &ol); err != nil {
		b.res.note(s.name, fmt.Sprintf("latency at %s req/s: bad output: %v", key, err))
		return nil
	}
	m := &LatMeasure{Count: ol.Count, OK: ol.OK, Errors: ol.Errors, Micros: ol.Micros}
	if in.proc != nil {
		m.CPUSeconds = cpu
		if ol.Sent > 0 {
			m.CPUPer100k = cpu / float64(ol.Sent) * 1e5
		}
		m.PeakRSS, m.PeakPSS = rss, pss
	}
	if ol.Count > ol.OK {
		b.res.note(s.name, fmt.Sprintf("latency at %s req/s: %d of %d requests failed or took over 1s: %v", key, ol.Count-ol.OK, ol.Count, ol.Errors))
	}
	sr.Latency[key] = m
	fmt.Fprintf(os.Stderr, "  %-8s @%-5s p50 %7.0fµs p99 %7.0fµs p99.9 %7.0fµs\n", s.name, key, ol.Micros["p50"], ol.Micros["p99"], ol.Micros["p99.9"])
	return nil
}

// startUsage reads the proxy's CPU time and starts sampling its memory.
func (b *bench) startUsage(in *instance) (float64, *rssSampler) {
	if in.proc == nil {
		return 0, nil
	}
	return cpuSeconds(in.proc.pid()), sampleMemory(in.proc.pid(), 250*time.Millisecond)
}

// endUsage returns the CPU seconds used since startUsage and the peaks.
func (b *bench) endUsage(in *instance, cpu0 float64, s *rssSampler) (cpu float64, rss, pss uint64) {
	if in.proc == nil {
		return 0, 0, 0
	}
	rss, pss = s.end()
	return cpuSeconds(in.proc.pid()) - cpu0, rss, pss
}

// backendConn is the running backend and the pipes to talk to it.
type backendConn struct {
	proc  *proc
	ports backendPorts
	in    *os.File
	out   *bufio.Reader
}

// startBackend runs the backend process and waits for its ports.
func startBackend(self, dir, cpus string) (*backendConn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p, err := startProc("backend", dir, cpus, os.Environ(), inR, outW, self, "-role", "backend")
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	bc := &backendConn{proc: p, in: inW, out: bufio.NewReader(outR)}
	type line struct {
		b   []byte
		err error
	}
	ch := make(chan line, 1)
	go func() { l, err := bc.out.ReadBytes('\n'); ch <- line{l, err} }()
	select {
	case l := <-ch:
		if l.err != nil {
			bc.close()
			return nil, fmt.Errorf("backend did not start: %w\n%s", l.err, p.logTail())
		}
		if err := json.Unmarshal(l.b, &bc.ports); err != nil {
			bc.close()
			return nil, fmt.Errorf("backend: %w", err)
		}
	case <-time.After(10 * time.Second):
		bc.close()
		return nil, errors.New("backend did not start within 10s")
	}
	return bc, nil
}

// stats asks the backend how many requests it has served.
func (bc *backendConn) stats() (backendStats, error) {
	var st backendStats
	if _, err := bc.in.Write([]byte("stats\n")); err != nil {
		return st, fmt.Errorf("backend stats: %w", err)
	}
	l, err := bc.out.ReadBytes('\n')
	if err != nil {
		return st, fmt.Errorf("backend stats: %w", err)
	}
	if err := json.Unmarshal(l, &st); err != nil {
		return st, fmt.Errorf("backend stats: %w", err)
	}
	return st, nil
}

func (bc *backendConn) close() {
	bc.in.Close() // the backend exits when its stdin closes
	bc.proc.stop(3 * time.Second)
}

// splitList splits a comma-separated flag, or def when it is empty.
func splitList(s, def string) []string {
	if strings.TrimSpace(s) == "" {
		s = def
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func numCPU() int { return runtime.NumCPU() }

// flagVisitAll calls f with every flag's name and value.
func flagVisitAll(f func(name, value string)) {
	flag.VisitAll(func(fl *flag.Flag) { f(fl.Name, fl.Value.String()) })
}

// copyChunk is the size of copyFile's writes: what unzip writes a Lambda
// layer's file with (strace: 64 KiB writes), where Lambda's extraction is
// not known.
const copyChunk = 64 << 10

// copyFile copies src to dst, executable, in copyChunk writes, as a
// layer's binary is written when its zip is extracted. How the file was
// written shows in the RSS measured: a kernel with large page-cache folios
// (ext4 since Linux 6.16) keeps a file written in one write in folios of
// up to 2 MB and maps a whole folio on a page fault, so that almost all of
// the binary became resident (16.1 against 14.6 MiB for the layer's build
// after 2000 requests, 2026-12-04; docs/performance.md).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	// Plain Reader and Writer, so that io.CopyBuffer writes from buf
	// rather than let the kernel copy (os.File's ReadFrom,
	// copy_file_range).
	_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, copyChunk))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
