package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the JSON result file: the raw figures of every round, the
// medians the table shows, and what was skipped and why.
type Result struct {
	Meta Meta `json:"meta"`
	// Setups lists the setups in table order.
	Setups []string `json:"setups"`
	// Skipped maps a setup or tool to why it did not run.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Notes are per-setup warnings: failed requests, unsupported
	// protocols, a proxy that answered by itself.
	Notes map[string][]string `json:"notes,omitempty"`
	// Startup maps a setup to its cold start-up times in ms.
	Startup map[string][]float64 `json:"startup_ms"`
	// AfterRequestsRSS maps a setup to its RSS in bytes after each
	// start-up's warmRequests requests.
	AfterRequestsRSS map[string][]float64 `json:"rss_after_requests_bytes"`
	// BinaryBytes maps a setup to the size of its main binary.
	BinaryBytes map[string]int64 `json:"binary_bytes"`
	// Versions maps a setup to its binary's version line.
	Versions map[string]string `json:"versions"`
	Rounds   []*RoundResult    `json:"rounds"`
	// Summary maps a metric key to each setup's median and ratios.
	Summary map[string]map[string]*Cell `json:"summary"`
}

// Meta describes the run and the machine.
type Meta struct {
	Started    time.Time         `json:"started"`
	Elapsed    string            `json:"elapsed"`
	Commit     string            `json:"commit,omitempty"`
	Dirty      bool              `json:"dirty,omitempty"` // the work tree had uncommitted changes
	GoVersion  string            `json:"go_version"`
	Kernel     string            `json:"kernel"`
	CPUs       int               `json:"cpus"`
	LoadAvg    float64           `json:"load_avg_start"`
	LoadAvgEnd float64           `json:"load_avg_end"`
	Flags      map[string]string `json:"flags"`
}

// RoundResult is one round's figures per setup.
type RoundResult struct {
	Round  int                    `json:"round"`
	Setups map[string]*SetupRound `json:"setups"`
}

// SetupRound is one setup's figures in one round.
type SetupRound struct {
	// IdleRSS and IdlePSS are bytes after start-up and one request of
	// each protocol; LoadRSS and LoadPSS are the peaks during the
	// HTTP/1.1 saturation run (a fixed, comparable load; each run's own
	// peak is in its measure). All are summed over the proxy's processes;
	// zero for direct.
	IdleRSS uint64 `json:"idle_rss"`
	IdlePSS uint64 `json:"idle_pss"`
	LoadRSS uint64 `json:"load_rss"`
	LoadPSS uint64 `json:"load_pss"`
	// Sat maps h1, h2c and grpc to the saturation run.
	Sat map[string]*SatMeasure `json:"saturation"`
	// Latency maps the rate ("1000") to the open-loop run.
	Latency map[string]*LatMeasure `json:"latency"`
}

// SatMeasure is one saturation run.
type SatMeasure struct {
	Requests      int64   `json:"requests"`
	OK            int64   `json:"ok"`
	Seconds       float64 `json:"seconds"`
	RPS           float64 `json:"rps"`
	BackendServed int64   `json:"backend_served"`
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	CPUPer100k    float64 `json:"cpu_seconds_per_100k,omitempty"`
	PeakRSS       uint64  `json:"peak_rss,omitempty"`
	PeakPSS       uint64  `json:"peak_pss,omitempty"`
}

// LatMeasure is one fixed-rate open-loop run.
type LatMeasure struct {
	Count      int                `json:"count"`
	OK         int                `json:"ok"`
	Errors     map[string]int     `json:"errors,omitempty"`
	Micros     map[string]float64 `json:"micros"`
	CPUSeconds float64            `json:"cpu_seconds,omitempty"`
	CPUPer100k float64            `json:"cpu_seconds_per_100k,omitempty"`
	PeakRSS    uint64             `json:"peak_rss,omitempty"`
	PeakPSS    uint64             `json:"peak_pss,omitempty"`
}

// Cell is one setup's value of one metric.
type Cell struct {
	// Value is the median over rounds (for added latency: the median of
	// each round's difference to direct; for direct itself, its own
	// latency).
	Value float64 `json:"value"`
	// VsDirect and VsHAProxy are Value's ratios, when they make sense.
	VsDirect  *float64 `json:"vs_direct,omitempty"`
	VsHAProxy *float64 `json:"vs_haproxy,omitempty"`
	// Overloaded marks a latency figure from a run in which over 1% of
	// requests failed or took more than 1s: the setup could not sustain
	// the rate, and the figure measures its queue.
	Overloaded bool `json:"overloaded,omitempty"`
}

func newResult(b *bench) *Result {
	r := &Result{
		Skipped:          map[string]string{},
		Notes:            map[string][]string{},
		Startup:          map[string][]float64{},
		AfterRequestsRSS: map[string][]float64{},
		BinaryBytes:      map[string]int64{},
		Versions:         map[string]string{},
	}
	r.Meta = Meta{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: numCPU(), LoadAvg: loadAvg(), Flags: map[string]string{}}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Meta.Kernel = strings.TrimSpace(string(k))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.Meta.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			r.Meta.Dirty = len(strings.TrimSpace(string(st))) > 0
		}
	}
	flagVisitAll(func(name, value string) {
		if name != "role" {
			r.Meta.Flags[name] = value
		}
	})
	for _, s := range b.setups {
		r.Setups = append(r.Setups, s.name)
		if s.missing != "" {
			r.Skipped[s.name] = s.missing
			continue
		}
		if s.binary != "" {
			if fi, err := os.Stat(s.binary); err == nil {
				r.BinaryBytes[s.name] = fi.Size()
			}
			r.Versions[s.name] = version(context.Background(), s)
		}
	}
	for tool, why := range b.tools {
		r.Skipped[tool] = why
	}
	return r
}

// note records a warning for setup and prints it.
func (r *Result) note(setup, msg string) {
	r.Notes[setup] = append(r.Notes[setup], msg)
	fmt.Fprintf(os.Stderr, "  note: %s: %s\n", setup, firstLine(msg))
}

// metric is one row of the table.
type metric struct {
	key   string
	label string
	unit  string // "rps", "us", "ms", "MiB", "s"
	// added: the row shows the difference to direct in the same round
	// (direct's own column shows its absolute value).
	added bool
	// get returns the setup's figure in a round.
	get func(sr *SetupRound) (float64, bool)
	// fixed returns a figure that does not vary by round (start-up,
	// binary size), or nil.
	fixed func(r *Result, setup string) (float64, bool)
	// overloaded, if set, tells whether a round's run could not sustain
	// its load.
	overloaded func(sr *SetupRound) bool
}

func (b *bench) metrics() []metric {
	var ms []metric
	labels := map[string]string{
		protoH1:   fmt.Sprintf("HTTP/1.1 req/s, %d conns", *conns),
		protoH2C:  fmt.Sprintf("h2c req/s, %d×%d streams", *h2Conns, *h2Streams),
		protoGRPC: fmt.Sprintf("gRPC unary req/s, %d×%d", *h2Conns, *h2Streams),
	}
	for _, proto := range []string{protoH1, protoH2C, protoGRPC} {
		ms = append(ms, metric{key: "rps_" + proto, label: labels[proto], unit: "rps", get: func(sr *SetupRound) (float64, bool) {
			m := sr.Sat[proto]
			return ratioOK(m != nil, func() float64 { return m.RPS })
		}})
	}
	for _, rate := range b.rates {
		key := strconv.FormatFloat(rate, 'f', -1, 64)
		for _, p := range []string{"p50", "p99", "p99.9"} {
			ms = append(ms, metric{key: "latency_" + key + "_" + p, label: fmt.Sprintf("%s added @%s req/s", p, key), unit: "us", added: true,
				get: func(sr *SetupRound) (float64, bool) {
					m := sr.Latency[key]
					return ratioOK(m != nil, func() float64 { return m.Micros[p] })
				},
				overloaded: func(sr *SetupRound) bool {
					m := sr.Latency[key]
					return m != nil && m.Count > 0 && float64(m.Count-m.OK) > 0.01*float64(m.Count)
				}})
		}
	}
	ms = append(ms, metric{key: "cpu_per_100k_h1", label: "CPU s/100k req, h1 saturated", unit: "s", get: func(sr *SetupRound) (float64, bool) {
		m := sr.Sat[protoH1]
		return ratioOK(m != nil && m.CPUPer100k > 0, func() float64 { return m.CPUPer100k })
	}})
	for _, rate := range b.rates {
		key := strconv.FormatFloat(rate, 'f', -1, 64)
		ms = append(ms, metric{key: "cpu_per_100k_" + key, label: fmt.Sprintf("CPU s/100k req @%s req/s", key), unit: "s", get: func(sr *SetupRound) (float64, bool) {
			m := sr.Latency[key]
			return ratioOK(m != nil && m.CPUPer100k > 0, func() float64 { return m.CPUPer100k })
		}})
	}
	ms = append(ms,
		metric{key: "rss_idle", label: "RSS idle", unit: "MiB", get: func(sr *SetupRound) (float64, bool) {
			return float64(sr.IdleRSS) / (1 << 20), sr.IdleRSS > 0
		}},
		metric{key: "rss_load", label: fmt.Sprintf("RSS under load (h1, %d conns)", *conns), unit: "MiB", get: func(sr *SetupRound) (float64, bool) {
			return float64(sr.LoadRSS) / (1 << 20), sr.LoadRSS > 0
		}},
		metric{key: "startup", label: "start-up to 1st proxied req", unit: "ms", fixed: func(r *Result, s string) (float64, bool) {
			v := r.Startup[s]
			return median(v), len(v) > 0
		}},
		metric{key: "rss_after", label: fmt.Sprintf("RSS after %d requests (%d conns)", warmRequests, warmConns), unit: "MiB", fixed: func(r *Result, s string) (float64, bool) {
			v := r.AfterRequestsRSS[s]
			return median(v) / (1 << 20), len(v) > 0
		}},
		metric{key: "binary", label: "binary size", unit: "MiB", fixed: func(r *Result, s string) (float64, bool) {
			v, ok := r.BinaryBytes[s]
			return float64(v) / (1 << 20), ok
		}},
	)
	return ms
}

func ratioOK(ok bool, f func() float64) (float64, bool) {
	if !ok {
		return 0, false
	}
	return f(), true
}

// summarize computes the medians and ratios.
func (r *Result) summarize(b *bench) {
	r.Summary = map[string]map[string]*Cell{}
	for _, m := range b.metrics() {
		row := map[string]*Cell{}
		for _, s := range r.Setups {
			if c := r.cell(m, s); c != nil {
				row[s] = c
			}
		}
		for s, c := range row {
			if s == "direct" {
				continue
			}
			if d := row["direct"]; d != nil && !m.added && d.Value > 0 {
				c.VsDirect = ptr(c.Value / d.Value)
			}
			if h := row["haproxy"]; h != nil && s != "haproxy" && h.Value > 0 && (!m.added || c.Value >= 0) {
				c.VsHAProxy = ptr(c.Value / h.Value)
			}
		}
		r.Summary[m.key] = row
	}
}

// cell is setup's median of m over the rounds, nil if it has none. An
// added metric takes each round's difference to direct in that round.
func (r *Result) cell(m metric, setup string) *Cell {
	if m.fixed != nil {
		if v, ok := m.fixed(r, setup); ok {
			return &Cell{Value: v}
		}
		return nil
	}
	var vals []float64
	over := false
	for _, rr := range r.Rounds {
		sr := rr.Setups[setup]
		if sr == nil {
			continue
		}
		x, ok := m.get(sr)
		if !ok {
			continue
		}
		if m.overloaded != nil && m.overloaded(sr) {
			over = true
		}
		if m.added && setup != "direct" {
			d := rr.Setups["direct"]
			if d == nil {
				continue
			}
			base, ok := m.get(d)
			if !ok {
				continue
			}
			x -= base
		}
		vals = append(vals, x)
	}
	if len(vals) == 0 {
		return nil
	}
	return &Cell{Value: median(vals), Overloaded: over}
}

func ptr(f float64) *float64 { return &f }

// print writes the table.
func (r *Result) print(w io.Writer, b *bench) {
	fmt.Fprintf(w, "\nslinkerd side-by-side benchmark — median of %d round(s), %s, %d CPUs, load avg %.2f→%.2f\n",
		len(r.Rounds), r.Meta.Elapsed, r.Meta.CPUs, r.Meta.LoadAvg, r.Meta.LoadAvgEnd)
	fmt.Fprintln(w, "cells: value (×D = ratio to direct, ×H = ratio to HAProxy); latency rows show what the proxy adds over direct")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\t")
	for _, s := range r.Setups {
		if r.Skipped[s] == "" {
			fmt.Fprintf(tw, "%s\t", s)
		}
	}
	fmt.Fprintln(tw)
	overloaded := false
	for _, m := range b.metrics() {
		row := r.Summary[m.key]
		if len(row) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t", m.label)
		for _, s := range r.Setups {
			if r.Skipped[s] != "" {
				continue
			}
			c := row[s]
			if c == nil {
				fmt.Fprintf(tw, "-\t")
				continue
			}
			cell := formatValue(c.Value, m.unit)
			if c.Overloaded {
				cell += "!"
				overloaded = true
			}
			var ratios []string
			if c.VsDirect != nil {
				ratios = append(ratios, fmt.Sprintf("%.2f×D", *c.VsDirect))
			}
			if c.VsHAProxy != nil {
				ratios = append(ratios, fmt.Sprintf("%.2f×H", *c.VsHAProxy))
			}
			if len(ratios) > 0 {
				cell += " (" + strings.Join(ratios, " ") + ")"
			}
			fmt.Fprintf(tw, "%s\t", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if overloaded {
		fmt.Fprintln(w, "! = over 1% of requests failed or took over 1s in some round: the setup did not sustain that rate here")
	}
	keys := make([]string, 0, len(r.Skipped))
	for k := range r.Skipped {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "skipped %s: %s\n", k, r.Skipped[k])
	}
	for _, s := range r.Setups {
		if n := len(r.Notes[s]); n > 0 {
			fmt.Fprintf(w, "%s: %d note(s), e.g. %s (all in the JSON file)\n", s, n, firstLine(r.Notes[s][0]))
		}
	}
	fmt.Fprintln(w, "RSS is summed over each proxy's processes (nginx: master + workers); binary sizes exclude shared libraries.")
}

// formatValue renders v in unit.
func formatValue(v float64, unit string) string {
	switch unit {
	case "rps":
		if math.Abs(v) >= 1000 {
			return fmt.Sprintf("%.1fk", v/1000)
		}
		return fmt.Sprintf("%.0f", v)
	case "us":
		if math.Abs(v) >= 1000 {
			return fmt.Sprintf("%.2fms", v/1000)
		}
		return fmt.Sprintf("%.0fµs", v)
	case "ms":
		return fmt.Sprintf("%.1fms", v)
	case "MiB":
		return fmt.Sprintf("%.1fMiB", v)
	case "s":
		return fmt.Sprintf("%.2fs", v)
	}
	return fmt.Sprintf("%g", v)
}

// write writes the JSON file, creating its directory.
func (r *Result) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// median returns the median of vs (the mean of the middle two for an
// even count), or 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
