package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/slinkerd/slinkerd/test/fakes/cloudmap"
	"github.com/slinkerd/slinkerd/test/internal/load"
)

var (
	flagFull      = flag.Bool("chaos.full", false, "run the full suite: -chaos.duration 60s -chaos.rate 500 unless set")
	flagDuration  = flag.Duration("chaos.duration", 0, "how long each fault lasts (default 3s, 60s with -chaos.full)")
	flagRate      = flag.Float64("chaos.rate", 0, "idempotent GETs per second; POSTs add a tenth (default 200, 500 with -chaos.full)")
	flagOut       = flag.String("chaos.out", "", "write the results as JSON to this file, and the table next to it (.txt)")
	flagScenarios = flag.String("chaos.run", "", "run only the scenarios matching this regular expression")
)

// The proxy's policy in every scenario: retry idempotent 5xx, per-attempt
// and total timeouts, and failure accrual that probes a dead endpoint
// again soon, so that recovery shows within a short run.
const (
	attemptTimeout = 500 * time.Millisecond
	totalTimeout   = 3 * time.Second
	// clientTimeout bounds every request of the load: an answer that has
	// not come by then is a lost request.
	clientTimeout = totalTimeout + 2*time.Second
	// latencyBound is the longest an answered request may take.
	latencyBound = totalTimeout + time.Second
)

func proxyEnv() map[string]string {
	return map[string]string{
		"SLINKERD_CLASSIFIER":           "retryableIdempotent5XX",
		"SLINKERD_TIMEOUT_ATTEMPT":      attemptTimeout.String(),
		"SLINKERD_TIMEOUT_TOTAL":        totalTimeout.String(),
		"SLINKERD_ACCRUAL_BACKOFF_MIN":  "500ms",
		"SLINKERD_ACCRUAL_BACKOFF_MAX":  "5s",
		"SLINKERD_DRAIN_TIMEOUT":        "10s",
		"SLINKERD_DISCOVERY_BACKGROUND": "true",
	}
}

// window is a span of the run, as offsets from the load's start.
type window struct{ from, to time.Duration }

func (w window) has(d time.Duration) bool { return d >= w.from && d <= w.to }

// run is one scenario's execution: the proxy it loads, the fault
// timeline, and the windows its faults open.
type run struct {
	t     *testing.T
	url   string // proxy base URL
	host  string // Host header (the service)
	rate  float64
	load  time.Duration // how long the load runs
	start time.Time     // the load's start

	mu sync.Mutex
	// noHealthy: no endpoint can answer; idempotent requests may fail.
	noHealthy []window
	// faulty: a fault is active; non-idempotent requests may fail, with
	// a clear error (idempotent ones must not).
	faulty []window
	// down: slinkerd itself is not listening; requests may be refused.
	down  []window
	notes []string
}

func (r *run) since() time.Duration { return time.Since(r.start) }

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf("%6s ", r.since().Round(10*time.Millisecond))+fmt.Sprintf(format, args...))
}

func (r *run) open(ws *[]window, from, to time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*ws = append(*ws, window{from, to})
}

// step runs fn at offset at from the load's start.
type step struct {
	at time.Duration
	fn func()
}

// timeline is a scenario's steps, in order. They run on the test's
// goroutine while the load runs on another.
type timeline []step

// request is what the load recorded of one request.
type request struct {
	method   string
	sent     time.Duration // offset of the send from the load's start
	took     time.Duration // from send to the end of the response body
	status   int
	l5dErr   string
	backend  string
	err      error
	answered bool
}

// scenario is one fault.
type scenario struct {
	name, desc string
	// setup starts the backends and the proxy and returns the proxy URL,
	// the Host, how long the load runs and the fault timeline.
	setup func(r *run, c config) (url, host string, load time.Duration, steps timeline)
}

// config is the suite's scale.
type config struct {
	fault time.Duration // how long a fault lasts
	rate  float64       // GETs per second
}

func suiteConfig() config {
	c := config{fault: 3 * time.Second, rate: 200}
	if *flagFull {
		c = config{fault: 60 * time.Second, rate: 500}
	}
	if *flagDuration > 0 {
		c.fault = *flagDuration
	}
	if *flagRate > 0 {
		c.rate = *flagRate
	}
	return c
}

// lead is the calm before and after a fault.
func (c config) lead() time.Duration { return max(time.Second, c.fault/10) }

// TestChaos runs every scenario and checks the targets; with -chaos.out
// it writes the results.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection under load")
	}
	c := suiteConfig()
	var filter *regexp.Regexp
	if *flagScenarios != "" {
		filter = regexp.MustCompile(*flagScenarios)
	}
	var results []result
	for _, sc := range scenarios() {
		if filter != nil && !filter.MatchString(sc.name) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			res := runScenario(t, sc, c)
			results = append(results, res)
			t.Logf("%s: %d sent, %d ok, %d failed, p99 %s; failures: %v", sc.name, res.Sent, res.OK, res.Failed, res.P99, res.Failures)
			for _, n := range res.Notes {
				t.Log("  " + n)
			}
		})
	}
	table := formatTable(results, c)
	t.Logf("results (discovery faults %s, other faults %s, %.0f GET/s + %.0f POST/s):\n%s", c.fault, c.backendFault(), c.rate, c.rate/10, table)
	if *flagOut != "" {
		writeResults(t, *flagOut, results, c, table)
	}
}

// runScenario sets the scenario up, runs the load and the fault timeline,
// and checks the results against the targets.
func runScenario(t *testing.T, sc scenario, c config) result {
	r := &run{t: t, rate: c.rate}
	url, host, loadFor, steps := sc.setup(r, c)
	r.url, r.host, r.load = url, host, loadFor

	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true, IdleConnTimeout: 90 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	warmUp(t, client, url, host)

	// Every eleventh request is a POST: GETs at rate, POSTs at rate/10.
	total := c.rate * 1.1
	n := int(total * loadFor.Seconds())
	reqs := make([]request, n)
	ctx, cancel := context.WithTimeout(context.Background(), loadFor+clientTimeout+30*time.Second)
	defer cancel()
	do := func(ctx context.Context, i int) (int, error) {
		rq := &reqs[i]
		rq.method = http.MethodGet
		var body io.Reader
		if i%11 == 10 {
			rq.method, body = http.MethodPost, strings.NewReader("chaos")
		}
		rctx, rcancel := context.WithTimeout(ctx, clientTimeout)
		defer rcancel()
		req, err := http.NewRequestWithContext(rctx, rq.method, url+"/", body)
		if err != nil {
			rq.err = err
			return 0, err
		}
		req.Host = host
		sent := time.Now()
		rq.sent = sent.Sub(r.start)
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			rq.status, rq.l5dErr, rq.backend, rq.answered = resp.StatusCode, resp.Header.Get("L5d-Err"), resp.Header.Get("X-Backend"), true
		}
		rq.took, rq.err = time.Since(sent), err
		return rq.status, err
	}

	r.start = time.Now()
	done := make(chan []load.Result, 1)
	go func() { done <- load.Run(ctx, total, loadFor, do) }()
	for _, s := range steps {
		if wait := s.at - r.since(); wait > 0 {
			tm := time.NewTimer(wait)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
			}
		}
		s.fn()
	}
	results := <-done
	return analyse(t, sc, r, reqs[:len(results)], results)
}

// warmUp waits until the service answers, so that the load starts on a
// proxy that has bound the name.
func warmUp(t *testing.T, c *http.Client, url, host string) {
	t.Helper()
	waitUntil(t, 20*time.Second, "the service answers through the proxy", func() bool {
		req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// result is one scenario's outcome, as reported.
type result struct {
	Scenario    string         `json:"scenario"`
	Description string         `json:"description"`
	Load        string         `json:"load"`
	Sent        int            `json:"sent"`
	OK          int            `json:"ok"`
	Failed      int            `json:"failed"`
	GETSent     int            `json:"get_sent"`
	GETFailed   int            `json:"get_failed"`
	POSTSent    int            `json:"post_sent"`
	POSTFailed  int            `json:"post_failed"`
	P50         string         `json:"p50"`
	P99         string         `json:"p99"`
	Max         string         `json:"max"`
	Failures    map[string]int `json:"failures"`
	// RefusedWhileDown counts requests refused while slinkerd was down
	// (expected, not lost).
	RefusedWhileDown int `json:"refused_while_down"`
	// Lost counts requests that got neither an answer nor a clear error.
	Lost       int      `json:"lost"`
	Violations []string `json:"violations,omitempty"`
	Notes      []string `json:"timeline"`
}

// digits normalises addresses and numbers in failure reasons.
var digits = regexp.MustCompile(`[0-9]+`)

// reason says why a request failed, in a form that groups.
func reason(rq request) string {
	switch {
	case rq.err != nil && !rq.answered:
		msg := rq.err.Error()
		switch {
		case errors.Is(rq.err, context.DeadlineExceeded):
			return "no answer within " + clientTimeout.String()
		case errors.Is(rq.err, syscall.ECONNREFUSED):
			return "connection refused"
		case errors.Is(rq.err, syscall.ECONNRESET):
			return "connection reset"
		case errors.Is(rq.err, io.EOF), strings.Contains(msg, "EOF"):
			return "connection closed (EOF)"
		case strings.Contains(msg, "server closed idle connection"):
			return "server closed idle connection"
		}
		return "transport: " + digits.ReplaceAllString(msg, "N")
	case rq.err != nil:
		return "body: " + digits.ReplaceAllString(rq.err.Error(), "N")
	case rq.l5dErr != "":
		// The message, and the innermost cause of a long chain.
		msg := rq.l5dErr
		if parts := strings.Split(msg, ": "); len(parts) > 2 {
			msg = parts[0] + ": … " + parts[len(parts)-1]
		}
		return fmt.Sprintf("%d l5d-err: %s", rq.status, digits.ReplaceAllString(msg, "N"))
	case rq.backend != "":
		return fmt.Sprintf("%d from the backend", rq.status)
	}
	return fmt.Sprintf("%d without l5d-err", rq.status)
}

func inAny(ws []window, d time.Duration) bool {
	for _, w := range ws {
		if w.has(d) {
			return true
		}
	}
	return false
}

// analyse counts, classifies and checks the targets.
func analyse(t *testing.T, sc scenario, r *run, reqs []request, results []load.Result) result {
	res := result{Scenario: sc.name, Description: sc.desc, Failures: map[string]int{},
		Load: fmt.Sprintf("%s at %.0f GET/s + %.0f POST/s", r.load, r.rate, r.rate/10)}
	r.mu.Lock()
	noHealthy, faulty, down := slices.Clone(r.noHealthy), slices.Clone(r.faulty), slices.Clone(r.down)
	res.Notes = slices.Clone(r.notes)
	r.mu.Unlock()
	violations := map[string]int{}
	lat := make([]time.Duration, len(results))
	for i, rq := range reqs {
		lat[i] = results[i].Latency
		get := rq.method == http.MethodGet
		if get {
			res.GETSent++
		} else {
			res.POSTSent++
		}
		if rq.answered && rq.took > latencyBound {
			violations[fmt.Sprintf("answered after more than %s", latencyBound)]++
		}
		if rq.err == nil && rq.status == 200 {
			res.OK++
			continue
		}
		res.Failed++
		if get {
			res.GETFailed++
		} else {
			res.POSTFailed++
		}
		why := reason(rq)
		clear := rq.answered && rq.err == nil && (rq.l5dErr != "" || rq.backend != "")
		switch {
		case !rq.answered && inAny(down, rq.sent) && !errors.Is(rq.err, context.DeadlineExceeded):
			res.RefusedWhileDown++
			why = "refused while down: " + why
		case !clear:
			res.Lost++
			violations["lost (no answer, or no clear error): "+why]++
		case inAny(noHealthy, rq.sent):
			// Expected: nothing could answer.
		case get:
			violations["an idempotent request failed while a healthy endpoint existed: "+why]++
		case !inAny(faulty, rq.sent):
			violations["a request failed outside any fault: "+why]++
		}
		res.Failures[rq.method+" "+why]++
	}
	slices.Sort(lat)
	res.P50 = load.Percentile(lat, 0.5).Round(100 * time.Microsecond).String()
	res.P99 = load.Percentile(lat, 0.99).Round(100 * time.Microsecond).String()
	res.Max = load.Percentile(lat, 1).Round(100 * time.Microsecond).String()
	for _, k := range slices.Sorted(maps.Keys(violations)) {
		v := fmt.Sprintf("%d × %s", violations[k], k)
		res.Violations = append(res.Violations, v)
		t.Errorf("%s: %s", sc.name, v)
	}
	if res.Sent = len(reqs); res.Sent == 0 {
		t.Errorf("%s: no request was sent", sc.name)
	}
	return res
}

// scenarios lists the faults.
func scenarios() []scenario {
	return []scenario{
		{name: "backend-sigkill", desc: "one of three backends (its own OS process) is killed with SIGKILL, then started again", setup: setupSIGKILL},
		{name: "backend-hang", desc: "one of three backends stops answering (holds every request); round-robin balancer", setup: setupHang},
		{name: "backend-503-bursts", desc: "two of three backends answer 503 in alternating bursts", setup: setup503},
		{name: "all-endpoints-down", desc: "both endpoints of the service stop (connections refused), then come back", setup: setupAllDown},
		{name: "discovery-down", desc: "Cloud Map closes every connection; endpoints stay healthy", setup: setupCloudMap(cloudmap.Down)},
		{name: "discovery-throttled", desc: "Cloud Map answers every call with RequestLimitExceeded", setup: setupCloudMap(cloudmap.Throttle)},
		{name: "discovery-empty", desc: "Cloud Map answers with an empty set (every instance deregistered), within SLINKERD_DISCOVERY_EMPTY_GRACE", setup: setupCloudMapEmpty},
		{name: "discovery-fs-malformed", desc: "the io.l5d.fs file becomes malformed (the namer keeps its last good set)", setup: setupFSMalformed},
		{name: "slinkerd-sigterm-restart", desc: "slinkerd is sent SIGTERM under load (drains), then started again on the same port", setup: setupSIGTERM},
	}
}

// fsProxy starts slinkerd routing /svc/web to the io.l5d.fs file "web"
// listing ports.
func fsProxy(r *run, ports ...int) (dir string, p *proc) {
	return fsProxyWith(r, nil, ports...)
}

func fsProxyWith(r *run, extra map[string]string, ports ...int) (dir string, p *proc) {
	dir = r.t.TempDir()
	fsFile(r.t, dir, "web", fsLines(ports...))
	env := proxyEnv()
	env["SLINKERD_FS_DIR"] = dir
	env["SLINKERD_DTAB"] = "/svc=>/#/io.l5d.fs"
	maps.Copy(env, extra)
	return dir, startSlinkerd(r.t, env)
}

// backendFault is how long a backend or proxy fault lasts: as long as a
// discovery fault, up to 20s (long enough for accrual to mark, probe and
// revive endpoints several times over).
func (c config) backendFault() time.Duration { return min(c.fault, 20*time.Second) }

// backendTimes places a backend fault in the middle of the load.
func backendTimes(c config) (load, from, to time.Duration) {
	f := c.backendFault()
	lead := max(time.Second, f/10)
	return lead + f + lead, lead, lead + f
}

// discoveryTimes places a discovery fault in the middle of the load.
func discoveryTimes(c config) (load, from, to time.Duration) {
	return c.lead() + c.fault + c.lead(), c.lead(), c.lead() + c.fault
}

func setupSIGKILL(r *run, c config) (string, string, time.Duration, timeline) {
	killed := startProcBackend(r.t, "proc", "127.0.0.1:0")
	b, cc := startBackend(r.t, "b"), startBackend(r.t, "c")
	_, p := fsProxy(r, killed.port, b.port, cc.port)
	loadFor, from, to := backendTimes(c)
	return "http://" + p.ProxyAddr, "web", loadFor, timeline{
		{from, func() {
			// Requests in flight to it, or sent on a pooled connection to
			// it, may fail if they are not idempotent.
			r.open(&r.faulty, r.since()-50*time.Millisecond, r.since()+2*time.Second)
			killed.kill()
			r.note("SIGKILL backend process %s (%s)", killed.name, killed.addr)
		}},
		{to, func() {
			again := startProcBackend(r.t, "proc", killed.addr)
			r.note("backend process started again on %s", again.addr)
		}},
	}
}

func setupHang(r *run, c config) (string, string, time.Duration, timeline) {
	a, b, cc := startBackend(r.t, "a"), startBackend(r.t, "b"), startBackend(r.t, "c")
	// Round robin, so that the hung endpoint keeps getting requests until
	// failure accrual marks it dead, and then its probes; peak EWMA would
	// stop sending to it after the first slow answer.
	_, p := fsProxyWith(r, map[string]string{"SLINKERD_BALANCER": "roundrobin"}, a.port, b.port, cc.port)
	loadFor, from, to := backendTimes(c)
	var before int64
	return "http://" + p.ProxyAddr, "web", loadFor, timeline{
		{from, func() {
			r.open(&r.faulty, r.since()-50*time.Millisecond, to+totalTimeout) // requests in flight included
			a.mode.Store(modeHang)
			before = a.hits.Load()
			r.note("backend a hangs")
		}},
		{to, func() {
			a.mode.Store(modeOK)
			r.note("backend a answers again; it held %d requests (per-attempt timeout %s) while b and c got %d", a.hits.Load()-before, attemptTimeout, b.hits.Load()+cc.hits.Load())
		}},
	}
}

func setup503(r *run, c config) (string, string, time.Duration, timeline) {
	a, b, cc := startBackend(r.t, "a"), startBackend(r.t, "b"), startBackend(r.t, "c")
	_, p := fsProxy(r, a.port, b.port, cc.port)
	loadFor, from, to := backendTimes(c)
	// The window opens a little before the first burst: a request sent
	// just before it may still be in flight when the backend turns to 503.
	steps := timeline{{from, func() { r.open(&r.faulty, r.since()-50*time.Millisecond, to+time.Second) }}}
	// Four bursts, a and b in turn; c is always healthy.
	burst := c.backendFault() / 4
	for i := range 4 {
		be := []*backend{a, b}[i%2]
		start := from + time.Duration(i)*burst
		steps = append(steps,
			step{start, func() { be.mode.Store(mode503); r.note("backend %s: 503 burst", be.name) }},
			step{start + burst*3/4, func() {
				be.mode.Store(modeOK)
				r.note("backend %s: healthy (requests so far: a %d, b %d, c %d)", be.name, a.hits.Load(), b.hits.Load(), cc.hits.Load())
			}},
		)
	}
	slices.SortStableFunc(steps, func(x, y step) int { return int(x.at - y.at) })
	return "http://" + p.ProxyAddr, "web", loadFor, steps
}

func setupAllDown(r *run, c config) (string, string, time.Duration, timeline) {
	a, b := startBackend(r.t, "a"), startBackend(r.t, "b")
	_, p := fsProxy(r, a.port, b.port)
	loadFor, from, to := backendTimes(c)
	var downAt time.Duration
	return "http://" + p.ProxyAddr, "web", loadFor, timeline{
		{from, func() {
			downAt = r.since()
			a.stop()
			b.stop()
			r.note("backends a and b stopped")
		}},
		{to, func() {
			if err := a.start(); err != nil {
				r.t.Error(err)
			}
			if err := b.start(); err != nil {
				r.t.Error(err)
			}
			up := r.since()
			r.note("backends a and b listening again")
			// From just before the stop (requests in flight then) until
			// just after they are back.
			r.open(&r.noHealthy, downAt-50*time.Millisecond, up+500*time.Millisecond)
		}},
	}
}

func setupFSMalformed(r *run, c config) (string, string, time.Duration, timeline) {
	a, b, cc := startBackend(r.t, "a"), startBackend(r.t, "b"), startBackend(r.t, "c")
	dir, p := fsProxy(r, a.port, b.port, cc.port)
	loadFor, from, to := discoveryTimes(c)
	return "http://" + p.ProxyAddr, "web", loadFor, timeline{
		{from, func() {
			fsFile(r.t, dir, "web", "this is not an address list\n")
			r.note("io.l5d.fs file web made malformed")
		}},
		{to, func() {
			fsFile(r.t, dir, "web", fsLines(a.port, b.port, cc.port))
			r.note("io.l5d.fs file web restored")
		}},
	}
}

// cloudMapProxy starts a Cloud Map fake with three healthy instances and
// slinkerd routing /svc/users to them through io.l5d.cloudmap.
func cloudMapProxy(r *run, c config, bs ...*backend) (*cloudmap.Server, *proc) {
	cm, err := cloudmap.Start("127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cm.Close() })
	for _, b := range bs {
		if err := cm.RegisterIP("demo", "users", b.name, b.addr(), nil); err != nil {
			r.t.Fatal(err)
		}
	}
	env := proxyEnv()
	for k, v := range cloudmap.SDKEnv(cm.URL()) {
		env[k] = v
	}
	env["SLINKERD_DTAB"] = "/svc=>/#/io.l5d.cloudmap/demo"
	env["SLINKERD_DISCOVERY_TTL"] = "1s"
	env["SLINKERD_CLOUDMAP_FULL_REFRESH"] = "2s"
	// An empty answer replaces a non-empty set only after the grace; the
	// empty-set fault lasts half of it.
	env["SLINKERD_DISCOVERY_EMPTY_GRACE"] = (2 * c.fault).String()
	return cm, startSlinkerd(r.t, env)
}

func setupCloudMap(mode cloudmap.Mode) func(r *run, c config) (string, string, time.Duration, timeline) {
	return func(r *run, c config) (string, string, time.Duration, timeline) {
		a, b, cc := startBackend(r.t, "a"), startBackend(r.t, "b"), startBackend(r.t, "c")
		cm, p := cloudMapProxy(r, c, a, b, cc)
		loadFor, from, to := discoveryTimes(c)
		var calls int64
		return "http://" + p.ProxyAddr, "users", loadFor, timeline{
			{from, func() {
				calls = cm.TotalCalls()
				cm.SetMode(mode)
				r.note("Cloud Map fake: mode %d (%s)", mode, map[cloudmap.Mode]string{cloudmap.Down: "down", cloudmap.Throttle: "throttling"}[mode])
			}},
			{to, func() {
				cm.SetMode(cloudmap.Normal)
				r.note("Cloud Map fake answers again; %d calls failed during the fault", cm.TotalCalls()-calls)
				if cm.TotalCalls() == calls {
					r.t.Errorf("slinkerd made no discovery call during the fault: the fault was not exercised")
				}
			}},
		}
	}
}

func setupCloudMapEmpty(r *run, c config) (string, string, time.Duration, timeline) {
	a, b, cc := startBackend(r.t, "a"), startBackend(r.t, "b"), startBackend(r.t, "c")
	cm, p := cloudMapProxy(r, c, a, b, cc)
	loadFor, from, to := discoveryTimes(c)
	var calls int64
	return "http://" + p.ProxyAddr, "users", loadFor, timeline{
		{from, func() {
			calls = cm.TotalCalls()
			for _, be := range []*backend{a, b, cc} {
				cm.Deregister("demo", "users", be.name)
			}
			r.note("every instance deregistered: Cloud Map answers with an empty set")
		}},
		{to, func() {
			for _, be := range []*backend{a, b, cc} {
				if err := cm.RegisterIP("demo", "users", be.name, be.addr(), nil); err != nil {
					r.t.Error(err)
				}
			}
			r.note("instances registered again; %d discovery calls during the fault", cm.TotalCalls()-calls)
		}},
	}
}

func setupSIGTERM(r *run, c config) (string, string, time.Duration, timeline) {
	a, b := startBackend(r.t, "a"), startBackend(r.t, "b")
	port := freePort(r.t)
	dir := r.t.TempDir()
	fsFile(r.t, dir, "web", fsLines(a.port, b.port))
	env := proxyEnv()
	env["SLINKERD_FS_DIR"] = dir
	env["SLINKERD_DTAB"] = "/svc=>/#/io.l5d.fs"
	env["SLINKERD_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", port)
	p := startSlinkerd(r.t, env)
	addr := p.ProxyAddr
	loadFor, from, _ := backendTimes(c)
	const inflight = 5
	slow := make(chan error, inflight)
	return "http://" + addr, "web", loadFor, timeline{
		{from, func() {
			// Requests in flight when the drain starts must complete.
			for range inflight {
				go func() {
					req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/slow", nil)
					req.Host = "web"
					resp, err := http.DefaultClient.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						if resp.StatusCode != 200 {
							err = fmt.Errorf("status %d (l5d-err %q)", resp.StatusCode, resp.Header.Get("L5d-Err"))
						}
					}
					slow <- err
				}()
			}
			for range inflight {
				select {
				case <-a.slowSeen:
				case <-b.slowSeen:
				}
			}
			termAt := r.since()
			_ = p.Signal(syscall.SIGTERM)
			r.note("SIGTERM to slinkerd with %d slow requests in flight", inflight)
			// The listener closes at once: new connections are refused.
			waitUntil(r.t, 5*time.Second, "the proxy port refuses connections", func() bool {
				conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
				if err == nil {
					_ = conn.Close()
				}
				return err != nil
			})
			r.note("proxy port refuses connections")
			close(a.release)
			close(b.release)
			for range inflight {
				if err := <-slow; err != nil {
					r.t.Errorf("a request in flight at SIGTERM failed: %v", err)
				}
			}
			r.note("the %d in-flight requests completed", inflight)
			select {
			case <-p.Exited():
			case <-time.After(15 * time.Second):
				r.t.Errorf("slinkerd did not exit within 15s of SIGTERM")
			}
			r.note("slinkerd exited (code %d)", p.ExitCode())
			if code := p.ExitCode(); code != 0 {
				r.t.Errorf("slinkerd exited with %d after SIGTERM", code)
			}
			startSlinkerd(r.t, env)
			up := r.since()
			r.note("slinkerd restarted and ready on %s", addr)
			r.open(&r.down, termAt-50*time.Millisecond, up+200*time.Millisecond)
		}},
	}
}

// formatTable renders the results as a text table.
func formatTable(rs []result, c config) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tsent\tok\tfailed\tp99\tGET failed\tPOST failed\trefused while down\tlost\tfailures")
	for _, r := range rs {
		var fs []string
		for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
			fs = append(fs, fmt.Sprintf("%d × %s", r.Failures[k], k))
		}
		if len(fs) == 0 {
			fs = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d/%d\t%d/%d\t%d\t%d\t%s\n", r.Scenario, r.Sent, r.OK, r.Failed, r.P99,
			r.GETFailed, r.GETSent, r.POSTFailed, r.POSTSent, r.RefusedWhileDown, r.Lost, strings.Join(fs, "; "))
	}
	_ = tw.Flush()
	return b.String()
}

// writeResults writes the JSON results to path and the table beside it.
func writeResults(t *testing.T, path string, rs []result, c config, table string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	out := struct {
		Fault          string   `json:"discovery_fault_duration"`
		BackendFault   string   `json:"other_fault_duration"`
		GETRate        float64  `json:"get_rate"`
		POSTRate       float64  `json:"post_rate"`
		AttemptTimeout string   `json:"attempt_timeout"`
		TotalTimeout   string   `json:"total_timeout"`
		Classifier     string   `json:"classifier"`
		Results        []result `json:"results"`
	}{c.fault.String(), c.backendFault().String(), c.rate, c.rate / 10, attemptTimeout.String(), totalTimeout.String(), "retryableIdempotent5XX", rs}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	txt := strings.TrimSuffix(path, filepath.Ext(path)) + ".txt"
	head := fmt.Sprintf("slinkerd chaos: discovery faults %s, other faults %s, under %.0f GET/s + %.0f POST/s (classifier retryableIdempotent5XX, attempt timeout %s, total timeout %s)\n\n",
		c.fault, c.backendFault(), c.rate, c.rate/10, attemptTimeout, totalTimeout)
	if err := os.WriteFile(txt, []byte(head+table), 0o644); err != nil {
		t.Fatal(err)
	}
}
