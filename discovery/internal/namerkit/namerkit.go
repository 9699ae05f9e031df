// Package namerkit holds the small pieces the discovery namers share: a
// single-flight runner for the lazy, on-use refreshes that a name.Var's
// onUse hook starts; publishing a snapshot only when it changed; and
// validation of host names and ports.
package namerkit

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/slinkerd/slinkerd/core/name"
)

// Flight runs at most one background refresh at a time. The zero value is
// ready to use. Namers start a Flight from a Var's onUse hook, which must
// not block: Start returns at once and a refresh already in progress
// absorbs the request.
type Flight struct {
	mu      sync.Mutex
	running chan struct{} // closed when the current run ends; nil when idle
}

// Start runs fn in a new goroutine unless a run is already in progress,
// and reports whether it started one.
func (f *Flight) Start(fn func()) bool {
	f.mu.Lock()
	if f.running != nil {
		f.mu.Unlock()
		return false
	}
	done := make(chan struct{})
	f.running = done
	f.mu.Unlock()
	go func() {
		defer func() {
			f.mu.Lock()
			f.running = nil
			f.mu.Unlock()
			close(done)
		}()
		fn()
	}()
	return true
}

// Idle returns a channel that is closed once no run is in progress (at
// once when none is).
func (f *Flight) Idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		return closed
	}
	return f.running
}

var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Publish updates v to a unless v already holds an equal snapshot, so that
// an unchanged refresh wakes nobody. It reports whether it updated v.
// Callers serialise Publish calls on the same Var.
func Publish(v *name.Var, a name.Addr) bool {
	if EqualAddr(v.Peek(), a) {
		return false
	}
	v.Update(a)
	return true
}

// EqualAddr reports whether a and b are the same snapshot: same state, same
// addresses in the same order, and errors with the same text.
func EqualAddr(a, b name.Addr) bool {
	if a.State != b.State {
		return false
	}
	if (a.Err == nil) != (b.Err == nil) || (a.Err != nil && a.Err.Error() != b.Err.Error()) {
		return false
	}
	return slices.EqualFunc(a.Addresses, b.Addresses, func(x, y name.Address) bool {
		return x.Host == y.Host && x.Port == y.Port && x.Weight == y.Weight && mapsEqual(x.Meta, y.Meta)
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ErrPort is wrapped by ParsePort's errors.
var ErrPort = errors.New("expected a port number 1-65535")

// ParsePort parses a TCP port written in decimal digits only (no sign, no
// spaces) in the range 1-65535.
func ParsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("invalid port %q: %w", s, ErrPort)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid port %q: %w", s, ErrPort)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q: %w", s, ErrPort)
	}
	return n, nil
}

// ErrHost is wrapped by ParseHost's errors.
var ErrHost = errors.New("expected an IP address or a DNS host name")

// ParseHost checks that s is an IP literal (IPv6 optionally in brackets,
// with an optional zone) or a DNS host name, and returns its canonical
// form: the IP in netip's notation (IPv4-mapped IPv6 unmapped), or the
// host name in lower case. ip is valid only for IP literals.
//
// Host names are labels of letters, digits, '-' and '_' joined by '.',
// with an optional trailing '.'; at most 253 bytes, labels at most 63. A
// name whose labels are all digits (such as 10.0.0.256) is rejected as a
// malformed IP address rather than looked up.
func ParseHost(s string) (host string, ip netip.Addr, err error) {
	lit := s
	if strings.HasPrefix(lit, "[") && strings.HasSuffix(lit, "]") {
		lit = lit[1 : len(lit)-1]
	}
	if a, perr := netip.ParseAddr(lit); perr == nil {
		a = a.Unmap()
		return a.String(), a, nil
	}
	if err := checkHostname(s); err != nil {
		return "", netip.Addr{}, fmt.Errorf("invalid host %q: %s: %w", s, err, ErrHost)
	}
	return strings.ToLower(s), netip.Addr{}, nil
}

func checkHostname(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 253 {
		return errors.New("longer than 253 bytes")
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	numeric := true
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label")
		}
		if len(l) > 63 {
			return errors.New("label longer than 63 bytes")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				numeric = false
			default:
				return fmt.Errorf("byte %q not allowed", c)
			}
		}
	}
	if numeric {
		return errors.New("not a valid IP address")
	}
	return nil
}
