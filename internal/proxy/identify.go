package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slinkerd/slinkerd/core/name"
)

// Identifier builds the logical name of a request, such as /svc/users.
// It may rewrite the request (path identifiers that consume segments).
type Identifier interface {
	// Identify returns the logical name, or an error saying why the
	// request cannot be identified (the proxy answers 400).
	Identify(r *http.Request) (name.Path, error)
}

// HeaderIdentifier names a request prefix + its Host (":authority" on
// HTTP/2) with any port removed: Host "users:8080" becomes /svc/users.
type HeaderIdentifier struct {
	// Prefix is prepended to the name. Defaults to /svc.
	Prefix name.Path
}

// Identify implements Identifier.
func (h HeaderIdentifier) Identify(r *http.Request) (name.Path, error) {
	host := hostOnly(r.Host)
	if host == "" {
		return nil, fmt.Errorf("no Host header to identify the service by")
	}
	return appendSegs(prefixOr(h.Prefix), host), nil
}

// PathIdentifier names a request prefix + the first Segments segments of
// its URL path: /users/42 with Segments 1 becomes /svc/users. With
// Consume set, those segments are removed from the forwarded path.
type PathIdentifier struct {
	// Prefix is prepended to the name. Defaults to /svc.
	Prefix name.Path
	// Segments is how many leading path segments name the service (≥ 1).
	Segments int
	// Consume removes the identifying segments from the request path.
	Consume bool
}

// Identify implements Identifier.
func (p PathIdentifier) Identify(r *http.Request) (name.Path, error) {
	n := p.Segments
	if n < 1 {
		n = 1
	}
	rest := strings.TrimPrefix(r.URL.Path, "/")
	segs := make([]string, 0, n)
	for len(segs) < n {
		if rest == "" {
			return nil, fmt.Errorf("path %q has fewer than %d segments to identify the service by", r.URL.Path, n)
		}
		seg, tail, _ := strings.Cut(rest, "/")
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty segment", r.URL.Path)
		}
		segs = append(segs, seg)
		rest = tail
	}
	if p.Consume {
		r.URL.Path = "/" + rest
		r.URL.RawPath = ""
	}
	return appendSegs(prefixOr(p.Prefix), segs...), nil
}

// MethodHostIdentifier names a request as linkerd's io.l5d.methodAndHost
// did: prefix + HTTP version + method + host, e.g. /svc/1.1/GET/users.
type MethodHostIdentifier struct {
	// Prefix is prepended to the name. Defaults to /svc.
	Prefix name.Path
}

// Identify implements Identifier.
func (m MethodHostIdentifier) Identify(r *http.Request) (name.Path, error) {
	host := hostOnly(r.Host)
	if host == "" {
		return nil, fmt.Errorf("no Host header to identify the service by")
	}
	version := "1.1"
	switch {
	case r.ProtoMajor == 2:
		version = "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		version = "1.0"
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet // net/http's meaning of an empty Method
	}
	return appendSegs(prefixOr(m.Prefix), version, method, host), nil
}

// HeaderPathIdentifier reads a whole path from a header: with Header
// "l5d-name", a request carrying "l5d-name: /users/v2" is named
// /svc/users/v2 (prefix + the header's path).
type HeaderPathIdentifier struct {
	// Prefix is prepended to the name. Defaults to /svc.
	Prefix name.Path
	// Header is the header that carries the path.
	Header string
}

// Identify implements Identifier.
func (h HeaderPathIdentifier) Identify(r *http.Request) (name.Path, error) {
	v := r.Header.Get(h.Header)
	if v == "" {
		return nil, fmt.Errorf("no %s header to identify the service by", h.Header)
	}
	p, err := name.ParsePath(v)
	if err != nil {
		return nil, fmt.Errorf("header %s: %w", h.Header, err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("header %s is %q: it names no service", h.Header, v)
	}
	return prefixOr(h.Prefix).Concat(p), nil
}

var defaultPrefix = name.Path{"svc"}

func prefixOr(p name.Path) name.Path {
	if p == nil {
		return defaultPrefix
	}
	return p
}

func appendSegs(prefix name.Path, segs ...string) name.Path {
	out := make(name.Path, 0, len(prefix)+len(segs))
	out = append(out, prefix...)
	return append(out, segs...)
}

// hostOnly strips the port from a Host value, and brackets from IPv6.
func hostOnly(h string) string {
	if strings.IndexByte(h, ':') < 0 && !strings.HasPrefix(h, "[") {
		return h // the common case; SplitHostPort would allocate its error
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// nameCache remembers the names HeaderIdentifier gave to Host values, so
// that naming a request neither builds nor renders its path. It holds at
// most maxCachedNames hosts (Host is the caller's to choose); past that,
// names are built per request as before.
type nameCache struct {
	m sync.Map // Host value -> *cachedName
	n atomic.Int64
}

type cachedName struct {
	path name.Path
	str  string
}

const maxCachedNames = 4096

// identify names r, and renders the name.
func (p *Proxy) identify(r *http.Request) (name.Path, string, error) {
	hi, ok := p.cfg.Identifier.(HeaderIdentifier)
	if !ok {
		svc, err := p.cfg.Identifier.Identify(r)
		if err != nil {
			return nil, "", err
		}
		return svc, svc.String(), nil
	}
	if v, ok := p.names.m.Load(r.Host); ok {
		c := v.(*cachedName)
		return c.path, c.str, nil
	}
	svc, err := hi.Identify(r)
	if err != nil {
		return nil, "", err
	}
	c := &cachedName{path: svc, str: svc.String()}
	if p.names.n.Load() < maxCachedNames {
		if _, loaded := p.names.m.LoadOrStore(r.Host, c); !loaded {
			p.names.n.Add(1)
		}
	}
	return c.path, c.str, nil
}

var (
	_ Identifier = HeaderIdentifier{}
	_ Identifier = PathIdentifier{}
	_ Identifier = MethodHostIdentifier{}
	_ Identifier = HeaderPathIdentifier{}
)
