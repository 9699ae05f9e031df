package inet_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

// fakeResolver answers from a table. When gate is set, each lookup waits
// for a value on it (or for ctx).
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string]fakeAnswer
	calls   map[string]int
	gate    chan struct{}
}

type fakeAnswer struct {
	ips []string
	ttl time.Duration
	err error
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{answers: map[string]fakeAnswer{}, calls: map[string]int{}}
}

func (r *fakeResolver) set(host string, a fakeAnswer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[host] = a
}

// hold makes lookups wait until the returned channel is closed.
func (r *fakeResolver) hold() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gate = make(chan struct{})
	return r.gate
}

func (r *fakeResolver) callCount(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func (r *fakeResolver) answer(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	r.mu.Lock()
	r.calls[host]++
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	r.mu.Lock()
	a, ok := r.answers[host]
	r.mu.Unlock()
	if !ok {
		return nil, 0, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if a.err != nil {
		return nil, 0, a.err
	}
	ips := make([]netip.Addr, len(a.ips))
	for i, s := range a.ips {
		ips[i] = netip.MustParseAddr(s)
	}
	return ips, a.ttl, nil
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	ips, _, err := r.answer(ctx, host)
	return ips, err
}

// ttlResolver exposes the fake's TTLs through inet.TTLResolver.
type ttlResolver struct{ *fakeResolver }

func (r ttlResolver) LookupNetIPTTL(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return r.answer(ctx, host)
}

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newInet(t *testing.T, res inet.Resolver, clk clock.Clock) *inet.Inet {
	t.Helper()
	n, err := inet.NewInet(inet.Config{Resolver: res, Clock: clk, Logger: quiet})
	require.NoError(t, err)
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitChanged waits for ch to close, failing the test after 5s.
func waitChanged(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-ctxT(t).Done():
		t.Fatal("timed out waiting for a change")
	}
}

func lookupBound(t *testing.T, n name.Namer, path string) name.Bound {
	t.Helper()
	tree, err := n.Lookup(ctxT(t), name.MustParsePath(path))
	require.NoError(t, err)
	require.Equal(t, name.Leaf, tree.Kind)
	return tree.Value
}

func hostsOf(a name.Addr) []string {
	var out []string
	for _, ad := range a.Addresses {
		out = append(out, ad.HostPort())
	}
	return out
}

func TestInetIPLiterals(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		id       string
		residual string
		want     []string
	}{
		{name: "ipv4", path: "/10.0.0.1/8080", id: "/$/inet/10.0.0.1/8080", residual: "/", want: []string{"10.0.0.1:8080"}},
		{name: "ipv6", path: "/::1/80", id: "/$/inet/::1/80", residual: "/", want: []string{"[::1]:80"}},
		{name: "ipv4-mapped ipv6", path: "/::ffff:10.1.2.3/80", id: "/$/inet/::ffff:10.1.2.3/80", residual: "/", want: []string{"10.1.2.3:80"}},
		{name: "residual", path: "/127.0.0.1/4140/users/v1", id: "/$/inet/127.0.0.1/4140", residual: "/users/v1", want: []string{"127.0.0.1:4140"}},
	}
	res := newFakeResolver()
	n := newInet(t, res, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := lookupBound(t, n, tt.path)
			assert.Equal(t, tt.id, b.ID.String())
			assert.Equal(t, tt.residual, b.Residual.String())
			a := b.Addr.Sample()
			assert.Equal(t, name.AddrBound, a.State)
			assert.Equal(t, tt.want, hostsOf(a))
		})
	}
	assert.Empty(t, res.calls, "IP literals are never resolved")
}

func TestInetInvalidPaths(t *testing.T) {
	tests := []struct {
		name string
		path name.Path
		want string
	}{
		{name: "empty", path: nil, want: "expected /<host>/<port>"},
		{name: "host only", path: name.Path{"example.com"}, want: "expected /<host>/<port>"},
		{name: "port zero", path: name.Path{"example.com", "0"}, want: `invalid port "0"`},
		{name: "port too big", path: name.Path{"10.0.0.1", "65536"}, want: `invalid port "65536"`},
		{name: "port name", path: name.Path{"10.0.0.1", "http"}, want: `invalid port "http"`},
		{name: "negative port", path: name.Path{"10.0.0.1", "-1"}, want: `invalid port "-1"`},
		{name: "bad host", path: name.Path{"a..b", "80"}, want: `invalid host "a..b"`},
		{name: "bad ip", path: name.Path{"10.0.0.300", "80"}, want: `invalid host "10.0.0.300"`},
	}
	res := newFakeResolver()
	n := newInet(t, res, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.Lookup(ctxT(t), tt.path)
			require.ErrorIs(t, err, inet.ErrInvalidPath)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.Empty(t, res.calls)
}

func TestInetLocalhost(t *testing.T) {
	n := newInet(t, nil, nil) // the system resolver
	b := lookupBound(t, n, "/localhost/9990/rest")
	assert.Equal(t, "/$/inet/localhost/9990", b.ID.String())
	assert.Equal(t, "/rest", b.Residual.String())
	a := b.Addr.Peek()
	require.Equal(t, name.AddrBound, a.State, "err: %v", a.Err)
	require.NotEmpty(t, a.Addresses)
	for _, ad := range a.Addresses {
		ip := netip.MustParseAddr(ad.Host)
		assert.True(t, ip.IsLoopback(), "%s is not a loopback address", ip)
		assert.Equal(t, 9990, ad.Port)
	}
}

func TestInetResolvesAllRecords(t *testing.T) {
	res := newFakeResolver()
	// Out of order, duplicated, one in IPv4-mapped form as net.Resolver
	// sometimes returns.
	res.set("users.internal", fakeAnswer{ips: []string{"10.0.0.2", "2001:db8::1", "::ffff:10.0.0.1", "10.0.0.2"}})
	n := newInet(t, res, nil)

	b := lookupBound(t, n, "/users.internal/8080")
	a := b.Addr.Sample()
	assert.Equal(t, name.AddrBound, a.State)
	assert.Equal(t, []string{"10.0.0.1:8080", "10.0.0.2:8080", "[2001:db8::1]:8080"}, hostsOf(a))
}

func TestInetSharedVar(t *testing.T) {
	res := newFakeResolver()
	res.set("users", fakeAnswer{ips: []string{"10.0.0.1"}})
	clk := clock.NewFake(t0)
	n := newInet(t, res, clk)

	a1 := lookupBound(t, n, "/users/80")
	a2 := lookupBound(t, n, "/users/80/residual")
	b := lookupBound(t, n, "/users/81")
	assert.Same(t, a1.Addr, a2.Addr, "one Var per host and port")
	assert.NotSame(t, a1.Addr, b.Addr)
	assert.Equal(t, 1, res.callCount("users"), "one resolution per host")

	// One refresh updates every port of the host.
	res.set("users", fakeAnswer{ips: []string{"10.0.0.9"}})
	clk.Advance(inet.DefaultTTL)
	ch80, ch81 := a1.Addr.Changed(), b.Addr.Changed()
	a1.Addr.Sample()
	waitChanged(t, ch80)
	waitChanged(t, ch81)
	assert.Equal(t, []string{"10.0.0.9:81"}, hostsOf(b.Addr.Peek()))
	assert.Equal(t, 2, res.callCount("users"))
}

func TestInetTTLRefresh(t *testing.T) {
	res := newFakeResolver()
	res.set("users", fakeAnswer{ips: []string{"10.0.0.1"}})
	clk := clock.NewFake(t0)
	n, err := inet.NewInet(inet.Config{Resolver: res, Clock: clk, TTL: 10 * time.Second, Logger: quiet})
	require.NoError(t, err)

	v := lookupBound(t, n, "/users/80").Addr
	res.set("users", fakeAnswer{ips: []string{"10.0.0.2"}})

	// Fresh: use does not resolve again.
	clk.Advance(9 * time.Second)
	assert.Equal(t, []string{"10.0.0.1:80"}, hostsOf(v.Sample()))
	waitChanged(t, n.Idle("users"))
	assert.Equal(t, 1, res.callCount("users"))

	// Stale: use serves the stale set and refreshes in the background.
	clk.Advance(time.Second)
	gate := res.hold()
	ch := v.Changed()
	assert.Equal(t, []string{"10.0.0.1:80"}, hostsOf(v.Sample()), "stale set served while refreshing")
	assert.Equal(t, []string{"10.0.0.1:80"}, hostsOf(v.Sample()), "one refresh at a time")
	close(gate)
	waitChanged(t, ch)
	assert.Equal(t, []string{"10.0.0.2:80"}, hostsOf(v.Peek()))
	assert.Equal(t, 2, res.callCount("users"))

	st := n.State()
	require.Len(t, st, 1)
	assert.Equal(t, inet.HostState{Host: "users", Ports: []int{80}, Addresses: []string{"10.0.0.2"}, LastRefresh: clk.Now()}, st[0])
}

func TestInetTTLResolver(t *testing.T) {
	res := newFakeResolver()
	res.set("users", fakeAnswer{ips: []string{"10.0.0.1"}, ttl: 2 * time.Second})
	clk := clock.NewFake(t0)
	n := newInet(t, ttlResolver{res}, clk)

	v := lookupBound(t, n, "/users/80").Addr
	res.set("users", fakeAnswer{ips: []string{"10.0.0.2"}, ttl: 2 * time.Second})
	clk.Advance(2 * time.Second) // the record's TTL, far below Config.TTL
	ch := v.Changed()
	v.Sample()
	waitChanged(t, ch)
	assert.Equal(t, []string{"10.0.0.2:80"}, hostsOf(v.Peek()))
}

func TestInetErrorKeepsLastGood(t *testing.T) {
	res := newFakeResolver()
	res.set("users", fakeAnswer{ips: []string{"10.0.0.1"}})
	clk := clock.NewFake(t0)
	n := newInet(t, res, clk)
	v := lookupBound(t, n, "/users/80").Addr
	good := v.Peek()

	tests := []struct {
		name string
		err  error
	}{
		{name: "not found", err: &net.DNSError{Err: "no such host", Name: "users", IsNotFound: true}},
		{name: "timeout", err: &net.DNSError{Err: "i/o timeout", Name: "users", IsTimeout: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res.set("users", fakeAnswer{err: tt.err})
			clk.Advance(inet.DefaultTTL)
			calls := res.callCount("users")
			v.Sample()
			waitChanged(t, n.Idle("users"))
			assert.Equal(t, calls+1, res.callCount("users"))
			assert.Equal(t, good, v.Peek(), "last good set kept")
			st := n.State()
			require.Len(t, st, 1)
			assert.Contains(t, st[0].LastError, tt.err.Error())
			assert.Equal(t, []string{"10.0.0.1"}, st[0].Addresses)
		})
	}

	// A failure is retried after ErrorTTL, not after the full TTL.
	res.set("users", fakeAnswer{ips: []string{"10.0.0.3"}})
	clk.Advance(inet.DefaultErrorTTL)
	ch := v.Changed()
	v.Sample()
	waitChanged(t, ch)
	assert.Equal(t, []string{"10.0.0.3:80"}, hostsOf(v.Peek()))
	assert.Empty(t, n.State()[0].LastError)
}

func TestInetFirstLookupFails(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		state name.AddrState
	}{
		{name: "no such host", state: name.AddrNeg},
		{name: "server failure", err: &net.DNSError{Err: "server misbehaving", Name: "users", IsTemporary: true}, state: name.AddrFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newFakeResolver()
			if tt.err != nil {
				res.set("users", fakeAnswer{err: tt.err})
			}
			clk := clock.NewFake(t0)
			n := newInet(t, res, clk)

			b := lookupBound(t, n, "/users/80")
			a := b.Addr.Peek()
			assert.Equal(t, tt.state, a.State)
			require.Error(t, a.Err)
			assert.Contains(t, a.Err.Error(), `inet: resolve "users"`)

			// The host appears later: the next use after ErrorTTL binds it.
			res.set("users", fakeAnswer{ips: []string{"10.0.0.1"}})
			clk.Advance(inet.DefaultErrorTTL)
			ch := b.Addr.Changed()
			b.Addr.Sample()
			waitChanged(t, ch)
			assert.Equal(t, name.AddrBound, b.Addr.Peek().State)
		})
	}
}

func TestInetLookupRespectsContext(t *testing.T) {
	res := newFakeResolver()
	res.set("slow", fakeAnswer{ips: []string{"10.0.0.1"}})
	gate := res.hold()
	n := newInet(t, res, clock.NewFake(t0))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := n.Lookup(ctx, name.Path{"slow", "80"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), `inet: resolve "slow"`)

	// Concurrent lookups and uses share the one resolution in flight.
	v := lookupVarAsync(t, n, name.Path{"slow", "80"})
	close(gate)
	b := <-v
	assert.Equal(t, []string{"10.0.0.1:80"}, hostsOf(b.Addr.Peek()))
	assert.Equal(t, 1, res.callCount("slow"))
}

func lookupVarAsync(t *testing.T, n name.Namer, p name.Path) <-chan name.Bound {
	out := make(chan name.Bound, 1)
	go func() {
		tree, err := n.Lookup(context.Background(), p)
		if err != nil || tree.Kind != name.Leaf {
			t.Errorf("lookup %s: %v %v", p, tree.Kind, err)
			close(out)
			return
		}
		out <- tree.Value
	}()
	return out
}

func TestInetResolveTimeout(t *testing.T) {
	res := newFakeResolver()
	res.hold() // never opened: the lookup hangs
	n, err := inet.NewInet(inet.Config{Resolver: res, Timeout: time.Millisecond, Logger: quiet})
	require.NoError(t, err)
	b := lookupBound(t, n, "/hang/80")
	a := b.Addr.Peek()
	assert.Equal(t, name.AddrFailed, a.State)
	assert.ErrorIs(t, a.Err, context.DeadlineExceeded)
}

func TestNewInetRejectsNegativeDurations(t *testing.T) {
	_, err := inet.NewInet(inet.Config{TTL: -time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.TTL")
	assert.False(t, errors.Is(err, inet.ErrInvalidPath))
}
