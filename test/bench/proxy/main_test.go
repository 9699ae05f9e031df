package main

import (
	"os"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want satResult
	}{
		{
			name: "clean",
			out: `Running 1s test @ http://127.0.0.1:42061/
  2 threads and 64 connections
  12222 requests in 1.02s, 1.63MB read
Requests/sec:  12031.46
`,
			want: satResult{Requests: 12222, OK: 12222, Seconds: 1.02},
		},
		{
			name: "errors",
			out: `  1000 requests in 1.00m, 1.63MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 10
Requests/sec:  16.66
`,
			want: satResult{Requests: 1006, OK: 990, Seconds: 60},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("no error for output without a summary")
	}
}

func TestParseH2load(t *testing.T) {
	out := `finished in 1.05s, 12592.00 req/s, 738.94KB/s
requests: 12592 total, 12656 started, 12592 done, 12590 succeeded, 2 failed, 0 errored, 0 timeout
status codes: 12608 2xx, 0 3xx, 0 4xx, 2 5xx
`
	got, err := parseH2load(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (satResult{Requests: 12592, OK: 12590, Seconds: 1.05}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseH2load("requests: 1 total"); err == nil {
		t.Error("no error for output without a summary")
	}
}

func TestParseToolDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"8.00s": 8 * time.Second, "812.5ms": 812500 * time.Microsecond, "1.50m": 90 * time.Second} {
		got, err := parseToolDuration(in)
		if err != nil || got != want {
			t.Errorf("parseToolDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "none", in: nil, want: 0},
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestSummarizeAddedLatencyAndRatios(t *testing.T) {
	b := &bench{rates: []float64{1000}}
	r := &Result{Setups: []string{"direct", "slinkerd", "haproxy"}, Startup: map[string][]float64{}, BinaryBytes: map[string]int64{}}
	mk := func(rps, p99 float64) *SetupRound {
		return &SetupRound{
			Sat:     map[string]*SatMeasure{protoH1: {RPS: rps}},
			Latency: map[string]*LatMeasure{"1000": {Micros: map[string]float64{"p50": 100, "p99": p99, "p99.9": p99}}},
		}
	}
	// Direct's latency moves between rounds; added latency is taken per
	// round, so slinkerd adds 50µs and HAProxy 25µs in every round.
	r.Rounds = []*RoundResult{
		{Setups: map[string]*SetupRound{"direct": mk(1000, 200), "slinkerd": mk(500, 250), "haproxy": mk(800, 225)}},
		{Setups: map[string]*SetupRound{"direct": mk(1000, 400), "slinkerd": mk(600, 450), "haproxy": mk(800, 425)}},
		{Setups: map[string]*SetupRound{"direct": mk(1000, 300), "slinkerd": mk(700, 350), "haproxy": mk(800, 325)}},
	}
	r.summarize(b)
	if c := r.Summary["latency_1000_p99"]["slinkerd"]; c.Value != 50 || c.VsHAProxy == nil || *c.VsHAProxy != 2 {
		t.Errorf("added p99: got %+v", c)
	}
	if c := r.Summary["latency_1000_p99"]["direct"]; c.Value != 300 {
		t.Errorf("direct p99: got %v, want its own median 300", c.Value)
	}
	c := r.Summary["rps_h1"]["slinkerd"]
	if c.Value != 600 || *c.VsDirect != 0.6 || *c.VsHAProxy != 0.75 {
		t.Errorf("rps: got %+v", c)
	}
}

func TestProcTreeCPUAndMemory(t *testing.T) {
	pid := os.Getpid()
	if tr := tree(pid); len(tr) == 0 || tr[0] != pid {
		t.Fatalf("tree(%d) = %v", pid, tr)
	}
	if rss, _ := memory(pid); rss == 0 {
		t.Error("no RSS for this process")
	}
	if cpu := cpuSeconds(pid); cpu < 0 {
		t.Errorf("cpuSeconds = %v", cpu)
	}
}
