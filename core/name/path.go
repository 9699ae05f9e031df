// Package name holds slinkerd's naming core: paths, delegation tables
// (dtabs), name trees and delegation, with linkerd 1 / Finagle semantics.
//
// The package is pure: it does no I/O and starts no goroutines. Binding a
// path to addresses goes through the Lookup function that callers pass to
// Bind; internal/bind supplies one backed by namers.
package name

import (
	"fmt"
	"strings"
)

// Path is a hierarchical name such as /svc/users. Each element is one
// segment; the zero value (nil) is the empty path, written "/".
type Path []string

// isShowable reports whether c may appear unescaped in a path segment:
// [0-9A-Za-z_:.#$%-], as in Finagle.
func isShowable(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	}
	switch c {
	case '_', ':', '.', '#', '$', '%', '-':
		return true
	}
	return false
}

// ParsePath parses the textual form of a path, such as "/svc/users" or
// "/a/\x2f". Surrounding white space is ignored.
func ParsePath(s string) (Path, error) {
	p := &parser{src: s}
	p.skipSpace()
	path, err := p.path()
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	p.skipSpace()
	if !p.eof() {
		return nil, fmt.Errorf("path: %w", p.errorf("expected end of path"))
	}
	return path, nil
}

// MustParsePath is ParsePath that panics on error; for tests and constants.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the textual form of p, escaping bytes that are not
// showable as \xNN. The empty path is "/".
func (p Path) String() string {
	if len(p) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, seg := range p {
		b.WriteByte('/')
		writeSegment(&b, seg)
	}
	return b.String()
}

func writeSegment(b *strings.Builder, seg string) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if isShowable(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteString(`\x`)
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
}

// HasPrefix reports whether q is a prefix of p, segment by segment.
func (p Path) HasPrefix(q Path) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// Equal reports whether p and q have the same segments.
func (p Path) Equal(q Path) bool { return len(p) == len(q) && p.HasPrefix(q) }

// Concat returns a new path of p's segments followed by q's. It never
// aliases p's backing array.
func (p Path) Concat(q Path) Path {
	if len(p)+len(q) == 0 {
		return nil
	}
	out := make(Path, 0, len(p)+len(q))
	out = append(out, p...)
	return append(out, q...)
}
