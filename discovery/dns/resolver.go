// Package dns resolves names with their record TTLs: a Resolver (A, AAAA
// and SRV over the DNS wire protocol, with github.com/miekg/dns) that the
// /$/inet namer uses through inet.TTLResolver, and the io.l5d.dnssrv namer,
// /#/io.l5d.dnssrv/<srv name>, which binds SRV records to endpoints.
//
// The Resolver reads /etc/resolv.conf (servers, search list, ndots) and
// /etc/hosts as the system resolver does: a name in the hosts file is
// answered from it (with no TTL of its own, so the namer's TTL applies);
// other names are asked of the servers in order, over UDP, again over TCP
// when the answer is truncated. Without a usable resolv.conf it falls back
// to Go's resolver (which reports no TTLs).
package dns

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/slinkerd/slinkerd/discovery/inet"
)

// Defaults for ResolverConfig.
const (
	// DefaultResolvConf is where the servers and search list are read.
	DefaultResolvConf = "/etc/resolv.conf"
	// DefaultHostsFile is the hosts file.
	DefaultHostsFile = "/etc/hosts"
	// DefaultMinTTL is the least time an answer is cached.
	DefaultMinTTL = time.Second
	// DefaultQueryTimeout bounds one query to one server.
	DefaultQueryTimeout = 2 * time.Second
)

// ResolverConfig configures a Resolver. The zero value is ready to use.
type ResolverConfig struct {
	// Servers are the DNS servers, host:port, asked in order. Defaults to
	// the nameservers of ResolvConf.
	Servers []string
	// Search is the search list for names with fewer than Ndots dots.
	// Defaults to ResolvConf's (empty when Servers is set).
	Search []string
	// Ndots is resolv.conf's ndots. Defaults to ResolvConf's, or 1.
	Ndots int
	// ResolvConf is the resolv.conf file read when Servers is empty.
	// Defaults to /etc/resolv.conf.
	ResolvConf string
	// HostsFile is consulted before DNS; "-" turns it off. Defaults to
	// /etc/hosts.
	HostsFile string
	// MinTTL is the least time an answer is cached, whatever its records
	// say. Defaults to 1s.
	MinTTL time.Duration
	// MaxTTL caps how long an answer is cached; 0 means no cap. Defaults
	// to 0 (slinkerd passes SLINKERD_DISCOVERY_TTL).
	MaxTTL time.Duration
	// QueryTimeout bounds one query to one server. Defaults to 2s.
	QueryTimeout time.Duration
	// Fallback answers when no DNS server is configured (no usable
	// resolv.conf). Defaults to net.DefaultResolver.
	Fallback inet.Resolver
}

// Resolver looks up A, AAAA and SRV records with their TTLs. It is safe
// for concurrent use.
type Resolver struct {
	cfg    ResolverConfig
	udp    *mdns.Client
	tcp    *mdns.Client
	search []string
	ndots  int

	hostsOnce sync.Once
	hosts     map[string][]netip.Addr
}

// NewResolver returns a Resolver, reading resolv.conf when Servers is
// empty. A missing resolv.conf is not an error: lookups then go to
// Fallback.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.MinTTL < 0 || cfg.MaxTTL < 0 || cfg.QueryTimeout < 0 {
		return nil, fmt.Errorf("dns: MinTTL %s, MaxTTL %s and QueryTimeout %s must not be negative", cfg.MinTTL, cfg.MaxTTL, cfg.QueryTimeout)
	}
	cfg.MinTTL = cmp.Or(cfg.MinTTL, DefaultMinTTL)
	cfg.QueryTimeout = cmp.Or(cfg.QueryTimeout, DefaultQueryTimeout)
	cfg.HostsFile = cmp.Or(cfg.HostsFile, DefaultHostsFile)
	if cfg.Fallback == nil {
		cfg.Fallback = net.DefaultResolver
	}
	r := &Resolver{cfg: cfg, search: cfg.Search, ndots: cfg.Ndots}
	if len(cfg.Servers) == 0 {
		cc, err := mdns.ClientConfigFromFile(cmp.Or(cfg.ResolvConf, DefaultResolvConf))
		if err == nil {
			for _, s := range cc.Servers {
				r.cfg.Servers = append(r.cfg.Servers, net.JoinHostPort(s, cmp.Or(cc.Port, "53")))
			}
			if r.search == nil {
				r.search = cc.Search
			}
			if r.ndots == 0 {
				r.ndots = cc.Ndots
			}
		}
	}
	r.ndots = cmp.Or(r.ndots, 1)
	r.udp = &mdns.Client{Net: "udp", Timeout: cfg.QueryTimeout, UDPSize: 1232}
	r.tcp = &mdns.Client{Net: "tcp", Timeout: cfg.QueryTimeout}
	return r, nil
}

// LookupNetIP implements inet.Resolver (network "ip", "ip4" or "ip6").
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	ips, _, err := r.lookupIP(ctx, network, host)
	return ips, err
}

// LookupNetIPTTL implements inet.TTLResolver: the A and AAAA addresses of
// host and how long they may be cached (the least TTL of the records,
// CNAMEs included, within MinTTL and MaxTTL; 0 for a hosts-file answer).
func (r *Resolver) LookupNetIPTTL(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return r.lookupIP(ctx, "ip", host)
}

func (r *Resolver) lookupIP(ctx context.Context, network, host string) ([]netip.Addr, time.Duration, error) {
	if ips := r.fromHosts(host, network); len(ips) > 0 {
		return ips, 0, nil
	}
	if len(r.cfg.Servers) == 0 {
		ips, err := r.cfg.Fallback.LookupNetIP(ctx, network, host)
		return ips, 0, err
	}
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{mdns.TypeA}
	case "ip6":
		types = []uint16{mdns.TypeAAAA}
	default:
		types = []uint16{mdns.TypeA, mdns.TypeAAAA}
	}
	var lastErr error
	for _, fqdn := range r.names(host) {
		ips, ttl, err := r.queryIPs(ctx, fqdn, types)
		if err == nil && len(ips) > 0 {
			return ips, r.clamp(ttl), nil
		}
		if err != nil && !isNotFound(err) {
			lastErr = err
		}
	}
	if lastErr != nil {
		return nil, 0, lastErr
	}
	return nil, 0, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// queryIPs asks for each type at once and merges the answers.
func (r *Resolver) queryIPs(ctx context.Context, fqdn string, types []uint16) ([]netip.Addr, time.Duration, error) {
	type answer struct {
		ips []netip.Addr
		ttl time.Duration
		err error
	}
	out := make([]answer, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, err := r.exchange(ctx, fqdn, t)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].ips, out[i].ttl = addrsOf(msg.Answer, "")
		}()
	}
	wg.Wait()
	var (
		ips  []netip.Addr
		ttl  time.Duration
		errs []error
	)
	for _, a := range out {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		if len(a.ips) > 0 {
			ips = append(ips, a.ips...)
			ttl = minTTL(ttl, a.ttl)
		}
	}
	if len(ips) > 0 {
		slices.SortFunc(ips, netip.Addr.Compare)
		return slices.Compact(ips), ttl, nil
	}
	if len(errs) > 0 {
		return nil, 0, errors.Join(errs...)
	}
	return nil, 0, &net.DNSError{Err: "no such host", Name: fqdn, IsNotFound: true}
}

// addrsOf returns the A and AAAA addresses among rrs (of owner, when not
// empty) and the least TTL among them and any CNAME.
func addrsOf(rrs []mdns.RR, owner string) ([]netip.Addr, time.Duration) {
	var (
		ips []netip.Addr
		ttl time.Duration
	)
	for _, rr := range rrs {
		h := rr.Header()
		if owner != "" && !strings.EqualFold(h.Name, owner) {
			continue
		}
		var ip net.IP
		switch v := rr.(type) {
		case *mdns.A:
			ip = v.A
		case *mdns.AAAA:
			ip = v.AAAA
		case *mdns.CNAME:
			ttl = minTTL(ttl, time.Duration(h.Ttl)*time.Second)
			continue
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			ips = append(ips, a.Unmap())
			ttl = minTTL(ttl, time.Duration(h.Ttl)*time.Second)
		}
	}
	return ips, ttl
}

// SRV is one SRV record.
type SRV struct {
	// Target is the host name, fully qualified.
	Target string
	// Port, Priority and Weight are the record's.
	Port, Priority, Weight uint16
	// Addrs are the target's addresses when the answer's additional
	// section carried them.
	Addrs []netip.Addr
}

// LookupSRV returns the SRV records of name (the search list applies as
// for host names) and how long they may be cached (the least TTL of the
// SRV records and of the addresses that came with them).
func (r *Resolver) LookupSRV(ctx context.Context, name string) ([]SRV, time.Duration, error) {
	if len(r.cfg.Servers) == 0 {
		return nil, 0, errors.New("dns: no DNS server configured (no usable resolv.conf)")
	}
	var lastErr error
	for _, fqdn := range r.names(name) {
		msg, err := r.exchange(ctx, fqdn, mdns.TypeSRV)
		if err != nil {
			if !isNotFound(err) {
				lastErr = err
			}
			continue
		}
		var (
			out []SRV
			ttl time.Duration
		)
		for _, rr := range msg.Answer {
			s, ok := rr.(*mdns.SRV)
			if !ok {
				continue
			}
			ttl = minTTL(ttl, time.Duration(s.Hdr.Ttl)*time.Second)
			rec := SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight}
			if ips, t := addrsOf(msg.Extra, s.Target); len(ips) > 0 {
				rec.Addrs = ips
				ttl = minTTL(ttl, t)
			}
			out = append(out, rec)
		}
		if len(out) > 0 {
			return out, r.clamp(ttl), nil
		}
	}
	if lastErr != nil {
		return nil, 0, lastErr
	}
	return nil, 0, &net.DNSError{Err: "no SRV records", Name: name, IsNotFound: true}
}

// exchange asks the servers in order for one record type, falling back to
// TCP on truncation. NXDOMAIN and NODATA are *net.DNSError with
// IsNotFound.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	var errs []error
	for _, srv := range r.cfg.Servers {
		resp, _, err := r.udp.ExchangeContext(ctx, m, srv)
		if err == nil && resp.Truncated {
			resp, _, err = r.tcp.ExchangeContext(ctx, m, srv)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", srv, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch resp.Rcode {
		case mdns.RcodeSuccess:
			if len(resp.Answer) == 0 {
				return nil, &net.DNSError{Err: "no records", Name: fqdn, Server: srv, IsNotFound: true}
			}
			return resp, nil
		case mdns.RcodeNameError:
			return nil, &net.DNSError{Err: "no such host", Name: fqdn, Server: srv, IsNotFound: true}
		default:
			errs = append(errs, fmt.Errorf("%s: %s", srv, mdns.RcodeToString[resp.Rcode]))
		}
	}
	return nil, &net.DNSError{Err: fmt.Sprintf("lookup %s %s: %v", mdns.TypeToString[qtype], fqdn, errors.Join(errs...)), Name: fqdn, IsTemporary: true}
}

// names returns the fully qualified names to try for name, in order,
// following the search list and ndots as resolv.conf(5) says.
func (r *Resolver) names(name string) []string {
	if mdns.IsFqdn(name) {
		return []string{name}
	}
	fq := mdns.Fqdn(name)
	var out []string
	dots := strings.Count(name, ".")
	if dots >= r.ndots {
		out = append(out, fq)
	}
	for _, s := range r.search {
		out = append(out, fq+mdns.Fqdn(s))
	}
	if dots < r.ndots {
		out = append(out, fq)
	}
	return out
}

func (r *Resolver) clamp(ttl time.Duration) time.Duration {
	ttl = max(ttl, r.cfg.MinTTL)
	if r.cfg.MaxTTL > 0 {
		ttl = min(ttl, r.cfg.MaxTTL)
	}
	return ttl
}

// fromHosts answers host from the hosts file.
func (r *Resolver) fromHosts(host, network string) []netip.Addr {
	r.hostsOnce.Do(func() {
		if r.cfg.HostsFile != "-" {
			r.hosts = readHosts(r.cfg.HostsFile)
		}
	})
	var out []netip.Addr
	for _, ip := range r.hosts[strings.ToLower(strings.TrimSuffix(host, "."))] {
		if network == "ip4" && !ip.Is4() || network == "ip6" && !ip.Is6() {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// readHosts parses a hosts(5) file: "address name [aliases…]" per line,
// '#' comments. A missing file is empty.
func readHosts(path string) map[string][]netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string][]netip.Addr{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		ip = ip.WithZone("").Unmap()
		for _, n := range fields[1:] {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if !slices.Contains(out[n], ip) {
				out[n] = append(out[n], ip)
			}
		}
	}
	return out
}

func minTTL(a, b time.Duration) time.Duration {
	if a == 0 {
		return b
	}
	return min(a, b)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

var (
	_ inet.Resolver    = (*Resolver)(nil)
	_ inet.TTLResolver = (*Resolver)(nil)
)
