package telemetry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// scaleTable is a routing table of services, each bound by io.l5d.fs to one
// client of endpoints, as the proxy would report it, with one request event
// per endpoint and latency.
type scaleTable struct {
	src    *fakeSource
	events []*proxy.RequestEvent
}

func newScaleTable(services, endpoints, perEndpoint int) *scaleTable {
	st := &scaleTable{src: &fakeSource{}}
	for s := 0; s < services; s++ {
		svc := fmt.Sprintf("/svc/service-%04d", s)
		client := fmt.Sprintf("/#/io.l5d.fs/service-%04d", s)
		st.src.services = append(st.src.services, proxy.ServiceState{Service: svc, BudgetBalance: 100})
		cs := proxy.ClientState{ID: client, Addr: "bound"}
		for e := 0; e < endpoints; e++ {
			addr := fmt.Sprintf("10.%d.%d.%d:8080", s/250, s%250, e+1)
			cs.Endpoints = append(cs.Endpoints, balance.EndpointStats{Address: addr, Weight: 1,
				Load: 1e6, EWMA: time.Millisecond, State: "alive"})
			for i := 0; i < perEndpoint; i++ {
				// Latencies from 200µs to about 200ms, a few octaves per service.
				lat := time.Duration(200+(s*7+e*131+i*977)%200_000) * time.Microsecond
				ev := &proxy.RequestEvent{Service: svc, Client: client, Endpoint: addr, Status: 200, Latency: lat}
				if i%50 == 49 {
					ev.Status, ev.Failed = 503, true
				}
				st.events = append(st.events, ev)
			}
		}
		st.src.clients = append(st.src.clients, cs)
	}
	return st
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// BenchmarkScaleRoutingTable builds the table of issue 18 (1000 services ×
// 10 endpoints bound through io.l5d.fs, 20 requests per endpoint) and
// reports what telemetry costs at that size: ns/op is one /metrics render
// (Prometheus text), metrics_B and json_B the sizes of /metrics and
// /admin/metrics.json, heap_B/endpoint the telemetry's live heap (after two
// window rotations) divided by the endpoints.
//
//	go test -run XXX -bench ScaleRoutingTable -benchtime 20x ./internal/telemetry/
func BenchmarkScaleRoutingTable(b *testing.B) {
	const services, endpoints, perEndpoint = 1000, 10, 20
	st := newScaleTable(services, endpoints, perEndpoint)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))

	before := heapInUse()
	tel, err := telemetry.New(telemetry.Config{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	tel.SetSource(st.src)
	for _, ev := range st.events {
		tel.Request(ev)
	}
	metrics, admin := tel.MetricsHandler(), tel.JSONHandler()
	// Two rotations of the quantile window, so its bases exist.
	for i := 0; i < 2; i++ {
		clk.Advance(time.Minute)
		_ = get(metrics, "/metrics")
	}
	for _, ev := range st.events[:len(st.events)/2] {
		tel.Request(ev)
	}
	heap := int64(heapInUse()) - int64(before)

	text := get(metrics, "/metrics")
	js := get(admin, "/admin/metrics.json")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rec := get(metrics, "/metrics"); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	b.StopTimer()
	// After the loop: ResetTimer deletes reported metrics.
	b.ReportMetric(float64(text.Body.Len()), "metrics_B")
	b.ReportMetric(float64(js.Body.Len()), "json_B")
	b.ReportMetric(float64(heap)/float64(services*endpoints), "heap_B/endpoint")
	runtime.KeepAlive(tel)
	runtime.KeepAlive(st)
}
