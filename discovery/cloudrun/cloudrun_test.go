package cloudrun_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/cloudrun"
	"github.com/slinkerd/slinkerd/discovery/internal/namertest"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
	fake "github.com/slinkerd/slinkerd/test/fakes/cloudrun"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	fake  *fake.Server
	clk   *clock.Fake
	namer *cloudrun.Namer
}

// setup starts the fake and a namer whose real client reaches it through
// Endpoint (plain-text gRPC on loopback).
func setup(t *testing.T, mod func(*cloudrun.Config)) *env {
	t.Helper()
	f, err := fake.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	clk := clock.NewFake(t0)
	cfg := cloudrun.Config{
		Endpoint: f.Addr(),
		Refresh: refresh.Config{TTL: 10 * time.Second, ErrorTTL: time.Second, MaxBackoff: 8 * time.Second,
			EmptyGrace: 30 * time.Second, Clock: clk, Rand: func() float64 { return 1 }},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := cloudrun.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return &env{fake: f, clk: clk, namer: n}
}

func (e *env) lookup(t *testing.T, path string) name.Tree[name.Bound] {
	t.Helper()
	return namertest.Lookup(t, e.namer, path)
}

func (e *env) use(t *testing.T, b name.Bound) name.Addr {
	t.Helper()
	return namertest.Use(t, e.namer, b)
}

const uri = "https://users-abc123-ew.a.run.app"

func TestLookupBindsTheServiceURL(t *testing.T) {
	tests := []struct {
		name     string
		audience string
		uri      string
		want     name.Address
	}{
		{
			name: "service URL as audience",
			uri:  uri,
			want: name.Address{Host: "users-abc123-ew.a.run.app", Port: 443, Meta: map[string]string{
				"scheme": "https", "host": "users-abc123-ew.a.run.app", "audience": uri}},
		},
		{
			name: "custom audience", audience: "https://users.example.com", uri: uri,
			want: name.Address{Host: "users-abc123-ew.a.run.app", Port: 443, Meta: map[string]string{
				"scheme": "https", "host": "users-abc123-ew.a.run.app", "audience": "https://users.example.com"}},
		},
		{
			name: "explicit port (local backends)", uri: "https://127.0.0.1:8443",
			want: name.Address{Host: "127.0.0.1", Port: 8443, Meta: map[string]string{
				"scheme": "https", "host": "127.0.0.1:8443", "audience": "https://127.0.0.1:8443"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, func(c *cloudrun.Config) { c.Audience = tt.audience })
			e.fake.SetService(fake.ReadyService("proj", "europe-west1", "users", tt.uri))
			tree := e.lookup(t, "/proj/europe-west1/users/v1/x")
			require.Equal(t, name.Leaf, tree.Kind)
			assert.Equal(t, "/#/io.l5d.cloudrun/proj/europe-west1/users", tree.Value.ID.String())
			assert.Equal(t, "/v1/x", tree.Value.Residual.String())
			a := tree.Value.Addr.Peek()
			require.Equal(t, name.AddrBound, a.State)
			assert.Equal(t, []name.Address{tt.want}, a.Addresses)
			assert.Equal(t, 1, e.fake.Calls("GetService"))
		})
	}
}

func TestReadinessAndIngress(t *testing.T) {
	name0 := fake.ServiceName("proj", "r", "users")
	notReady := func(s *runpb.Service) {
		s.TerminalCondition = &runpb.Condition{Type: "Ready", State: runpb.Condition_CONDITION_FAILED, Message: "Revision failed"}
		s.LatestReadyRevision = ""
	}
	tests := []struct {
		name     string
		modify   func(*runpb.Service)
		wantKind name.Kind
		wantN    int
	}{
		{name: "ready", modify: func(*runpb.Service) {}, wantKind: name.Leaf, wantN: 1},
		{name: "rolling out: the previous revision serves", modify: func(s *runpb.Service) {
			s.TerminalCondition.State = runpb.Condition_CONDITION_RECONCILING
		}, wantKind: name.Leaf, wantN: 1},
		{name: "never ready", modify: notReady, wantKind: name.Neg},
		{name: "no URL", modify: func(s *runpb.Service) { s.Uri = "" }, wantKind: name.Neg},
		{name: "internal ingress is routable", modify: func(s *runpb.Service) {
			s.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_ONLY
		}, wantKind: name.Leaf, wantN: 1},
		{name: "ingress none: no endpoints", modify: func(s *runpb.Service) {
			s.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_NONE
		}, wantKind: name.Leaf, wantN: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			e.fake.SetService(fake.ReadyService("proj", "r", "users", uri))
			e.fake.Modify(name0, tt.modify)
			tree := e.lookup(t, "/proj/r/users")
			require.Equal(t, tt.wantKind, tree.Kind)
			if tt.wantKind == name.Leaf {
				assert.Len(t, tree.Value.Addr.Peek().Addresses, tt.wantN)
			}
		})
	}

	t.Run("stops being ready: the last good URL serves", func(t *testing.T) {
		e := setup(t, nil)
		e.fake.SetService(fake.ReadyService("proj", "r", "users", uri))
		b := e.lookup(t, "/proj/r/users").Value
		e.fake.Modify(name0, notReady)
		e.clk.Advance(10 * time.Second)
		a := e.use(t, b)
		assert.Len(t, a.Addresses, 1)
		st := e.namer.State()[0]
		assert.Contains(t, st.LastError, "service is not ready: Ready is CONDITION_FAILED: Revision failed")
	})
}

func TestNotFoundIsNeg(t *testing.T) {
	e := setup(t, nil)
	assert.Equal(t, name.Neg, e.lookup(t, "/proj/r/nosuch").Kind)
}

func TestInvalidPath(t *testing.T) {
	e := setup(t, nil)
	for _, p := range []string{"/", "/proj", "/proj/r"} {
		_, err := e.namer.Lookup(context.Background(), name.MustParsePath(p))
		require.ErrorIs(t, err, cloudrun.ErrInvalidPath, p)
	}
	assert.Zero(t, e.fake.Calls("GetService"))
}

func TestFailuresKeepTheLastGoodURL(t *testing.T) {
	tests := []struct {
		name string
		code codes.Code
		max  int // calls during a failing minute
	}{
		{name: "throttled", code: codes.ResourceExhausted, max: 8}, // 6 when every refresh ends before the next tick; up to 2 more when one is still in flight
		{name: "unavailable", code: codes.Unavailable, max: 12},
		{name: "permission denied", code: codes.PermissionDenied, max: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			e.fake.SetService(fake.ReadyService("proj", "r", "users", uri))
			b := e.lookup(t, "/proj/r/users").Value
			e.fake.FailWith(tt.code)
			before := e.fake.Calls("GetService")
			for range 60 {
				e.clk.Advance(time.Second)
				for range 100 {
					b.Addr.Sample()
				}
				a := e.use(t, b)
				require.Len(t, a.Addresses, 1)
			}
			n := e.fake.Calls("GetService") - before
			assert.LessOrEqual(t, n, tt.max)
			assert.GreaterOrEqual(t, n, 4)
			assert.Contains(t, e.namer.State()[0].LastError, tt.code.String())
		})
	}
}

func TestNewValidatesEndpoint(t *testing.T) {
	_, err := cloudrun.New(cloudrun.Config{Endpoint: "no-port"})
	require.Error(t, err)
}
