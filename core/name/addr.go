package name

import (
	"context"
	"net"
	"strconv"
	"sync"
)

// Address is one endpoint a bound name resolves to.
type Address struct {
	// Host is an IP address or a host name.
	Host string
	// Port is the TCP port.
	Port int
	// Weight scales the endpoint's share of traffic within its set.
	// Zero means DefaultWeight (1.0).
	Weight float64
	// Meta holds optional namer-specific attributes, e.g. "scheme": "https"
	// or "audience" for endpoints that need an ID token. Nil when none.
	Meta map[string]string
}

// HostPort returns the address as "host:port" (IPv6 hosts bracketed).
func (a Address) HostPort() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// EffectiveWeight returns Weight, or DefaultWeight when Weight is zero.
func (a Address) EffectiveWeight() float64 {
	if a.Weight == 0 {
		return DefaultWeight
	}
	return a.Weight
}

// AddrState is the state of a bound name's address set, as Finagle's Addr.
type AddrState uint8

// The address states.
const (
	// AddrPending means the namer has not answered yet. The zero value.
	AddrPending AddrState = iota
	// AddrBound means Addresses holds the current (possibly empty) set.
	AddrBound
	// AddrNeg means the name does not exist.
	AddrNeg
	// AddrFailed means the namer could not answer; Err says why.
	AddrFailed
)

var addrStateNames = [...]string{AddrPending: "pending", AddrBound: "bound", AddrNeg: "neg", AddrFailed: "failed"}

// String returns the lower-case state name.
func (s AddrState) String() string {
	if int(s) < len(addrStateNames) {
		return addrStateNames[s]
	}
	return "unknown"
}

// Addr is a complete snapshot of a bound name's addresses.
type Addr struct {
	// State says whether Addresses is meaningful.
	State AddrState
	// Addresses is the complete set when State is AddrBound.
	Addresses []Address
	// Err is the namer's last error, for the proxy's error messages and
	// the admin pages: why the namer could not answer (AddrFailed), why
	// the name does not exist (AddrNeg, e.g. "no such host"), or, with
	// AddrBound, why the last refresh failed while the last good set is
	// kept. Nil when the namer's last answer succeeded.
	Err error
}

// Explain returns msg followed by ": " and a.Err, or msg alone when Err is
// nil, so that an error about a name carries the namer's last error, e.g.
// "no endpoints for /svc/x (/$/inet/nosuch.invalid/80): inet: resolve
// "nosuch.invalid": lookup nosuch.invalid: no such host".
func (a Addr) Explain(msg string) string {
	if a.Err == nil {
		return msg
	}
	return msg + ": " + a.Err.Error()
}

// Var is an observable, concurrency-safe Addr. Namers own the Var of each
// name they bind and push complete snapshots into it with Update; the
// proxy reads it with Sample and waits on Changed. A Var may carry a
// refresh hook so that pull-style namers (Lambda, where timers do not run
// between invocations) refresh lazily when the name is used.
type Var struct {
	mu      sync.Mutex
	cur     Addr
	version uint64
	changed chan struct{}
	onUse   func()
}

// NewVar returns a Var holding a. onUse, if not nil, is called (without
// the Var's lock) on every Sample; a namer uses it to start a refresh when
// its data is stale. It must not block.
func NewVar(a Addr, onUse func()) *Var {
	return &Var{cur: a, changed: make(chan struct{}), onUse: onUse}
}

// Sample returns the current snapshot, first telling the namer that the
// name is in use.
func (v *Var) Sample() Addr {
	if v.onUse != nil {
		v.onUse()
	}
	return v.Peek()
}

// SampleVersion is Sample plus a version number that grows with every
// Update, so a caller can tell cheaply whether the set changed since it
// last looked.
func (v *Var) SampleVersion() (Addr, uint64) {
	if v.onUse != nil {
		v.onUse()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur, v.version
}

// Peek returns the current snapshot without signalling use.
func (v *Var) Peek() Addr {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

// Changed returns a channel that is closed at the next Update.
func (v *Var) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Update replaces the snapshot with a and wakes everyone waiting on Changed.
func (v *Var) Update(a Addr) {
	v.mu.Lock()
	v.cur = a
	v.version++
	ch := v.changed
	v.changed = make(chan struct{})
	v.mu.Unlock()
	close(ch)
}

// Wait blocks until the Var leaves AddrPending or ctx is done, and returns
// the snapshot it saw last.
func (v *Var) Wait(ctx context.Context) (Addr, error) {
	for {
		v.mu.Lock()
		a, ch := v.cur, v.changed
		v.mu.Unlock()
		if a.State != AddrPending {
			return a, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return a, ctx.Err()
		}
	}
}

// Bound is a name bound by a namer: an identity plus a live address set.
type Bound struct {
	// ID is the bound name, e.g. /#/io.l5d.fs/users. It names the client
	// (l5d-dst-client) and keys per-client state.
	ID Path
	// Residual is the part of the delegated path the namer did not consume
	// (l5d-dst-residual).
	Residual Path
	// Addr holds the current addresses.
	Addr *Var
}

// String returns the bound ID followed by the residual, if any.
func (b Bound) String() string {
	if len(b.Residual) == 0 {
		return b.ID.String()
	}
	return b.ID.String() + b.Residual.String()
}

// Namer binds the paths under one prefix, such as /#/io.l5d.fs or
// /$/inet, to addresses.
type Namer interface {
	// Lookup binds path, which is the part after the namer's prefix. It
	// returns a tree whose leaves are bound names (usually a single Leaf),
	// Neg when the name does not exist, or an error when the namer cannot
	// answer now. It may block until first data arrives or ctx is done.
	Lookup(ctx context.Context, path Path) (Tree[Bound], error)
}

// NamerFunc adapts a function to the Namer interface.
type NamerFunc func(ctx context.Context, path Path) (Tree[Bound], error)

// Lookup calls f.
func (f NamerFunc) Lookup(ctx context.Context, path Path) (Tree[Bound], error) {
	return f(ctx, path)
}

var _ Namer = NamerFunc(nil)
