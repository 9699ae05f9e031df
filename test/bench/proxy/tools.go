package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/load"
)

// satResult is one saturation run of a load tool.
type satResult struct {
	// Requests is how many requests completed in the measured window.
	Requests int64 `json:"requests"`
	// OK is how many of them succeeded (2xx, no socket error).
	OK int64 `json:"ok"`
	// Seconds is the measured window.
	Seconds float64 `json:"seconds"`
}

// rps is the rate of successful requests.
func (r satResult) rps() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.OK) / r.Seconds
}

var (
	wrkTotal  = regexp.MustCompile(`(\d+) requests in ([0-9.]+[a-z]+),`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)

	h2Finished = regexp.MustCompile(`finished in ([0-9.]+[a-z]+),`)
	h2Requests = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`status codes: (\d+) 2xx`)
)

// parseWrk reads wrk's summary. A socket error counts as a failed
// request (wrk counts only completed responses in its total).
func parseWrk(out string) (satResult, error) {
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return satResult{}, fmt.Errorf("wrk: no summary in output:\n%s", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	d, err := parseToolDuration(m[2])
	if err != nil {
		return satResult{}, fmt.Errorf("wrk: %w", err)
	}
	r := satResult{Requests: n, OK: n, Seconds: d.Seconds()}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		bad, _ := strconv.ParseInt(m[1], 10, 64)
		r.OK -= bad
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			bad, _ := strconv.ParseInt(s, 10, 64)
			r.Requests += bad
		}
	}
	return r, nil
}

// parseH2load reads h2load's summary: succeeded requests that got a 2xx.
func parseH2load(out string) (satResult, error) {
	m := h2Finished.FindStringSubmatch(out)
	rq := h2Requests.FindStringSubmatch(out)
	if m == nil || rq == nil {
		return satResult{}, fmt.Errorf("h2load: no summary in output:\n%s", out)
	}
	d, err := parseToolDuration(m[1])
	if err != nil {
		return satResult{}, fmt.Errorf("h2load: %w", err)
	}
	total, _ := strconv.ParseInt(rq[1], 10, 64)
	ok, _ := strconv.ParseInt(rq[3], 10, 64)
	if s := h2Status.FindStringSubmatch(out); s != nil {
		n2xx, _ := strconv.ParseInt(s[1], 10, 64)
		ok = min(ok, n2xx)
	}
	return satResult{Requests: total, OK: ok, Seconds: d.Seconds()}, nil
}

// parseToolDuration reads "8.00s", "812.34ms" or "1.00m".
func parseToolDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "m") && !strings.HasSuffix(s, "ms") {
		s += "0s" // Go wants "1.00m0s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}

// wrkArgs is a keep-alive HTTP/1.1 saturation run.
func wrkArgs(addr string, conns, threads int, d time.Duration) []string {
	return []string{"wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", secs(d), "--timeout", "5s",
		"-H", "Host: " + hostHTTP, "http://" + addr + "/"}
}

// h2loadArgs is an h2c (prior knowledge) saturation run; with grpcBody
// set it is gRPC unary calls of grpc.health.v1.Health/Check.
func h2loadArgs(addr string, conns, streams, threads int, d time.Duration, grpcBody string) []string {
	args := []string{"h2load", "-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams), "-t", strconv.Itoa(threads),
		"-D", secs(d)}
	if grpcBody == "" {
		return append(args, "-H", ":authority: "+hostHTTP, "http://"+addr+"/")
	}
	return append(args, "-d", grpcBody, "-H", ":authority: "+hostGRPC, "-H", "content-type: application/grpc", "-H", "te: trailers",
		"http://"+addr+"/grpc.health.v1.Health/Check")
}

// secs formats d as whole seconds (at least 1), what wrk and h2load take.
func secs(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
}

// openLoopResult is what the -role openloop process prints.
type openLoopResult struct {
	// Sent counts every request, warm-up included (for CPU per request).
	Sent int `json:"sent"`
	// Count, OK and Errors describe the measured window.
	Count  int            `json:"count"`
	OK     int            `json:"ok"`
	Errors map[string]int `json:"errors,omitempty"`
	// Micros maps p50, p90, p99, p99.9, p99.99 and max to microseconds.
	Micros map[string]float64 `json:"micros"`
}

// runOpenLoop is the -role openloop process: it sends -rate requests per
// second to -url on a fixed schedule (test/internal/load), first for
// -warmup unrecorded, then for -duration, and prints one JSON
// openLoopResult. A request counts as failed after 1 s, and is given up
// after 3 s (its latency is then recorded as about 3 s).
func runOpenLoop(args []string) error {
	fs := flag.NewFlagSet("openloop", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET")
	host := fs.String("host", hostHTTP, "Host header")
	rate := fs.Float64("rate", 1000, "requests per second")
	d := fs.Duration("duration", 10*time.Second, "measured duration")
	warm := fs.Duration("warmup", time.Second, "unrecorded warm-up at the same rate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	// Past 1s a request counts as failed anyway; the timeout only bounds
	// how long an overloaded run lasts.
	client := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	defer tr.CloseIdleConnections()
	do := load.HTTPGet(client, *url, *host)
	ctx := context.Background()
	sent := 0
	if *warm > 0 {
		sent += len(load.Run(ctx, *rate, *warm, do))
	}
	rs := load.Run(ctx, *rate, *d, do)
	sent += len(rs)
	sum := load.Summarize(rs, time.Second)
	res := openLoopResult{Sent: sent, Count: sum.Count, OK: sum.OK, Errors: sum.Errors, Micros: map[string]float64{}}
	for k, v := range sum.Percentiles {
		res.Micros[k] = float64(v.Nanoseconds()) / 1e3
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
