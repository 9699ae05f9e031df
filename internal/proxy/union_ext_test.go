package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUnionRoutesAroundEmptyBranches: a weighted union whose branch is
// bound but has no endpoints sends that branch's share to the others, as
// Finagle's TrafficDistributor does (defect 8 of issue 14: 56 of 100
// requests got 502). Only when every branch is empty is the answer the
// "no endpoints" 502. Every request succeeds whatever the draws, so the
// test does not depend on the proxy's random source.
func TestUnionRoutesAroundEmptyBranches(t *testing.T) {
	var hits atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer be.Close()
	names := staticNamer{"a": {hostport(be.URL)}, "empty": {}, "empty2": {}}
	tests := []struct {
		name   string
		dtab   string
		status int
		hits   int64
	}{
		{name: "half empty", dtab: "/svc/s=>0.5*/#/static/a & 0.5*/#/static/empty", status: 200, hits: 100},
		{name: "mostly empty", dtab: "/svc/s=>0.01*/#/static/a & 0.99*/#/static/empty", status: 200, hits: 100},
		{name: "zero-weight live branch", dtab: "/svc/s=>0*/#/static/a & 1*/#/static/empty", status: 200, hits: 100},
		{name: "all empty", dtab: "/svc/s=>0.5*/#/static/empty & 0.5*/#/static/empty2", status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			p := newPolicyProxy(t, tt.dtab, names, nil, nil)
			statuses := map[int]int{}
			for range 100 {
				statuses[serve(t, p, "GET", "s", "")]++
			}
			assert.Equal(t, map[int]int{tt.status: 100}, statuses)
			assert.Equal(t, tt.hits, hits.Load())
		})
	}
}
