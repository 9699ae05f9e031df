package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

// MetricsJSON is the document served at /admin/metrics.json, read by the
// dashboard. Counters are cumulative since start; rates are differences
// between two reads. Latencies are in milliseconds.
type MetricsJSON struct {
	// Time is when the document was made.
	Time time.Time `json:"time"`
	// WindowSeconds is the quantile window's rotation period: latency
	// quantiles cover the last one to two windows.
	WindowSeconds float64 `json:"window_s"`
	// Process describes the running slinkerd.
	Process ProcessJSON `json:"process"`
	// Server is the whole proxy listener.
	Server ServerJSON `json:"server"`
	// Services lists each service (logical name), sorted.
	Services []ServiceJSON `json:"services"`
	// Clients lists each client (bound name), sorted.
	Clients []ClientJSON `json:"clients"`
	// MaxEndpoints is the endpoint cap, a total across all clients (0:
	// endpoint series off).
	MaxEndpoints int `json:"max_endpoints"`
}

// ProcessJSON describes the process.
type ProcessJSON struct {
	// Version is slinkerd's version.
	Version string `json:"version"`
	// GoVersion is the Go toolchain's.
	GoVersion string `json:"go_version"`
	// Start is when telemetry started (about the process start).
	Start time.Time `json:"start"`
	// UptimeSeconds is the time since Start.
	UptimeSeconds float64 `json:"uptime_s"`
	// RSSBytes is the resident set size (VmRSS); 0 where unknown.
	RSSBytes uint64 `json:"rss_bytes"`
	// Goroutines is the number of goroutines.
	Goroutines int `json:"goroutines"`
	// GOMAXPROCS is the CPUs Go uses.
	GOMAXPROCS int `json:"gomaxprocs"`
}

// StatsJSON are the request counters and latency shared by every level.
type StatsJSON struct {
	// Requests is successes plus failures.
	Requests uint64 `json:"requests"`
	// Successes are requests classified as successful.
	Successes uint64 `json:"successes"`
	// Failures are requests classified as failed, both sources.
	Failures uint64 `json:"failures"`
	// ProxyErrors are the failures slinkerd answered itself (l5d-err).
	ProxyErrors uint64 `json:"proxy_errors"`
	// FailuresByClass counts failures by source and status class, e.g.
	// "backend:5xx", "proxy:5xx"; only non-zero entries.
	FailuresByClass map[string]uint64 `json:"failures_by_class"`
	// Retries and Requeues are the extra attempts.
	Retries  uint64 `json:"retries"`
	Requeues uint64 `json:"requeues"`
	// Latency summarises the quantile window.
	Latency LatencyJSON `json:"latency_ms"`
}

// LatencyJSON is a latency summary in milliseconds.
type LatencyJSON struct {
	// Count is the number of requests in the window.
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// ServerJSON is the proxy listener's totals.
type ServerJSON struct {
	StatsJSON
	// OpenConnections is nil until the listener's ConnState hook is wired.
	OpenConnections *int64 `json:"open_connections,omitempty"`
	// ConnectionsTotal is nil until the ConnState hook is wired.
	ConnectionsTotal *int64 `json:"connections_total,omitempty"`
	// Pending is the attempts in flight, all clients.
	Pending int `json:"pending"`
}

// ServiceJSON is one service.
type ServiceJSON struct {
	// Service is the logical name, or "other" past the service cap.
	Service string `json:"service"`
	StatsJSON
	// BudgetBalance is how many retries the budget allows now; nil when
	// unknown.
	BudgetBalance *int `json:"budget_balance,omitempty"`
	// BudgetExhausted counts retries refused for an empty budget.
	BudgetExhausted uint64 `json:"budget_exhausted"`
}

// ClientJSON is one client (bound name) and its endpoints.
type ClientJSON struct {
	// Client is the bound name, or "other" past the client cap.
	Client string `json:"client"`
	// AddrState is the name's address state: pending, bound, neg, failed.
	AddrState string `json:"addr_state,omitempty"`
	StatsJSON
	// Pending is the attempts in flight to its endpoints.
	Pending int `json:"pending"`
	// States counts endpoints by failure-accrual state.
	States map[string]int `json:"states"`
	// Endpoints lists the endpoints, sorted by address; past the cap the
	// rest are summed into one entry with address "other".
	Endpoints []EndpointJSON `json:"endpoints"`
	// Omitted is how many balancer endpoints were folded into "other".
	Omitted int `json:"omitted,omitempty"`
	// Zone is set when the client routes zone-aware (the caller's zone is
	// known); nil otherwise.
	Zone *ZoneJSON `json:"zone,omitempty"`
}

// ZoneJSON is a zone-aware client's locality counts, over the completed
// requests to its current endpoints.
type ZoneJSON struct {
	// Requests is the completed requests to its endpoints.
	Requests int64 `json:"requests"`
	// CrossZone is those to endpoints in another zone (or none known).
	CrossZone int64 `json:"cross_zone"`
}

// EndpointJSON is one endpoint: the request counters of the requests
// whose last attempt went to it, and the balancer's live state.
type EndpointJSON struct {
	// Address is host:port, or "other".
	Address string `json:"address"`
	StatsJSON
	// Live is false for an endpoint the balancer no longer has.
	Live bool `json:"live"`
	// Weight is the balancer weight.
	Weight float64 `json:"weight"`
	// Pending is the attempts in flight.
	Pending int `json:"pending"`
	// Load is the balancer's load figure (see slinkerd_endpoint_load).
	Load float64 `json:"load"`
	// EWMAMillis is the peak-EWMA latency estimate.
	EWMAMillis float64 `json:"ewma_ms"`
	// State is the failure-accrual state: alive, dead or probing.
	State string `json:"state,omitempty"`
	// ConsecutiveFailures is the failure-accrual count of failures in a
	// row ("failures" is the failed-request counter, as at every level).
	ConsecutiveFailures int `json:"consecutive_failures"`
	// DeadUntil is when a dead endpoint's backoff ends.
	DeadUntil *time.Time `json:"dead_until,omitempty"`
}

// Snapshot returns the metrics document.
func (t *Telemetry) Snapshot() *MetricsJSON {
	v := t.read()
	out := &MetricsJSON{
		Time:          v.now,
		WindowSeconds: t.cfg.Window.Seconds(),
		Process:       t.process(v.now),
		Server:        ServerJSON{StatsJSON: statsJSON(v.server)},
		Services:      make([]ServiceJSON, 0, len(v.services)),
		Clients:       make([]ClientJSON, 0, len(v.clients)),
		MaxEndpoints:  max(t.cfg.MaxEndpoints, 0),
	}
	if v.conns {
		open, total := v.connsOpen, v.connsTotal
		out.Server.OpenConnections, out.Server.ConnectionsTotal = &open, &total
	}
	for _, s := range v.services {
		sj := ServiceJSON{Service: s.name, StatsJSON: statsJSON(s.scopeView), BudgetExhausted: s.budgetExhausted}
		if s.budget {
			b := s.budgetBalance
			sj.BudgetBalance = &b
		}
		out.Services = append(out.Services, sj)
	}
	for _, c := range v.clients {
		out.Server.Pending += c.pending
		cj := ClientJSON{Client: c.id, AddrState: c.addrState, StatsJSON: statsJSON(c.scopeView), Pending: c.pending,
			States: c.states, Endpoints: make([]EndpointJSON, 0, len(c.endpoints)), Omitted: c.omitted}
		if c.zoneAware {
			cj.Zone = &ZoneJSON{Requests: c.zoneRequests, CrossZone: c.crossZone}
		}
		for _, e := range c.endpoints {
			ej := EndpointJSON{Address: e.address, StatsJSON: statsJSON(e.scopeView), Live: e.hasStats}
			if e.hasStats {
				ej.Weight, ej.Pending, ej.Load = e.stats.Weight, e.stats.Pending, e.stats.Load
				ej.EWMAMillis, ej.State, ej.ConsecutiveFailures = ms(e.stats.EWMA), e.stats.State, e.stats.Failures
				if !e.stats.DeadUntil.IsZero() {
					du := e.stats.DeadUntil
					ej.DeadUntil = &du
				}
			}
			cj.Endpoints = append(cj.Endpoints, ej)
		}
		out.Clients = append(out.Clients, cj)
	}
	return out
}

func statsJSON(s scopeView) StatsJSON {
	j := StatsJSON{
		Requests:        s.counts.requests(),
		Successes:       s.counts.Successes,
		Failures:        s.counts.failures(-1),
		ProxyErrors:     s.counts.failures(srcProxy),
		FailuresByClass: map[string]uint64{},
		Retries:         s.counts.Retries,
		Requeues:        s.counts.Requeues,
	}
	for src := range s.counts.Failures {
		for cls, n := range s.counts.Failures[src] {
			if n > 0 {
				j.FailuresByClass[sourceNames[src]+":"+classNames[cls]] = n
			}
		}
	}
	if w := s.win; w != nil {
		j.Latency = LatencyJSON{Count: w.Count, P50: ms(w.Quantile(0.5)), P90: ms(w.Quantile(0.9)), P99: ms(w.Quantile(0.99)),
			P999: ms(w.Quantile(0.999)), Max: ms(w.Max()), Mean: ms(w.Mean())}
	}
	return j
}

func (t *Telemetry) process(now time.Time) ProcessJSON {
	return ProcessJSON{
		Version:       t.cfg.Version,
		GoVersion:     runtime.Version(),
		Start:         t.start,
		UptimeSeconds: now.Sub(t.start).Seconds(),
		RSSBytes:      readRSS(),
		Goroutines:    runtime.NumGoroutine(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
	}
}

// readRSS returns VmRSS from /proc/self/status, or 0 where there is none.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("VmRSS:")) {
			continue
		}
		f := bytes.Fields(line[len("VmRSS:"):])
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return n << 10
	}
	return 0
}

// JSONHandler serves the metrics document (/admin/metrics.json).
func (t *Telemetry) JSONHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(t.Snapshot())
	})
}

// Handlers returns the admin endpoints: /metrics and /admin/metrics.json.
func (t *Telemetry) Handlers() map[string]http.Handler {
	hs := map[string]http.Handler{"GET /admin/metrics.json": t.JSONHandler()}
	if h := t.MetricsHandler(); h != nil {
		hs["GET /metrics"] = h
	}
	return hs
}
