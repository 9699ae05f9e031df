package telemetry_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// TestMetricsEndpointCapIsTotalAcrossClients: MaxEndpoints bounds the
// endpoint series of all clients together, for endpoints with traffic
// (raced by many goroutines) and for idle ones the balancer reports.
func TestMetricsEndpointCapIsTotalAcrossClients(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		clients   int
		endpoints int
		idle      int // endpoints per client with no traffic
		wantOwn   int
	}{
		{name: "traffic past the cap", max: 5, clients: 4, endpoints: 3, wantOwn: 5},
		{name: "idle endpoints fill spare slots", max: 7, clients: 2, endpoints: 2, idle: 3, wantOwn: 7},
		{name: "under the cap", max: 100, clients: 3, endpoints: 2, wantOwn: 6},
		{name: "off", max: -1, clients: 3, endpoints: 2, wantOwn: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTel(t, telemetry.Config{MaxEndpoints: tt.max})
			src := &fakeSource{}
			var wg sync.WaitGroup
			for c := 0; c < tt.clients; c++ {
				id := fmt.Sprintf("/#/io.l5d.fs/svc%d", c)
				cs := proxy.ClientState{ID: id, Addr: "bound"}
				for e := 0; e < tt.endpoints+tt.idle; e++ {
					addr := fmt.Sprintf("10.0.%d.%d:80", c, e)
					cs.Endpoints = append(cs.Endpoints, balance.EndpointStats{Address: addr, Weight: 1, State: "alive"})
					if e >= tt.endpoints {
						continue
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						tel.Request(ok("/svc/x", id, addr, time.Millisecond))
					}()
				}
				src.clients = append(src.clients, cs)
			}
			wg.Wait()
			tel.SetSource(src)

			fams := scrape(t, tel.MetricsHandler())
			own, others := 0, 0
			for _, m := range fams["slinkerd_endpoint_weight"].GetMetric() {
				if labelsOf(m)["endpoint"] == "other" {
					others++
				} else {
					own++
				}
			}
			assert.Equal(t, tt.wantOwn, own, "endpoint series, all clients")
			assert.EqualValues(t, tt.clients*tt.endpoints, series(t, fams, "slinkerd_server_requests_total", nil).GetCounter().GetValue())
			// A client's request series come with its endpoint series; its
			// balancer gauges always.
			withEndpoints := map[string]bool{}
			for _, m := range fams["slinkerd_endpoint_weight"].GetMetric() {
				withEndpoints[labelsOf(m)["client"]] = true
			}
			for _, m := range fams["slinkerd_client_requests_total"].GetMetric() {
				assert.True(t, withEndpoints[labelsOf(m)["client"]], "client series without endpoint series: %v", labelsOf(m))
			}
			assert.Len(t, fams["slinkerd_client_requests_total"].GetMetric(), len(withEndpoints))
			assert.Len(t, fams["slinkerd_client_pending"].GetMetric(), tt.clients)
			// A client whose endpoints are all folded has no "other" series:
			// it would repeat the client's.
			assert.LessOrEqual(t, others, len(withEndpoints))

			doc := tel.Snapshot()
			jsonOwn := 0
			for _, c := range doc.Clients {
				for _, e := range c.Endpoints {
					if e.Address != "other" {
						jsonOwn++
					}
				}
			}
			assert.Equal(t, tt.wantOwn, jsonOwn, "the JSON keeps the same cap")
		})
	}
}

// TestMetricsScaleTableBounded: at 100 services × 10 endpoints the
// Prometheus text stays per-service: no more endpoint series than the
// default cap, whatever the table's size.
func TestMetricsScaleTableBounded(t *testing.T) {
	st := newScaleTable(100, 10, 1)
	tel := newTel(t, telemetry.Config{})
	tel.SetSource(st.src)
	for _, ev := range st.events {
		tel.Request(ev)
	}
	fams := scrape(t, tel.MetricsHandler())
	require.Contains(t, fams, "slinkerd_service_latency_seconds")
	assert.Equal(t, 100, len(fams["slinkerd_service_latency_seconds"].GetMetric()))
	// The first ten clients' endpoints fill the cap; the other 90 clients
	// have no endpoint series at all (not even "other").
	assert.Equal(t, telemetry.DefaultMaxEndpoints, len(fams["slinkerd_endpoint_latency_seconds"].GetMetric()))
}
