// Package inet holds slinkerd's system namers: /$/inet binds a host and a
// port to addresses, /$/nil binds to an empty set and /$/fail fails.
// System returns them with their prefixes, ready to be registered.
//
// Host names are resolved through an injectable Resolver and cached per
// host, in a bounded cache (Config.MaxNames, Config.IdleAfter). A cached
// set is refreshed lazily, when a name that uses it is sampled after its
// TTL: Lambda freezes background goroutines between invocations, so
// nothing here relies on a timer.
package inet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
)

// Defaults for Config.
const (
	// DefaultTTL is how long a resolved set is used before it is refreshed.
	DefaultTTL = 30 * time.Second
	// DefaultErrorTTL is how long a failed resolution is remembered.
	DefaultErrorTTL = 5 * time.Second
	// DefaultTimeout bounds one resolution.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxNames caps the cached host name and port pairs.
	DefaultMaxNames = 10000
	// DefaultIdleAfter is how long an unused host name stays cached.
	DefaultIdleAfter = 10 * time.Minute
)

// ErrInvalidPath is wrapped by Lookup's error for a path that is not
// <host>/<port>[/residual…] with a valid host and port.
var ErrInvalidPath = errors.New("inet: invalid path")

// Resolver resolves host names to IP addresses. *net.Resolver implements
// it. network is "ip" (both A and AAAA records).
type Resolver interface {
	// LookupNetIP returns the IP addresses of host.
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// TTLResolver is an optional ability of a Resolver that knows how long
// its answer may be cached, e.g. a DNS client that reads record TTLs. When
// Config.Resolver implements it, Inet uses it instead of LookupNetIP and
// caches each answer for the TTL it returns (Config.TTL when that is not
// positive).
type TTLResolver interface {
	// LookupNetIPTTL returns the IP addresses of host (A and AAAA) and how
	// long they may be cached.
	LookupNetIPTTL(ctx context.Context, host string) ([]netip.Addr, time.Duration, error)
}

// Config configures Inet. The zero value is ready to use.
type Config struct {
	// Resolver resolves host names. Defaults to net.DefaultResolver.
	Resolver Resolver
	// TTL is how long a resolved address set is served before the next use
	// of a name refreshes it in the background (the stale set is served
	// meanwhile). Go's resolver does not report record TTLs, so this is
	// fixed unless Resolver implements TTLResolver. Defaults to 30s.
	TTL time.Duration
	// ErrorTTL is how long a failed resolution is remembered before the
	// next use retries it. Defaults to 5s.
	ErrorTTL time.Duration
	// Timeout bounds one resolution, whoever waits for it. Defaults to 10s.
	Timeout time.Duration
	// MaxNames caps the cache: the host name and port pairs bound (each
	// has a Var of a few hundred bytes). Past it, the least recently used
	// host names are dropped, down to 90% of it. Names come from the dtab
	// but also from callers (a Host header under a /$/inet dentry) and
	// admin visitors (/delegator.json), so the cap bounds what they can
	// make slinkerd keep. Defaults to 10000; negative is refused.
	MaxNames int
	// IdleAfter drops a host name from the cache once it has not been
	// looked up, nor its Vars sampled, for this long. Defaults to 10m.
	//
	// A dropped name's Vars keep working (and refreshing) for whoever
	// holds them; the next Lookup of the name resolves it afresh.
	IdleAfter time.Duration
	// Clock tells the time for TTLs. Defaults to the system clock.
	Clock clock.Clock
	// Logger receives resolution failures. Defaults to slog.Default().
	Logger *slog.Logger
}

// Inet is the /$/inet namer. It receives <host>/<port>[/residual…] and
// binds it to the bound ID /$/inet/<host>/<port>: an IP literal to
// itself, a host name to all of its A and AAAA records.
//
// As Finagle's, the result is always a Leaf; a host that does not exist
// shows in the Var as AddrNeg (AddrFailed for other resolution errors),
// with Addr.Err saying why in both cases. Once a host has resolved, a
// later failure keeps its last good set. Each host name and port has one
// Var, shared by all lookups; an IP literal gets a new, constant Var.
//
// The cache of host names is bounded by Config.MaxNames and
// Config.IdleAfter. Inet is safe for concurrent use.
type Inet struct {
	res       Resolver
	ttlRes    TTLResolver
	ttl       time.Duration
	errorTTL  time.Duration
	timeout   time.Duration
	maxNames  int
	idleAfter time.Duration
	clk       clock.Clock
	log       *slog.Logger

	mu        sync.Mutex
	hosts     map[string]*host
	size      int       // host name and port pairs in hosts
	lastSweep time.Time // when idle hosts were last dropped
}

// host is the cache entry of one host name, shared by the Vars of all its
// ports.
type host struct {
	name     string
	flight   namerkit.Flight
	lastUsed atomic.Int64 // unix ns of the last Lookup or Sample
	nports   int          // ports counted in Inet.size; guarded by Inet.mu

	mu          sync.Mutex
	ips         []netip.Addr // last good set, sorted; nil before the first success
	good        bool         // ips holds a successful answer
	lastRefresh time.Time    // when the last resolution finished
	expires     time.Time    // when the next use refreshes; zero: at once
	lastErr     error        // error of the last resolution, nil if it succeeded
	ports       map[int]*name.Var
}

// NewInet returns an Inet namer configured by cfg.
func NewInet(cfg Config) (*Inet, error) {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"TTL", cfg.TTL}, {"ErrorTTL", cfg.ErrorTTL}, {"Timeout", cfg.Timeout}, {"IdleAfter", cfg.IdleAfter}} {
		if d.v < 0 {
			return nil, fmt.Errorf("inet: Config.%s is %s: must not be negative", d.field, d.v)
		}
	}
	if cfg.MaxNames < 0 {
		return nil, fmt.Errorf("inet: Config.MaxNames is %d: must not be negative", cfg.MaxNames)
	}
	n := &Inet{
		res:       cfg.Resolver,
		ttl:       cmp.Or(cfg.TTL, DefaultTTL),
		errorTTL:  cmp.Or(cfg.ErrorTTL, DefaultErrorTTL),
		timeout:   cmp.Or(cfg.Timeout, DefaultTimeout),
		maxNames:  cmp.Or(cfg.MaxNames, DefaultMaxNames),
		idleAfter: cmp.Or(cfg.IdleAfter, DefaultIdleAfter),
		clk:       clock.Or(cfg.Clock),
		log:       cfg.Logger,
		hosts:     map[string]*host{},
	}
	if n.res == nil {
		n.res = net.DefaultResolver
	}
	n.ttlRes, _ = n.res.(TTLResolver)
	if n.log == nil {
		n.log = slog.Default()
	}
	return n, nil
}

// Lookup binds <host>/<port>[/residual…]. For a host name it waits for the
// first resolution of that host, or until ctx is done (then it returns
// ctx's error; the resolution goes on and serves later lookups).
func (n *Inet) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	if len(path) < 2 {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: expected /<host>/<port>", ErrInvalidPath, path)
	}
	canon, ip, err := namerkit.ParseHost(path[0])
	if err != nil {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: %w", ErrInvalidPath, path, err)
	}
	port, err := namerkit.ParsePort(path[1])
	if err != nil {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: %w", ErrInvalidPath, path, err)
	}
	b := name.Bound{
		ID:       name.Path{"$", "inet", path[0], path[1]},
		Residual: name.Path(nil).Concat(path[2:]),
	}
	if ip.IsValid() {
		b.Addr = name.NewVar(name.Addr{
			State:     name.AddrBound,
			Addresses: []name.Address{{Host: canon, Port: port}},
		}, nil)
		return name.NewLeaf(b), nil
	}

	h, v := n.entry(canon, port)
	b.Addr = v
	n.maybeRefresh(h)
	// Wait for the resolution itself to end, not only for its first
	// publication, so that a use right after Lookup can start the next one.
	for b.Addr.Peek().State == name.AddrPending {
		select {
		case <-h.flight.Idle():
		case <-ctx.Done():
			return name.Tree[name.Bound]{}, fmt.Errorf("inet: resolve %q: %w", canon, ctx.Err())
		}
		if b.Addr.Peek().State == name.AddrPending && !n.maybeRefresh(h) {
			return name.Tree[name.Bound]{}, fmt.Errorf("inet: resolve %q: no answer", canon)
		}
	}
	return name.NewLeaf(b), nil
}

// entry returns the cache entry of a host name and the Var of one of its
// ports, creating them, and keeps the cache within its bounds.
func (n *Inet) entry(hostname string, port int) (*host, *name.Var) {
	now := n.clk.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[hostname]
	if h == nil {
		h = &host{name: hostname, ports: map[int]*name.Var{}}
		n.hosts[hostname] = h
	}
	h.lastUsed.Store(now.UnixNano())
	h.mu.Lock()
	v := h.ports[port]
	if v == nil {
		v = name.NewVar(h.addrLocked(port), func() { n.maybeRefresh(h) })
		h.ports[port] = v
		h.nports++
		n.size++
	}
	h.mu.Unlock()
	n.trimLocked(now)
	return h, v
}

// trimLocked drops host names idle for IdleAfter (checking at most twice
// per IdleAfter) and, past MaxNames, the least recently used ones. n.mu
// must be held.
func (n *Inet) trimLocked(now time.Time) {
	var idleBefore int64
	if now.Sub(n.lastSweep) >= n.idleAfter/2 {
		n.lastSweep = now
		idleBefore = now.Add(-n.idleAfter).UnixNano()
	}
	if idleBefore == 0 && n.size <= n.maxNames {
		return
	}
	n.size = namerkit.Trim(n.hosts, n.size, n.maxNames, idleBefore,
		func(h *host) int64 { return h.lastUsed.Load() },
		func(h *host) int { return h.nports })
}

// maybeRefresh starts a background resolution of h if its data has
// expired and none is running, and reports whether it started one. It
// never blocks: it is the Vars' onUse hook.
func (n *Inet) maybeRefresh(h *host) bool {
	now := n.clk.Now()
	h.lastUsed.Store(now.UnixNano())
	h.mu.Lock()
	due := !now.Before(h.expires)
	h.mu.Unlock()
	return due && h.flight.Start(func() { n.resolve(h) })
}

// resolve looks h up once and publishes the result to all its ports.
func (n *Inet) resolve(h *host) {
	// Detached from any caller: several lookups and samples share it.
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	ips, ttl, err := n.lookup(ctx, h.name)
	if ttl <= 0 {
		ttl = n.ttl
	}

	now := n.clk.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastRefresh = now
	if err != nil {
		h.lastErr = fmt.Errorf("inet: resolve %q: %w", h.name, err)
		h.expires = now.Add(n.errorTTL)
		if h.good {
			n.log.Warn("inet: resolution failed; serving the last good addresses",
				"host", h.name, "addresses", len(h.ips), "error", err)
			return
		}
		n.log.Warn("inet: resolution failed", "host", h.name, "error", err)
	} else {
		h.ips, h.good, h.lastErr = ips, true, nil
		h.expires = now.Add(ttl)
	}
	for port, v := range h.ports {
		namerkit.Publish(v, h.addrLocked(port))
	}
}

// lookup resolves hostname to a sorted, de-duplicated, non-empty set.
func (n *Inet) lookup(ctx context.Context, hostname string) ([]netip.Addr, time.Duration, error) {
	var (
		ips []netip.Addr
		ttl time.Duration
		err error
	)
	if n.ttlRes != nil {
		ips, ttl, err = n.ttlRes.LookupNetIPTTL(ctx, hostname)
	} else {
		ips, err = n.res.LookupNetIP(ctx, "ip", hostname)
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		// net.Resolver may return IPv4 addresses in their IPv4-mapped form.
		out = append(out, ip.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, 0, &net.DNSError{Err: "no addresses", Name: hostname, IsNotFound: true}
	}
	return out, ttl, nil
}

// addrLocked returns the snapshot for one port of h. h.mu must be held.
func (h *host) addrLocked(port int) name.Addr {
	switch {
	case h.good:
		addrs := make([]name.Address, len(h.ips))
		for i, ip := range h.ips {
			addrs[i] = name.Address{Host: ip.String(), Port: port}
		}
		return name.Addr{State: name.AddrBound, Addresses: addrs}
	case h.lastErr == nil:
		return name.Addr{State: name.AddrPending}
	case isNotFound(h.lastErr):
		return name.Addr{State: name.AddrNeg, Err: h.lastErr}
	default:
		return name.Addr{State: name.AddrFailed, Err: h.lastErr}
	}
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// HostState is a snapshot of one cached host name, for the admin server.
type HostState struct {
	// Host is the host name.
	Host string `json:"host"`
	// Ports are the ports bound for this host, ascending.
	Ports []int `json:"ports"`
	// Addresses is the last good set, empty before the first success.
	Addresses []string `json:"addresses"`
	// LastRefresh is when the last resolution finished; zero before then.
	LastRefresh time.Time `json:"lastRefresh"`
	// Age is how long ago LastRefresh was, by the namer's clock.
	Age time.Duration `json:"age"`
	// LastError is the error of the last resolution; empty if it succeeded.
	LastError string `json:"lastError,omitempty"`
}

// State returns a snapshot of every cached host name, sorted by name.
func (n *Inet) State() []HostState {
	n.mu.Lock()
	hosts := make([]*host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hosts = append(hosts, h)
	}
	n.mu.Unlock()
	slices.SortFunc(hosts, func(a, b *host) int { return cmp.Compare(a.name, b.name) })

	now := n.clk.Now()
	out := make([]HostState, 0, len(hosts))
	for _, h := range hosts {
		h.mu.Lock()
		s := HostState{Host: h.name, LastRefresh: h.lastRefresh}
		for p := range h.ports {
			s.Ports = append(s.Ports, p)
		}
		for _, ip := range h.ips {
			s.Addresses = append(s.Addresses, ip.String())
		}
		if !h.lastRefresh.IsZero() {
			s.Age = now.Sub(h.lastRefresh)
		}
		if h.lastErr != nil {
			s.LastError = h.lastErr.Error()
		}
		h.mu.Unlock()
		slices.Sort(s.Ports)
		out = append(out, s)
	}
	return out
}

var _ name.Namer = (*Inet)(nil)
