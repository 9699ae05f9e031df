// Package fs implements the io.l5d.fs namer: /#/io.l5d.fs/<name> binds to
// the addresses listed in the file <name> of one directory (in slinkerd,
// SLINKERD_FS_DIR). ParseFile describes the file format.
//
// A missing file is Neg, so that dtab alternation falls back; a file that
// exists but lists nothing is bound to an empty set. A malformed file never
// takes addresses away: the namer keeps serving the last good set and
// reports the error (in the log and in State). A file that is emptied
// takes them away only once it has stayed empty for Config.EmptyGrace, as
// the other namers treat an empty answer from discovery.
//
// Changes arrive two ways. With Config.Watch, an fsnotify watcher on the
// directory pushes them as they happen: the mode for containers. In every
// mode, a name that is used when its data is older than Config.TTL is
// checked again in the background, first by stat (modification time, size
// and file identity) and by reading the file only when those changed. That
// pull path is what works on AWS Lambda, where goroutines and timers freeze
// between invocations.
//
// Replace files atomically (write a temporary file in the same directory,
// then rename it over the name): a reader may otherwise see a half-written
// file. The watcher waits a few milliseconds after an event before reading,
// which covers the usual truncate-then-write of a small file, but not a
// slow writer.
package fs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
)

// DefaultTTL is the default of Config.TTL.
const DefaultTTL = 5 * time.Second

// DefaultEmptyGrace is the default of Config.EmptyGrace.
const DefaultEmptyGrace = 60 * time.Second

// MaxFileSize is the largest name file the namer reads, in bytes; a larger
// file is an error (and the last good set is kept).
const MaxFileSize = 4 << 20

var (
	// ErrInvalidName is wrapped by Lookup's error for a name that is not a
	// single, plain file name.
	ErrInvalidName = errors.New("fs: invalid name")
	// ErrClosed is returned by Lookup after Close.
	ErrClosed = errors.New("fs: namer closed")
)

// Config configures a Namer.
type Config struct {
	// Dir is the directory holding one file per name; slinkerd takes it
	// from SLINKERD_FS_DIR. Required.
	Dir string
	// TTL is how old a name's data may grow before its next use checks the
	// file again, in the background. Defaults to 5s.
	TTL time.Duration
	// Clock tells the time for TTLs and State. Defaults to the system clock.
	Clock clock.Clock
	// Watch turns on push updates from an fsnotify watcher on Dir, which
	// needs a goroutine that keeps running (containers, Cloud Run with CPU
	// always allocated). If the watcher cannot start, New logs a warning
	// and the namer works by TTL alone. Defaults to false: TTL alone.
	Watch bool
	// EmptyGrace is how long a name file that lists no addresses must stay
	// so before it replaces a non-empty set; until then the last non-empty
	// set is served (a file that was empty from the start is bound to the
	// empty set at once). slinkerd takes it from
	// SLINKERD_DISCOVERY_EMPTY_GRACE. Defaults to 60s; negative means no
	// grace (an emptied file empties the set at once).
	EmptyGrace time.Duration
	// Logger receives file errors and changes. Defaults to slog.Default().
	Logger *slog.Logger
	// Prefix is the prefix of bound IDs: a name's ID is Prefix/<name>.
	// Defaults to /#/io.l5d.fs.
	Prefix name.Path
}

// Namer is the io.l5d.fs namer. It receives <name>[/residual…] and binds
// it to the bound ID /#/io.l5d.fs/<name>. Each name has one Var, shared by
// all lookups, for as long as the Namer lives. Namer is safe for
// concurrent use.
type Namer struct {
	dir    string
	ttl    time.Duration
	grace  time.Duration // 0: none
	clk    clock.Clock
	log    *slog.Logger
	prefix name.Path

	watcher   *fsnotify.Watcher // nil when not watching
	watchDone chan struct{}     // closed when the watch loop has exited

	mu      sync.RWMutex
	entries map[string]*entry // by name; only names whose file has existed
	closed  bool
}

// New returns a Namer for cfg.Dir, which must be a readable directory.
// Call Close to stop its watcher.
func New(cfg Config) (*Namer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("fs: Config.Dir is empty: set it to the directory of name files (SLINKERD_FS_DIR)")
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("fs: Config.TTL is %s: must not be negative", cfg.TTL)
	}
	dir := filepath.Clean(cfg.Dir)
	if err := checkDir(dir); err != nil {
		return nil, fmt.Errorf("fs: directory %s: %w", dir, err)
	}
	n := &Namer{
		dir:     dir,
		ttl:     cmp.Or(cfg.TTL, DefaultTTL),
		grace:   max(cmp.Or(cfg.EmptyGrace, DefaultEmptyGrace), 0),
		clk:     clock.Or(cfg.Clock),
		log:     cfg.Logger,
		prefix:  cfg.Prefix,
		entries: map[string]*entry{},
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if len(n.prefix) == 0 {
		n.prefix = name.Path{"#", "io.l5d.fs"}
	}
	if cfg.Watch {
		if err := n.startWatch(); err != nil {
			n.log.Warn("fs: cannot watch the directory; changes are seen on use after the TTL",
				"dir", dir, "ttl", n.ttl, "error", err)
		}
	}
	return n, nil
}

// checkDir reports why dir is not a readable directory.
func checkDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	if _, err := f.Readdirnames(1); err != nil && err != io.EOF {
		return fmt.Errorf("not readable: %w", err)
	}
	return nil
}

// checkName reports why nm cannot be a file name in the directory. Names
// are a single path segment; "." and ".." and names starting with '.'
// (hidden files, such as the "..data" links of Kubernetes volumes) are
// refused, as are separators and NUL.
func checkName(nm string) error {
	switch {
	case nm == "":
		return errors.New("empty")
	case strings.HasPrefix(nm, "."):
		return errors.New(`starts with "."`)
	case strings.ContainsAny(nm, `/\`+"\x00"):
		return errors.New("contains a path separator or NUL")
	}
	return nil
}

// Lookup binds <name>[/residual…]: Neg when the file does not exist, else
// a Leaf whose Var holds the file's addresses. A name not yet known, or
// whose file was missing, is checked on every Lookup, so that a file that
// appears later is found; known names are checked once their data is older
// than the TTL.
func (n *Namer) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	if err := ctx.Err(); err != nil {
		return name.Tree[name.Bound]{}, fmt.Errorf("fs: lookup %s: %w", path, err)
	}
	if len(path) == 0 {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w: missing /<name>", ErrInvalidName)
	}
	nm := path[0]
	if err := checkName(nm); err != nil {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %q: %s", ErrInvalidName, nm, err)
	}
	e, err := n.entry(nm)
	if err != nil || e == nil || !e.present() {
		return name.Tree[name.Bound]{}, err
	}
	return name.NewLeaf(name.Bound{
		ID:       n.prefix.Concat(name.Path{nm}),
		Residual: name.Path(nil).Concat(path[1:]),
		Addr:     e.v,
	}), nil
}

// entry returns the up-to-date entry of nm, creating it when the file
// exists, or nil when nm has no entry and no file.
func (n *Namer) entry(nm string) (*entry, error) {
	n.mu.RLock()
	e, closed := n.entries[nm], n.closed
	n.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if e != nil {
		if e.needsCheck(n.clk.Now()) {
			e.reload(false)
		}
		return e, nil
	}

	file := filepath.Join(n.dir, nm)
	r := n.read(file, stamp{}, true)
	if r.missing {
		return nil, nil // remember nothing for names that do not exist
	}
	e = &entry{n: n, name: nm, file: file}
	e.v = name.NewVar(name.Addr{}, e.onUse)
	e.apply(r)

	n.mu.Lock()
	if prev := n.entries[nm]; prev != nil {
		e = prev // a concurrent Lookup won
	} else {
		n.entries[nm] = e
	}
	n.mu.Unlock()
	if n.watcher != nil {
		// A watch event between our read and the insert found no entry;
		// a stat catches what it would have reloaded.
		e.reload(false)
	}
	return e, nil
}

// entry is the state of one name.
type entry struct {
	n      *Namer
	name   string
	file   string
	v      *name.Var
	flight namerkit.Flight

	loadMu sync.Mutex // serialises reload; held across file I/O

	mu          sync.Mutex // guards the fields below; never held across I/O
	exists      bool
	stamp       stamp               // of the file last read; zero when it must be read
	good        bool                // addrs holds a successful parse
	addrs       []name.Address      // last good set
	lastRefresh time.Time           // when the file was last checked
	lastErr     error               // error of the last check, nil if it succeeded
	transient   bool                // lastErr was about reaching the file
	empty       namerkit.EmptyGrace // the file lists nothing while addrs is kept
}

// stamp identifies a version of a file cheaply.
type stamp struct {
	fi os.FileInfo // nil: unknown
}

// same reports whether s and t are the same file with the same size and
// modification time.
func (s stamp) same(t stamp) bool {
	return s.fi != nil && t.fi != nil && os.SameFile(s.fi, t.fi) &&
		s.fi.Size() == t.fi.Size() && s.fi.ModTime().Equal(t.fi.ModTime())
}

// readResult is one check of a name's file.
type readResult struct {
	missing   bool
	unchanged bool  // the file has prev's stamp; nothing was read
	stamp     stamp // valid unless transient
	addrs     []name.Address
	err       error
	transient bool // err is about reaching the file, not its content
}

// read checks file: it stats it and, if force or its stamp differs from
// prev, reads and parses it.
func (n *Namer) read(file string, prev stamp, force bool) readResult {
	fi, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return readResult{missing: true}
	}
	if err != nil {
		return readResult{err: fmt.Errorf("fs: stat %s: %w", file, err), transient: true}
	}
	st := stamp{fi: fi}
	if !force && st.same(prev) {
		return readResult{unchanged: true, stamp: st}
	}
	switch {
	case !fi.Mode().IsRegular():
		return readResult{stamp: st, err: fmt.Errorf("fs: %s: not a regular file (mode %s)", file, fi.Mode().Type())}
	case fi.Size() > MaxFileSize:
		return readResult{stamp: st, err: fmt.Errorf("fs: %s: %d bytes, more than the limit of %d", file, fi.Size(), MaxFileSize)}
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return readResult{missing: true}
	}
	if err != nil {
		return readResult{err: fmt.Errorf("fs: read %s: %w", file, err), transient: true}
	}
	addrs, err := ParseFile(file, data)
	if err != nil {
		return readResult{stamp: st, err: fmt.Errorf("fs: %w", err)}
	}
	return readResult{stamp: st, addrs: addrs}
}

// reload checks the entry's file again (reading it if force or if it
// changed) and publishes the result.
func (e *entry) reload(force bool) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	e.mu.Lock()
	prev := e.stamp
	e.mu.Unlock()
	e.apply(e.n.read(e.file, prev, force))
}

// apply records r and publishes it to the Var.
func (e *entry) apply(r readResult) {
	log := e.n.log.With("name", e.name, "file", e.file)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastRefresh = e.n.clk.Now()
	switch {
	case r.missing:
		if e.exists {
			log.Info("fs: name file removed")
		}
		e.exists, e.stamp, e.good, e.addrs, e.lastErr, e.transient = false, stamp{}, false, nil, nil, false
		e.empty.Clear()
		namerkit.Publish(e.v, name.Addr{State: name.AddrNeg, Err: fmt.Errorf("fs: %s: %w", e.file, os.ErrNotExist)})

	case r.unchanged:
		// Nothing new; the check still counts as a refresh, and the file
		// is reachable again if it was not.
		if e.transient {
			e.lastErr, e.transient = nil, false
		}
		if !e.empty.Since().IsZero() {
			// Still empty: the grace may be over.
			e.applyAddrsLocked(log, e.stamp, nil)
		}

	case r.err != nil:
		e.exists = true
		if !r.transient {
			e.stamp = r.stamp // do not re-read (and re-log) a bad file until it changes
		}
		e.lastErr, e.transient = r.err, r.transient
		if e.good {
			log.Warn("fs: bad name file; keeping the last good addresses",
				"addresses", len(e.addrs), "error", r.err)
			return
		}
		log.Warn("fs: bad name file", "error", r.err)
		namerkit.Publish(e.v, name.Addr{State: name.AddrFailed, Err: r.err})

	default:
		e.applyAddrsLocked(log, r.stamp, r.addrs)
	}
}

// applyAddrsLocked publishes the addresses a good read of the file found,
// unless the file was emptied less than the grace period ago: then the
// last non-empty set is kept. e.mu must be held.
func (e *entry) applyAddrsLocked(log *slog.Logger, st stamp, addrs []name.Address) {
	e.exists, e.stamp, e.lastErr, e.transient = true, st, nil, false
	if len(addrs) == 0 {
		if left := e.empty.Empty(e.lastRefresh, e.n.grace, e.good && len(e.addrs) > 0); left > 0 {
			log.Warn("fs: name file lists no addresses; serving the last good set during the grace period",
				"addresses", len(e.addrs), "grace_left", left)
			return
		}
	}
	e.empty.Clear()
	e.good, e.addrs = true, addrs
	if addrs == nil {
		addrs = []name.Address{}
	}
	if namerkit.Publish(e.v, name.Addr{State: name.AddrBound, Addresses: addrs}) {
		log.Debug("fs: addresses updated", "addresses", len(addrs))
	}
}

// present reports whether the entry's file existed at its last check.
func (e *entry) present() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exists
}

// stale reports whether the entry's data is at least a TTL old at now, or
// the grace of an emptied file has ended.
func (e *entry) stale(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Sub(e.lastRefresh) >= e.n.ttl ||
		(!e.empty.Since().IsZero() && now.Sub(e.empty.Since()) >= e.n.grace)
}

// needsCheck reports whether Lookup must check the file before answering:
// it was missing (it may be back), or the data is stale.
func (e *entry) needsCheck(now time.Time) bool {
	return !e.present() || e.stale(now)
}

// onUse is the Var's hook: it starts a background check of a stale entry.
// It never blocks.
func (e *entry) onUse() {
	n := e.n
	n.mu.RLock()
	defer n.mu.RUnlock() // Close waits for the flights it can see
	if n.closed || !e.stale(n.clk.Now()) {
		return
	}
	e.flight.Start(func() { e.reload(false) })
}

// Close stops the watcher and waits for background checks to finish. The
// Vars keep their last values; later Lookups fail with ErrClosed. Close is
// idempotent.
func (n *Namer) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	entries := slices.Collect(maps.Values(n.entries))
	n.mu.Unlock()

	var err error
	if n.watcher != nil {
		if cerr := n.watcher.Close(); cerr != nil {
			err = fmt.Errorf("fs: close the watcher of %s: %w", n.dir, cerr)
		}
		<-n.watchDone
	}
	for _, e := range entries {
		<-e.flight.Idle()
	}
	return err
}

var _ name.Namer = (*Namer)(nil)
