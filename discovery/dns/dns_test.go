package dns_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dns"
	"github.com/slinkerd/slinkerd/discovery/inet"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
)

// zone is a tiny authoritative DNS server on 127.0.0.1 (UDP and TCP on
// the same port) that answers from records the test sets.
type zone struct {
	mu       sync.Mutex
	answers  map[string][]mdns.RR // "name type" -> answer
	extra    map[string][]mdns.RR
	names    map[string]bool
	truncate bool // answer UDP queries with TC set
	queries  atomic.Int64
	tcp      atomic.Int64
	addr     string
}

func startZone(t *testing.T) *zone {
	t.Helper()
	z := &zone{answers: map[string][]mdns.RR{}, extra: map[string][]mdns.RR{}, names: map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	for range 10 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	require.NotNil(t, pc, "no port free for both UDP and TCP")
	z.addr = pc.LocalAddr().String()
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return z
}

// set replaces the records of their names and types; text is in zone
// file syntax, e.g. "a.test. 30 IN A 10.0.0.1".
func (z *zone) set(t *testing.T, rrs ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range rrs {
		rr, err := mdns.NewRR(s)
		require.NoError(t, err)
		k := key(rr.Header().Name, rr.Header().Rrtype)
		if !seen[k] {
			z.answers[k] = nil
			seen[k] = true
		}
		z.answers[k] = append(z.answers[k], rr)
		z.names[strings.ToLower(rr.Header().Name)] = true
	}
}

// setExtra sets the additional section for a name and type.
func (z *zone) setExtra(t *testing.T, owner string, qtype uint16, rrs ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, s := range rrs {
		rr, err := mdns.NewRR(s)
		require.NoError(t, err)
		z.extra[key(owner, qtype)] = append(z.extra[key(owner, qtype)], rr)
	}
}

func (z *zone) clear(owner string, qtype uint16) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.answers, key(owner, qtype))
}

func key(n string, t uint16) string { return strings.ToLower(n) + " " + mdns.TypeToString[t] }

func (z *zone) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	z.queries.Add(1)
	_, isTCP := w.RemoteAddr().(*net.TCPAddr)
	if isTCP {
		z.tcp.Add(1)
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.truncate && !isTCP {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	// Follow CNAMEs as a recursive resolver would.
	qname := q.Name
	for range 8 {
		if cn := z.answers[key(qname, mdns.TypeCNAME)]; len(cn) > 0 && q.Qtype != mdns.TypeCNAME {
			m.Answer = append(m.Answer, cn...)
			qname = cn[0].(*mdns.CNAME).Target
			continue
		}
		break
	}
	m.Answer = append(m.Answer, z.answers[key(qname, q.Qtype)]...)
	m.Extra = append(m.Extra, z.extra[key(q.Name, q.Qtype)]...)
	if len(m.Answer) == 0 && !z.names[strings.ToLower(qname)] {
		m.Rcode = mdns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

func newResolver(t *testing.T, z *zone, mod func(*dns.ResolverConfig)) *dns.Resolver {
	t.Helper()
	cfg := dns.ResolverConfig{Servers: []string{z.addr}, HostsFile: "-", QueryTimeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	r, err := dns.NewResolver(cfg)
	require.NoError(t, err)
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLookupNetIPTTL(t *testing.T) {
	z := startZone(t)
	z.set(t,
		"a.test. 30 IN A 10.0.0.2", "a.test. 20 IN A 10.0.0.1", "a.test. 40 IN AAAA fd00::1",
		"alias.test. 5 IN CNAME a.test.",
		"users.svc.test. 60 IN A 10.1.0.1",
		"short.test. 0 IN A 10.2.0.1",
		"v6only.test. 50 IN AAAA fd00::2",
		"empty.test. 50 IN TXT \"x\"",
	)
	tests := []struct {
		name    string
		host    string
		mod     func(*dns.ResolverConfig)
		want    []string
		wantTTL time.Duration
		notFnd  bool
	}{
		{name: "A and AAAA, least TTL", host: "a.test", want: []string{"10.0.0.1", "10.0.0.2", "fd00::1"}, wantTTL: 20 * time.Second},
		{name: "CNAME TTL counts", host: "alias.test", want: []string{"10.0.0.1", "10.0.0.2", "fd00::1"}, wantTTL: 5 * time.Second},
		{name: "fully qualified", host: "a.test.", want: []string{"10.0.0.1", "10.0.0.2", "fd00::1"}, wantTTL: 20 * time.Second},
		{name: "search list", host: "users", mod: func(c *dns.ResolverConfig) { c.Search = []string{"nope.test", "svc.test"} }, want: []string{"10.1.0.1"}, wantTTL: time.Minute},
		{name: "MinTTL floor", host: "short.test", want: []string{"10.2.0.1"}, wantTTL: time.Second},
		{name: "MaxTTL cap", host: "a.test", mod: func(c *dns.ResolverConfig) { c.MaxTTL = 10 * time.Second }, want: []string{"10.0.0.1", "10.0.0.2", "fd00::1"}, wantTTL: 10 * time.Second},
		{name: "AAAA only", host: "v6only.test", want: []string{"fd00::2"}, wantTTL: 50 * time.Second},
		{name: "NXDOMAIN", host: "nosuch.test", notFnd: true},
		{name: "no address records", host: "empty.test", notFnd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, z, tt.mod)
			ips, ttl, err := r.LookupNetIPTTL(ctx(t), tt.host)
			if tt.notFnd {
				var de *net.DNSError
				require.ErrorAs(t, err, &de)
				assert.True(t, de.IsNotFound, "%v", err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantTTL, ttl)
		})
	}
}

func TestTruncatedAnswersRetryOverTCP(t *testing.T) {
	z := startZone(t)
	z.set(t, "a.test. 30 IN A 10.0.0.1")
	z.mu.Lock()
	z.truncate = true
	z.mu.Unlock()
	r := newResolver(t, z, nil)
	ips, _, err := r.LookupNetIPTTL(ctx(t), "a.test")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1")}, ips)
	assert.Positive(t, z.tcp.Load())
}

func TestHostsFileFirst(t *testing.T) {
	z := startZone(t)
	z.set(t, "web.test. 30 IN A 10.0.0.1")
	hosts := filepath.Join(t.TempDir(), "hosts")
	require.NoError(t, os.WriteFile(hosts, []byte("# comment\n127.0.0.1 localhost Web.Test\n::1 localhost ip6-localhost\n"), 0o644))
	r := newResolver(t, z, func(c *dns.ResolverConfig) { c.HostsFile = hosts })
	ips, ttl, err := r.LookupNetIPTTL(ctx(t), "web.test")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, ips)
	assert.Zero(t, ttl, "hosts answers have no TTL of their own")
	ips, err = r.LookupNetIP(ctx(t), "ip6", "localhost")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("::1")}, ips)
	assert.Zero(t, z.queries.Load())
}

func TestNoResolvConfFallsBack(t *testing.T) {
	r, err := dns.NewResolver(dns.ResolverConfig{ResolvConf: filepath.Join(t.TempDir(), "missing"), HostsFile: "-", Fallback: fixedResolver{netip.MustParseAddr("10.9.9.9")}})
	require.NoError(t, err)
	ips, ttl, err := r.LookupNetIPTTL(ctx(t), "anything.test")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.9.9.9")}, ips)
	assert.Zero(t, ttl, "the fallback reports no TTL: the namer's applies")
	_, _, err = r.LookupSRV(ctx(t), "_http._tcp.x.test")
	require.Error(t, err)
}

type fixedResolver []netip.Addr

func (f fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f, nil
}

// TestInetHonoursRecordTTLs runs the /$/inet namer on the Resolver: the
// record TTL, not the namer's, decides when a name is refreshed.
func TestInetHonoursRecordTTLs(t *testing.T) {
	z := startZone(t)
	z.set(t, "a.test. 5 IN A 10.0.0.1")
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n, err := inet.NewInet(inet.Config{Resolver: newResolver(t, z, nil), TTL: time.Minute, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	tree, err := n.Lookup(ctx(t), name.MustParsePath("/a.test/80"))
	require.NoError(t, err)
	v := tree.Value.Addr
	assert.Equal(t, "10.0.0.1", v.Peek().Addresses[0].Host)

	z.set(t, "a.test. 5 IN A 10.0.0.2")
	q := z.queries.Load()
	clk.Advance(4 * time.Second)
	v.Sample()
	assert.Equal(t, q, z.queries.Load(), "no query within the record's TTL")
	changed := v.Changed()
	clk.Advance(time.Second)
	v.Sample()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh after the record's TTL")
	}
	assert.Equal(t, "10.0.0.2", v.Peek().Addresses[0].Host, "after the record's TTL, not the namer's minute")
}

func newSRV(t *testing.T, z *zone, clk *clock.Fake) *dns.SRVNamer {
	t.Helper()
	n, err := dns.NewSRV(dns.SRVConfig{
		Resolver: newResolver(t, z, nil),
		Refresh:  refresh.Config{TTL: time.Minute, EmptyGrace: -1, Clock: clk},
		Logger:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func TestSRVNamer(t *testing.T) {
	z := startZone(t)
	z.set(t,
		"_http._tcp.users.test. 30 IN SRV 10 60 8080 a.users.test.",
		"_http._tcp.users.test. 30 IN SRV 10 20 8081 b.users.test.",
		"_http._tcp.users.test. 30 IN SRV 20 100 9999 backup.users.test.",
		"a.users.test. 30 IN A 10.0.0.1",
		"b.users.test. 30 IN A 10.0.0.2", "b.users.test. 30 IN A 10.0.0.3",
		"_http._tcp.zero.test. 30 IN SRV 0 0 80 a.users.test.",
		"_http._tcp.zero.test. 30 IN SRV 0 5 81 a.users.test.",
		"_http._tcp.none.test. 30 IN SRV 0 0 0 .",
		"_http._tcp.extra.test. 30 IN SRV 0 0 80 x.extra.test.",
	)
	z.setExtra(t, "_http._tcp.extra.test.", mdns.TypeSRV, "x.extra.test. 30 IN A 10.5.0.1")
	tests := []struct {
		name string
		path string
		want []name.Address
		neg  bool
	}{
		{name: "lowest priority, weights shared among a target's addresses", path: "/_http._tcp.users.test/rest", want: []name.Address{
			{Host: "10.0.0.1", Port: 8080, Weight: 60},
			{Host: "10.0.0.2", Port: 8081, Weight: 10},
			{Host: "10.0.0.3", Port: 8081, Weight: 10},
		}},
		{name: "weight zero among others", path: "/_http._tcp.zero.test", want: []name.Address{
			{Host: "10.0.0.1", Port: 80, Weight: 0.01},
			{Host: "10.0.0.1", Port: 81, Weight: 5},
		}},
		{name: "addresses from the additional section", path: "/_http._tcp.extra.test", want: []name.Address{
			{Host: "10.5.0.1", Port: 80, Weight: 1},
		}},
		{name: "target . is negative", path: "/_http._tcp.none.test", neg: true},
		{name: "no such name is negative", path: "/_http._tcp.nosuch.test", neg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newSRV(t, z, clock.NewFake(time.Now()))
			tree, err := n.Lookup(ctx(t), name.MustParsePath(tt.path))
			require.NoError(t, err)
			if tt.neg {
				assert.Equal(t, name.Neg, tree.Kind)
				return
			}
			require.Equal(t, name.Leaf, tree.Kind)
			assert.Equal(t, tt.want, tree.Value.Addr.Peek().Addresses)
		})
	}
	t.Run("bound ID and residual", func(t *testing.T) {
		n := newSRV(t, z, clock.NewFake(time.Now()))
		tree, err := n.Lookup(ctx(t), name.MustParsePath("/_http._tcp.users.test/a/b"))
		require.NoError(t, err)
		assert.Equal(t, "/#/io.l5d.dnssrv/_http._tcp.users.test", tree.Value.ID.String())
		assert.Equal(t, "/a/b", tree.Value.Residual.String())
	})
	t.Run("invalid", func(t *testing.T) {
		n := newSRV(t, z, clock.NewFake(time.Now()))
		for _, p := range []string{"/", "/10.0.0.1", `/bad\x21name`} {
			_, err := n.Lookup(ctx(t), name.MustParsePath(p))
			require.ErrorIs(t, err, dns.ErrInvalidPath, p)
		}
	})
}

func TestSRVRefreshByTTLAndLastGoodOnError(t *testing.T) {
	z := startZone(t)
	z.set(t, "_h._tcp.s.test. 10 IN SRV 0 0 80 a.s.test.", "a.s.test. 30 IN A 10.0.0.1")
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n := newSRV(t, z, clk)
	tree, err := n.Lookup(ctx(t), name.MustParsePath("/_h._tcp.s.test"))
	require.NoError(t, err)
	v := tree.Value.Addr
	wait := func() {
		v.Sample()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, n.WaitIdle(c))
	}
	q := z.queries.Load()
	z.set(t, "_h._tcp.s.test. 10 IN SRV 0 0 81 a.s.test.")
	clk.Advance(9 * time.Second)
	wait()
	assert.Equal(t, q, z.queries.Load(), "no query within the SRV TTL")
	assert.Equal(t, 80, v.Peek().Addresses[0].Port)
	clk.Advance(time.Second)
	wait()
	assert.Equal(t, 81, v.Peek().Addresses[0].Port, "refreshed at the SRV TTL (10s), not the namer's minute")

	// The target stops resolving: the last good set stays.
	z.clear("a.s.test.", mdns.TypeA)
	z.set(t, "a.s.test. 30 IN TXT \"gone\"")
	clk.Advance(10 * time.Second)
	wait()
	assert.Equal(t, 81, v.Peek().Addresses[0].Port)
	assert.NotEmpty(t, n.State()[0].LastError)
}
