// Package bind is the name interpreter: it delegates a logical path through
// the base dtab (plus any per-request dentries) and binds the result with
// the configured namers, caching the bound trees so that the proxy's hot
// path does not delegate on every request.
//
// Cached trees hold live address Vars, so endpoint changes flow through
// without re-delegating; the tree shape itself (which names exist) is
// re-delegated after CacheTTL, so a name that appears later is found.
package bind

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
)

// Namers is an explicit registry of namers by prefix, such as /#/io.l5d.fs
// or /$/inet. It is a plain value: build one and pass it to New.
type Namers struct {
	entries []namerEntry
}

type namerEntry struct {
	prefix name.Path
	namer  name.Namer
}

// Add registers n under prefix (e.g. "/#/io.l5d.fs"). A longer prefix wins
// over a shorter one that also matches.
func (ns *Namers) Add(prefix string, n name.Namer) error {
	p, err := name.ParsePath(prefix)
	if err != nil {
		return fmt.Errorf("bind: namer prefix %q: %w", prefix, err)
	}
	if len(p) == 0 || (p[0] != "#" && p[0] != "$") {
		return fmt.Errorf("bind: namer prefix %q must start with /# or /$", prefix)
	}
	for _, e := range ns.entries {
		if e.prefix.Equal(p) {
			return fmt.Errorf("bind: namer prefix %q registered twice", prefix)
		}
	}
	ns.entries = append(ns.entries, namerEntry{prefix: p, namer: n})
	sort.SliceStable(ns.entries, func(i, j int) bool { return len(ns.entries[i].prefix) > len(ns.entries[j].prefix) })
	return nil
}

// Prefixes lists the registered prefixes, longest first.
func (ns *Namers) Prefixes() []string {
	out := make([]string, len(ns.entries))
	for i, e := range ns.entries {
		out[i] = e.prefix.String()
	}
	return out
}

// Lookup hands path to the namer whose prefix matches it, passing the rest
// of the path. A path no namer claims is negative.
func (ns *Namers) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	for _, e := range ns.entries {
		if path.HasPrefix(e.prefix) {
			return e.namer.Lookup(ctx, path[len(e.prefix):])
		}
	}
	return name.Tree[name.Bound]{}, nil
}

// claims says whether a namer is registered for path.
func (ns *Namers) claims(path string) bool {
	p, err := name.ParsePath(path)
	if err != nil {
		return false
	}
	for _, e := range ns.entries {
		if p.HasPrefix(e.prefix) {
			return true
		}
	}
	return false
}

// maxWhy caps how many negative paths an explanation names.
const maxWhy = 3

// explainNeg says why the delegation traced by st is negative: each path
// that ended negative, and why, at most maxWhy of them.
func (ns *Namers) explainNeg(st *name.Step) string {
	var why []string
	seen := map[string]bool{}
	var walk func(s *name.Step)
	walk = func(s *name.Step) {
		if s == nil || len(why) >= maxWhy {
			return
		}
		if s.Type == "neg" {
			var w string
			switch {
			case s.Path == "" && s.Dentry != nil:
				w = fmt.Sprintf("dtab entry %d (%s=>%s) makes it negative", s.Dentry.Index, s.Dentry.Prefix, s.Dentry.Dst)
			case s.Path == "":
				w = "negative (~)"
			case !strings.HasPrefix(s.Path, "/#") && !strings.HasPrefix(s.Path, "/$"):
				w = s.Path + ": no dtab entry matches it"
			case ns.claims(s.Path):
				w = s.Path + ": the namer has no such name"
			default:
				w = s.Path + ": no namer is configured for it"
			}
			if !seen[w] {
				seen[w] = true
				why = append(why, w)
			}
		}
		walk(s.Delegate)
		for _, c := range s.Alt {
			walk(c)
		}
		for _, c := range s.Union {
			walk(c)
		}
	}
	walk(st)
	return strings.Join(why, "; ")
}

// Config configures an Interpreter.
type Config struct {
	// Dtab is the base dtab. Defaults to empty.
	Dtab name.Dtab
	// Namers binds namer paths. If nil, only the dtab is consulted and
	// every namer path is negative.
	Namers *Namers
	// CacheTTL is how long a bound tree is reused before the path is
	// delegated again. Addresses inside it stay live regardless. Defaults
	// to 5s; negative disables the cache.
	CacheTTL time.Duration
	// MaxCacheEntries caps the cache; the oldest entries are dropped past
	// it. Defaults to 10000.
	MaxCacheEntries int
	// Clock reads time. Defaults to the real clock.
	Clock clock.Clock
}

// Interpreter binds logical paths to bound name trees.
type Interpreter struct {
	cfg Config
	clk clock.Clock
	// dtab is the base dtab, cfg.Dtab until SetDtab swaps it.
	dtab  atomic.Pointer[name.Dtab]
	hooks atomic.Pointer[Hooks]

	mu    sync.Mutex
	cache map[cacheKey]*cacheEntry
}

type cacheKey struct {
	local string // per-request dentries, in compact form
	path  string
}

type cacheEntry struct {
	res     Result
	err     error
	expires time.Time
	ready   chan struct{} // closed when res/err are set
}

// Result is a bound path, ready for balancing.
type Result struct {
	// Tree is the simplified bound tree.
	Tree name.Tree[name.Bound]
	// Kind is the evaluated outcome: Leaf (bound, possibly to nothing),
	// Neg or Fail.
	Kind name.Kind
	// Bounds are the bound names traffic is split across, with each one's
	// share (summing to 1 when any exist).
	Bounds []name.WeightedValue[name.Bound]
	// Why says, when Kind is Neg, which paths ended negative and why (no
	// dtab entry matches, no namer is configured, the namer has no such
	// name, a dentry negates it), for the proxy's error answer.
	Why string
}

// New returns an Interpreter.
func New(cfg Config) (*Interpreter, error) {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.MaxCacheEntries == 0 {
		cfg.MaxCacheEntries = 10000
	}
	if cfg.MaxCacheEntries < 0 {
		return nil, fmt.Errorf("bind: MaxCacheEntries %d must not be negative", cfg.MaxCacheEntries)
	}
	if cfg.Namers == nil {
		cfg.Namers = &Namers{}
	}
	in := &Interpreter{cfg: cfg, clk: clock.Or(cfg.Clock), cache: map[cacheKey]*cacheEntry{}}
	in.dtab.Store(&cfg.Dtab)
	return in, nil
}

// Dtab returns the base dtab.
func (in *Interpreter) Dtab() name.Dtab { return *in.dtab.Load() }

// SetDtab replaces the base dtab and drops the cached bound trees, so the
// next bind of every path delegates through d. Requests already bound
// keep the tree they hold.
func (in *Interpreter) SetDtab(d name.Dtab) {
	in.dtab.Store(&d)
	in.mu.Lock()
	clear(in.cache)
	in.mu.Unlock()
}

// Hooks let a dtab source follow the interpreter's use without a timer:
// see discovery/dtabsource.
type Hooks struct {
	// BeforeBind runs at the start of every Bind, with the time the bind
	// read. It must be cheap when it has nothing to do (the proxy's hot
	// path calls it); it may block, within ctx, for a dtab refresh.
	BeforeBind func(ctx context.Context, now time.Time)
	// Bound runs after a path (with no per-request dentries) was
	// delegated, not found in the cache, to a tree that is not negative.
	Bound func(path string, now time.Time)
}

// SetHooks installs h (nil removes them).
func (in *Interpreter) SetHooks(h *Hooks) { in.hooks.Store(h) }

// Namers returns the namer registry.
func (in *Interpreter) Namers() *Namers { return in.cfg.Namers }

// Bind delegates path through the base dtab followed by local (the
// per-request dentries, usually empty) and binds it, reusing a cached
// result when one is fresh. Concurrent binds of the same key share one
// delegation.
func (in *Interpreter) Bind(ctx context.Context, local name.Dtab, path name.Path) (Result, error) {
	return in.BindNamed(ctx, local, path, path.String())
}

// BindNamed is Bind for a caller that already has path's text form,
// pathText (the proxy does), saving its rendering on the hot path.
func (in *Interpreter) BindNamed(ctx context.Context, local name.Dtab, path name.Path, pathText string) (Result, error) {
	now := in.clk.Now()
	h := in.hooks.Load()
	if h != nil && h.BeforeBind != nil {
		h.BeforeBind(ctx, now)
	}
	if in.cfg.CacheTTL < 0 {
		res, err := in.bind(ctx, local, path)
		in.bound(h, local, pathText, res, err, now)
		return res, err
	}
	key := cacheKey{path: pathText}
	if len(local) > 0 {
		key.local = local.String()
	}
	in.mu.Lock()
	e, ok := in.cache[key]
	ready := false
	if ok {
		select {
		case <-e.ready:
			// expires was written before ready was closed.
			if now.After(e.expires) {
				ok = false
			}
			ready = true
		default: // in flight: share it
		}
	}
	if !ok {
		if len(in.cache) >= in.cfg.MaxCacheEntries {
			in.evictLocked(now)
		}
		e = &cacheEntry{ready: make(chan struct{})}
		in.cache[key] = e
		in.mu.Unlock()
		e.res, e.err = in.bind(ctx, local, path)
		if e.err != nil {
			// Do not cache failures: the next request tries again.
			in.mu.Lock()
			if in.cache[key] == e {
				delete(in.cache, key)
			}
			in.mu.Unlock()
		}
		e.expires = in.clk.Now().Add(in.cfg.CacheTTL)
		close(e.ready)
		in.bound(h, local, pathText, e.res, e.err, now)
		return e.res, e.err
	}
	in.mu.Unlock()
	if ready {
		// The common case: no wait, so no need for ctx.Done, which a
		// request's context may make on demand.
		return e.res, e.err
	}
	select {
	case <-e.ready:
		return e.res, e.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("bind %s: %w", path, ctx.Err())
	}
}

// evictLocked drops expired entries, or half the cache if none expired.
func (in *Interpreter) evictLocked(now time.Time) {
	n := 0
	for k, e := range in.cache {
		select {
		case <-e.ready:
		default:
			continue
		}
		if now.After(e.expires) || n%2 == 0 {
			delete(in.cache, k)
		}
		n++
	}
}

// bound tells h.Bound about a delegation with no per-request dentries
// that was not negative.
func (in *Interpreter) bound(h *Hooks, local name.Dtab, pathText string, res Result, err error, now time.Time) {
	if h != nil && h.Bound != nil && err == nil && len(local) == 0 && res.Kind != name.Neg {
		h.Bound(pathText, now)
	}
}

func (in *Interpreter) bind(ctx context.Context, local name.Dtab, path name.Path) (Result, error) {
	d := name.Delegator{Dtab: in.Dtab().Concat(local), Lookup: in.cfg.Namers.Lookup}
	t, _, err := d.Bind(ctx, path)
	if err != nil {
		return Result{}, err
	}
	t = name.Simplify(t)
	kind, bounds := name.Eval(t)
	res := Result{Tree: t, Kind: kind, Bounds: bounds}
	if kind == name.Neg {
		// Delegate again with the trace, only for a negative name (its
		// result is cached like any other), to say why.
		d.Trace = true
		if _, st, err := d.Bind(ctx, path); err == nil {
			res.Why = in.cfg.Namers.explainNeg(st)
		}
	}
	return res, nil
}

// Delegate is Bind without the cache and with the step-by-step trace, for
// the dtab playground and `slinkerd delegate`. dtab replaces the base dtab
// when not nil.
func (in *Interpreter) Delegate(ctx context.Context, dtab name.Dtab, path name.Path) (Result, *name.Step, error) {
	if dtab == nil {
		dtab = in.Dtab()
	}
	d := name.Delegator{Dtab: dtab, Lookup: in.cfg.Namers.Lookup, Trace: true}
	t, st, err := d.Bind(ctx, path)
	if err != nil {
		return Result{}, st, err
	}
	t = name.Simplify(t)
	kind, bounds := name.Eval(t)
	return Result{Tree: t, Kind: kind, Bounds: bounds}, st, nil
}
