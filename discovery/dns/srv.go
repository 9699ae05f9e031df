package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
)

// ErrInvalidPath is wrapped by the SRV namer's Lookup error for a
// malformed path.
var ErrInvalidPath = errors.New("dnssrv: invalid path")

// zeroWeight is the weight of an SRV record of weight 0 in a group where
// others weigh more: RFC 2782 gives it "a very small chance" of selection.
const zeroWeight = 0.01

// SRVConfig configures an SRVNamer.
type SRVConfig struct {
	// Resolver looks the records up. Required.
	Resolver *Resolver
	// Prefix is the path the namer is registered under. Defaults to
	// /#/io.l5d.dnssrv.
	Prefix name.Path
	// Refresh configures the TTL (used when the records' TTL is unknown;
	// records' own TTLs apply otherwise, within the Resolver's MinTTL and
	// MaxTTL), backoff, the empty grace period and background refresh.
	// Its Namer defaults to "dnssrv".
	Refresh refresh.Config
	// Logger receives warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

// SRVNamer is the io.l5d.dnssrv namer: /#/io.l5d.dnssrv/<name>[/residual]
// binds the SRV records of <name> (e.g. _http._tcp.users.example.com) to
// endpoints: each record of the lowest priority becomes its target's
// addresses at the record's port, weighted by the record's weight (shared
// among the target's addresses). A name with no SRV records, or whose
// only record has the target ".", is Neg. Refresh follows the records'
// TTL, lazily on use; failures keep the last good set.
type SRVNamer struct {
	cfg   SRVConfig
	cache *refresh.Cache
	log   *slog.Logger
}

// NewSRV returns an SRVNamer.
func NewSRV(cfg SRVConfig) (*SRVNamer, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("dnssrv: SRVConfig.Resolver is required")
	}
	if cfg.Prefix == nil {
		cfg.Prefix = name.Path{"#", "io.l5d.dnssrv"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Refresh.Namer = cmp.Or(cfg.Refresh.Namer, "dnssrv")
	if cfg.Refresh.Logger == nil {
		cfg.Refresh.Logger = cfg.Logger
	}
	cache, err := refresh.New(cfg.Refresh)
	if err != nil {
		return nil, err
	}
	return &SRVNamer{cfg: cfg, cache: cache, log: cfg.Logger}, nil
}

// Close stops background refresh.
func (n *SRVNamer) Close() error { return n.cache.Close() }

// State returns each name's state, for /admin/discovery.json.
func (n *SRVNamer) State() []refresh.State { return n.cache.State() }

// Lookup binds <name>[/residual…]; the first lookup of a name waits for
// its first answer (or ctx).
func (n *SRVNamer) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	if len(path) < 1 {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: expected /<srv name>", ErrInvalidPath, path)
	}
	host, ip, err := namerkit.ParseHost(path[0])
	if err != nil || ip.IsValid() {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: %q is not a DNS name", ErrInvalidPath, path, path[0])
	}
	e, a, err := n.cache.Lookup(ctx, host, func() refresh.Source { return &srvSource{n: n, name: host} })
	if err != nil {
		return name.Tree[name.Bound]{}, err
	}
	if a.State == name.AddrNeg {
		return name.Tree[name.Bound]{}, nil
	}
	return name.NewLeaf(name.Bound{
		ID:       n.cfg.Prefix.Concat(path[:1]),
		Residual: name.Path(nil).Concat(path[1:]),
		Addr:     e.Var(),
	}), nil
}

type srvSource struct {
	n    *SRVNamer
	name string
}

func (s *srvSource) Fetch(ctx context.Context) (refresh.Result, error) {
	r := s.n.cfg.Resolver
	recs, ttl, err := r.LookupSRV(ctx, s.name)
	if err != nil {
		if isNotFound(err) {
			return refresh.Result{Neg: true}, nil
		}
		return refresh.Result{}, fmt.Errorf("dnssrv: lookup %s: %w", s.name, err)
	}
	if len(recs) == 1 && recs[0].Target == "." {
		return refresh.Result{Neg: true, TTL: ttl}, nil // "decidedly not available"
	}
	// Only the lowest priority is used; the others are fallbacks for when
	// it is unreachable, which failure accrual handles within the set.
	best := slices.MinFunc(recs, func(a, b SRV) int { return cmp.Compare(a.Priority, b.Priority) }).Priority
	recs = slices.DeleteFunc(recs, func(x SRV) bool { return x.Priority != best || x.Target == "." })
	anyWeight := slices.ContainsFunc(recs, func(x SRV) bool { return x.Weight > 0 })

	// Resolve the targets that came without addresses, concurrently.
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for i := range recs {
		if len(recs[i].Addrs) > 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ips, t, err := r.LookupNetIPTTL(ctx, strings.TrimSuffix(recs[i].Target, "."))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", recs[i].Target, err))
				return
			}
			recs[i].Addrs = ips
			if t > 0 {
				ttl = min(ttl, t)
			}
		}()
	}
	wg.Wait()

	var out []name.Address
	for _, rec := range recs {
		if len(rec.Addrs) == 0 {
			continue
		}
		w := 1.0
		if anyWeight {
			w = float64(rec.Weight)
			if rec.Weight == 0 {
				w = zeroWeight
			}
		}
		w /= float64(len(rec.Addrs))
		for _, ip := range rec.Addrs {
			out = append(out, name.Address{Host: ip.String(), Port: int(rec.Port), Weight: w})
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return refresh.Result{}, fmt.Errorf("dnssrv: lookup %s: %w", s.name, errors.Join(errs...))
	}
	for _, err := range errs {
		s.n.log.Warn("dnssrv: skipping an SRV target", "name", s.name, "error", err)
	}
	slices.SortFunc(out, func(a, b name.Address) int {
		return cmp.Or(netip.MustParseAddr(a.Host).Compare(netip.MustParseAddr(b.Host)), cmp.Compare(a.Port, b.Port))
	})
	out = slices.CompactFunc(out, func(a, b name.Address) bool { return a.Host == b.Host && a.Port == b.Port })
	return refresh.Result{Addrs: out, TTL: ttl}, nil
}

var (
	_ name.Namer     = (*SRVNamer)(nil)
	_ refresh.Source = (*srvSource)(nil)
)
