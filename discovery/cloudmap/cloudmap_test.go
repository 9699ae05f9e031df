package cloudmap_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/cloudmap"
	"github.com/slinkerd/slinkerd/discovery/internal/namertest"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
	fake "github.com/slinkerd/slinkerd/test/fakes/cloudmap"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// awsConfig points the real SDK at the fake, with static credentials, so
// that nothing outside the test is read.
func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

type env struct {
	fake  *fake.Server
	clk   *clock.Fake
	namer *cloudmap.Namer
}

func setup(t *testing.T, mod func(*cloudmap.Config)) *env {
	t.Helper()
	f, err := fake.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	clk := clock.NewFake(t0)
	cfg := cloudmap.Config{
		Client:      cloudmap.NewClient(awsConfig(f.URL())),
		FullRefresh: time.Minute,
		Refresh: refresh.Config{
			TTL: 10 * time.Second, ErrorTTL: time.Second, MaxBackoff: 8 * time.Second, EmptyGrace: 30 * time.Second,
			Clock: clk, Rand: func() float64 { return 1 },
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := cloudmap.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return &env{fake: f, clk: clk, namer: n}
}

func (e *env) lookup(t *testing.T, path string) name.Tree[name.Bound] {
	t.Helper()
	return namertest.Lookup(t, e.namer, path)
}

// use samples a bound name as the proxy does and waits for the refresh it
// may start.
func (e *env) use(t *testing.T, b name.Bound) name.Addr {
	t.Helper()
	return namertest.Use(t, e.namer, b)
}

func hostPorts(a name.Addr) []string {
	var out []string
	for _, x := range a.Addresses {
		out = append(out, x.HostPort())
	}
	return out
}

func TestLookupBindsInstances(t *testing.T) {
	e := setup(t, func(c *cloudmap.Config) { c.WeightAttribute = "weight" })
	f := e.fake
	f.Register("prod", "users", "a", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "8080", "weight": "2.5"})
	f.Register("prod", "users", "b", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "us-east-1a"})
	f.Register("prod", "users", "c", map[string]string{"AWS_INSTANCE_IPV6": "fd00::1", "AWS_INSTANCE_PORT": "9000"})
	f.Register("prod", "users", "d", map[string]string{"AWS_INSTANCE_CNAME": "Users.Example.com", "AWS_INSTANCE_PORT": "443"})
	f.Register("prod", "users", "e", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.5"})                                              // no port: skipped
	f.Register("prod", "users", "f", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.6", "AWS_INSTANCE_PORT": "1", "weight": "0"})     // drained
	f.Register("prod", "users", "g", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.7", "AWS_INSTANCE_PORT": "1", "weight": "heavy"}) // bad weight: skipped

	tree := e.lookup(t, "/prod/users/rest/of/path")
	require.Equal(t, name.Leaf, tree.Kind)
	b := tree.Value
	assert.Equal(t, "/#/io.l5d.cloudmap/prod/users", b.ID.String())
	assert.Equal(t, "/rest/of/path", b.Residual.String())
	a := b.Addr.Peek()
	require.Equal(t, name.AddrBound, a.State)
	assert.Equal(t, []name.Address{
		{Host: "10.0.0.1", Port: 8080, Meta: map[string]string{"zone": "us-east-1a"}},
		{Host: "10.0.0.2", Port: 8080, Weight: 2.5},
		{Host: "fd00::1", Port: 9000},
		{Host: "users.example.com", Port: 443},
	}, a.Addresses)
	assert.False(t, strings.HasPrefix(f.LastHost(), "data-"), "host prefix sent: %s", f.LastHost())
	assert.Equal(t, 1, f.Calls("DiscoverInstances"))
}

func TestQueryParameters(t *testing.T) {
	e := setup(t, nil)
	e.fake.Register("prod", "users", "a", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "version": "v1", "az": "a"})
	e.fake.Register("prod", "users", "b", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80", "version": "v2", "az": "a"})
	e.fake.Register("prod", "users", "c", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "80", "version": "v2", "az": "b"})
	tests := []struct {
		name, path, id, residual string
		want                     []string
	}{
		{name: "none", path: "/prod/users", id: "/#/io.l5d.cloudmap/prod/users", residual: "/", want: []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}},
		{name: "one", path: `/prod/users/version\x3dv2/x`, id: `/#/io.l5d.cloudmap/prod/users/version\x3dv2`, residual: "/x", want: []string{"10.0.0.2:80", "10.0.0.3:80"}},
		{name: "two", path: `/prod/users/version\x3dv2/az\x3db`, id: `/#/io.l5d.cloudmap/prod/users/version\x3dv2/az\x3db`, residual: "/", want: []string{"10.0.0.3:80"}},
		{name: "none match", path: `/prod/users/version\x3dv9`, id: `/#/io.l5d.cloudmap/prod/users/version\x3dv9`, residual: "/", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := e.lookup(t, tt.path)
			require.Equal(t, name.Leaf, tree.Kind)
			assert.Equal(t, tt.id, tree.Value.ID.String())
			assert.Equal(t, tt.residual, tree.Value.Residual.String())
			assert.Equal(t, tt.want, hostPorts(tree.Value.Addr.Peek()))
		})
	}
	st := e.namer.State()
	require.Len(t, st, 4, "one entry per distinct query")
}

func TestInvalidPaths(t *testing.T) {
	e := setup(t, nil)
	for _, p := range []string{"/", "/prod", `/prod/users/\x3dv1`, `/prod/users/a\x3d1/a\x3d2`} {
		t.Run(p, func(t *testing.T) {
			_, err := e.namer.Lookup(context.Background(), name.MustParsePath(p))
			require.ErrorIs(t, err, cloudmap.ErrInvalidPath)
		})
	}
	assert.Zero(t, e.fake.TotalCalls())
}

func TestNotFoundIsNeg(t *testing.T) {
	e := setup(t, nil)
	e.fake.CreateNamespace("prod")
	for _, p := range []string{"/nosuch/users", "/prod/nosuch"} {
		t.Run(p, func(t *testing.T) {
			assert.Equal(t, name.Neg, e.lookup(t, p).Kind)
		})
	}
}

func TestRevisionPolling(t *testing.T) {
	e := setup(t, nil)
	f := e.fake
	require.NoError(t, f.RegisterIP("prod", "users", "a", "10.0.0.1:80", nil))
	require.NoError(t, f.RegisterIP("prod", "users", "b", "10.0.0.2:80", nil))
	b := e.lookup(t, "/prod/users").Value
	assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.2:80"}, hostPorts(b.Addr.Peek()))

	// Within the TTL: no call at all, however often the name is used.
	for range 1000 {
		b.Addr.Sample()
	}
	assert.Equal(t, 1, f.Calls("DiscoverInstances"))
	assert.Equal(t, 0, f.Calls("DiscoverInstancesRevision"))

	// After the TTL, with nothing changed: one revision call only.
	e.clk.Advance(10 * time.Second)
	e.use(t, b)
	assert.Equal(t, 1, f.Calls("DiscoverInstances"))
	assert.Equal(t, 1, f.Calls("DiscoverInstancesRevision"))

	// A health change does not bump the revision: not seen yet…
	f.SetHealthy("prod", "users", "b", false)
	e.clk.Advance(10 * time.Second)
	assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.2:80"}, hostPorts(e.use(t, b)))
	assert.Equal(t, 1, f.Calls("DiscoverInstances"))

	// …a registration does, and is fetched at the next refresh.
	require.NoError(t, f.RegisterIP("prod", "users", "c", "10.0.0.3:80", nil))
	e.clk.Advance(10 * time.Second)
	assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.3:80"}, hostPorts(e.use(t, b)), "the health change comes along")
	assert.Equal(t, 2, f.Calls("DiscoverInstances"))
	assert.Equal(t, 3, f.Calls("DiscoverInstancesRevision"))

	// A health change alone is seen at the periodic full refresh.
	f.SetHealthy("prod", "users", "b", true)
	for i := range 5 {
		e.clk.Advance(10 * time.Second)
		e.use(t, b)
		assert.Equal(t, 2, f.Calls("DiscoverInstances"), "refresh %d", i)
	}
	e.clk.Advance(10 * time.Second)
	assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, hostPorts(e.use(t, b)))
	assert.Equal(t, 3, f.Calls("DiscoverInstances"))
}

func TestFailuresKeepTheLastGoodSet(t *testing.T) {
	tests := []struct {
		name      string
		mode      fake.Mode
		throttled bool
		errText   string
	}{
		{name: "throttled", mode: fake.Throttle, throttled: true, errText: "RequestLimitExceeded"},
		{name: "down", mode: fake.Down, errText: "DiscoverInstancesRevision prod/users"},
		{name: "unavailable", mode: fake.Unavailable, errText: "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			f := e.fake
			require.NoError(t, f.RegisterIP("prod", "users", "a", "10.0.0.1:80", nil))
			b := e.lookup(t, "/prod/users").Value
			f.SetMode(tt.mode)
			calls := f.TotalCalls()
			// A minute of heavy use while discovery fails.
			for range 60 {
				e.clk.Advance(time.Second)
				for range 100 {
					b.Addr.Sample()
				}
				assert.Equal(t, []string{"10.0.0.1:80"}, hostPorts(e.use(t, b)))
			}
			st := e.namer.State()[0]
			assert.Contains(t, st.LastError, tt.errText)
			// Backoff: TTL 10s then (errors 1s,2s,4s,8s,8s… / throttles 10s,10s…).
			n := f.TotalCalls() - calls
			assert.LessOrEqual(t, n, int64(10), "calls during a failing minute")
			assert.GreaterOrEqual(t, n, int64(4))

			f.SetMode(fake.Normal)
			require.NoError(t, f.RegisterIP("prod", "users", "b", "10.0.0.2:80", nil))
			for range 10 {
				e.clk.Advance(time.Second)
				e.use(t, b)
			}
			assert.Equal(t, []string{"10.0.0.1:80", "10.0.0.2:80"}, hostPorts(b.Addr.Peek()))
			assert.Empty(t, e.namer.State()[0].LastError)
		})
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	f, err := fake.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.RegisterIP("prod", "users", "a", "10.0.0.1:80", nil))
	t.Setenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", f.URL())
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	n, err := cloudmap.New(cloudmap.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer n.Close()
	assert.Zero(t, f.TotalCalls(), "New calls nothing")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tree, err := n.Lookup(ctx, name.MustParsePath("/prod/users"))
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:80"}, hostPorts(tree.Value.Addr.Peek()))
	assert.Equal(t, 1, f.Calls("DiscoverInstances"))
}

func TestNewValidates(t *testing.T) {
	_, err := cloudmap.New(cloudmap.Config{HealthStatus: "SICK"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `HealthStatus "SICK"`)
	_, err = cloudmap.New(cloudmap.Config{FullRefresh: -time.Second})
	require.Error(t, err)
}

func TestHealthStatusFilter(t *testing.T) {
	tests := []struct {
		name, status string
		unhealthy    []string
		want         []string
	}{
		{name: "healthy or else all: some healthy", status: "HEALTHY_OR_ELSE_ALL", unhealthy: []string{"a"}, want: []string{"10.0.0.2:80"}},
		{name: "healthy or else all: none healthy", status: "HEALTHY_OR_ELSE_ALL", unhealthy: []string{"a", "b"}, want: []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{name: "healthy only", status: "HEALTHY", unhealthy: []string{"a", "b"}, want: nil},
		{name: "all", status: "ALL", unhealthy: []string{"a"}, want: []string{"10.0.0.1:80", "10.0.0.2:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, func(c *cloudmap.Config) { c.HealthStatus = tt.status })
			require.NoError(t, e.fake.RegisterIP("prod", "users", "a", "10.0.0.1:80", nil))
			require.NoError(t, e.fake.RegisterIP("prod", "users", "b", "10.0.0.2:80", nil))
			for _, id := range tt.unhealthy {
				e.fake.SetHealthy("prod", "users", id, false)
			}
			assert.Equal(t, tt.want, hostPorts(e.lookup(t, "/prod/users").Value.Addr.Peek()))
		})
	}
}
