package telemetry_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// A zone-aware client reports its cross-zone requests as a counter and in
// the JSON document, from the balancer's own monotonic counts (not sums
// over the current endpoints, which drop when an endpoint goes); a client
// that is not zone-aware reports neither.
func TestCrossZoneRequests(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	tel.SetSource(&fakeSource{clients: []proxy.ClientState{
		{ID: "/#/io.l5d.fs/zoned", Addr: "bound", ZoneAware: true, LocalZone: 90, CrossZone: 10, Endpoints: []balance.EndpointStats{
			{Address: "127.0.0.1:8001", Weight: 1, State: "alive", Requests: 90, Zone: "a", Locality: balance.LocalityLocal},
			{Address: "127.0.0.1:8002", Weight: 1, State: "alive", Requests: 7, Zone: "b", Locality: balance.LocalityRemote},
			{Address: "127.0.0.1:8003", Weight: 1, State: "alive", Requests: 3, Locality: balance.LocalityRemote},
		}},
		{ID: "/#/io.l5d.fs/plain", Addr: "bound", Endpoints: []balance.EndpointStats{
			{Address: "127.0.0.1:9001", Weight: 1, State: "alive", Requests: 5, Zone: "a"},
		}},
	}})
	fams := scrape(t, tel.MetricsHandler())
	m := series(t, fams, "slinkerd_client_cross_zone_requests_total", map[string]string{"client": "/#/io.l5d.fs/zoned"})
	assert.Equal(t, 10.0, m.GetCounter().GetValue())
	assert.Len(t, fams["slinkerd_client_cross_zone_requests_total"].GetMetric(), 1, "only the zone-aware client")

	doc := tel.Snapshot()
	require.Len(t, doc.Clients, 2)
	for _, c := range doc.Clients {
		switch c.Client {
		case "/#/io.l5d.fs/zoned":
			assert.Equal(t, &telemetry.ZoneJSON{Requests: 100, CrossZone: 10}, c.Zone)
		default:
			assert.Nil(t, c.Zone)
		}
	}
}
