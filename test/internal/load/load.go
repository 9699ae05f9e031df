// Package load is an open-loop load generator with full latency records,
// shared by the benchmarks and the chaos suite. Open loop means requests
// are sent on a fixed schedule whatever the responses do, and each
// latency is measured from the request's scheduled time, so a stall is
// charged to every request it delays (no coordinated omission).
package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Result is one request's outcome.
type Result struct {
	// Scheduled is when the request was due, relative to the run's start.
	Scheduled time.Duration
	// Latency is from Scheduled to the end of the response body (or the
	// error).
	Latency time.Duration
	// Status is the HTTP status, 0 on a transport error.
	Status int
	// Err is the transport error, if any.
	Err error
}

// Run sends rate requests per second for d, calling do for each from its
// own goroutine, and returns every result in schedule order. do gets the
// request's index and returns status and error; Run measures time.
func Run(ctx context.Context, rate float64, d time.Duration, do func(ctx context.Context, i int) (int, error)) []Result {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	results := make([]Result, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		due := time.Duration(i) * interval
		if wait := due - time.Since(start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				results = results[:i]
				wg.Wait()
				return results
			}
		}
		wg.Add(1)
		go func(i int, due time.Duration) {
			defer wg.Done()
			status, err := do(ctx, i)
			results[i] = Result{Scheduled: due, Latency: time.Since(start) - due, Status: status, Err: err}
		}(i, due)
	}
	wg.Wait()
	return results
}

// HTTPGet returns a do function that GETs url with the given Host header
// through client, reading the whole body.
func HTTPGet(client *http.Client, url, host string) func(ctx context.Context, i int) (int, error) {
	return func(ctx context.Context, i int) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, err
	}
}

// Summary is the percentile table of a run.
type Summary struct {
	// Count is the number of requests.
	Count int
	// OK counts requests that succeeded (status < 500, no error) within
	// the success timeout given to Summarize.
	OK int
	// Percentiles maps "p50", "p90", "p95", "p99", "p99.9", "p99.99" and
	// "max" to latency.
	Percentiles map[string]time.Duration
	// Errors counts failures by reason.
	Errors map[string]int
}

// Pcts are the percentiles Summarize reports, in order.
var Pcts = []struct {
	Name string
	Q    float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99}, {"p99.9", 0.999}, {"p99.99", 0.9999}, {"max", 1}}

// Summarize computes percentiles over every request (failed ones
// included, at their latency) and counts successes: a request succeeds
// when it has no error, a status below 500, and a latency within
// okWithin (0: no limit).
func Summarize(rs []Result, okWithin time.Duration) Summary {
	s := Summary{Count: len(rs), Percentiles: map[string]time.Duration{}, Errors: map[string]int{}}
	lat := make([]time.Duration, len(rs))
	for i, r := range rs {
		lat[i] = r.Latency
		switch {
		case r.Err != nil:
			s.Errors[reason(r.Err)]++
		case r.Status >= 500 || r.Status == 0:
			s.Errors[fmt.Sprintf("status %d", r.Status)]++
		case okWithin > 0 && r.Latency > okWithin:
			s.Errors["slower than "+okWithin.String()]++
		default:
			s.OK++
		}
	}
	slices.Sort(lat)
	for _, p := range Pcts {
		s.Percentiles[p.Name] = Percentile(lat, p.Q)
	}
	return s
}

// Percentile returns the q-quantile of sorted (nearest rank).
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func reason(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
