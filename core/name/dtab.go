package name

import (
	"strconv"
	"strings"
)

// PrefixElem is one segment of a dentry prefix: a literal label, or the
// wildcard `*`, which matches exactly one segment.
type PrefixElem struct {
	// Label is the literal segment; unused when Any is set.
	Label string
	// Any marks the wildcard `*`.
	Any bool
}

// Prefix is the left-hand side of a dentry. The empty prefix "/" matches
// every path.
type Prefix []PrefixElem

// Matches reports whether the prefix matches the start of path.
func (pf Prefix) Matches(path Path) bool {
	if len(pf) > len(path) {
		return false
	}
	for i, e := range pf {
		if !e.Any && e.Label != path[i] {
			return false
		}
	}
	return true
}

// String returns the textual form of the prefix, e.g. "/svc/*/users".
func (pf Prefix) String() string {
	if len(pf) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, e := range pf {
		b.WriteByte('/')
		if e.Any {
			b.WriteByte('*')
		} else {
			writeSegment(&b, e.Label)
		}
	}
	return b.String()
}

// Dentry is one delegation rule: paths starting with Prefix are rewritten
// to Dst with the rest of the path (the residual) appended to its leaves.
type Dentry struct {
	// Prefix selects the paths this dentry applies to.
	Prefix Prefix
	// Dst is what a matching prefix is replaced by.
	Dst Tree[Path]
}

// String returns the dentry as "prefix=>tree", Finagle's compact form.
func (d Dentry) String() string { return d.Prefix.String() + "=>" + d.Dst.String() }

// Dtab is a delegation table: an ordered list of dentries. Later dentries
// take precedence: delegation tries them last to first.
type Dtab []Dentry

// String returns the dtab in Finagle's compact form, dentries joined by
// ";". ParseDtab(d.String()) reproduces d.
func (d Dtab) String() string {
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = e.String()
	}
	return strings.Join(parts, ";")
}

// Pretty returns the dtab one dentry per line, each ending in ";", as
// people write them in configuration.
func (d Dtab) Pretty() string {
	var b strings.Builder
	for _, e := range d {
		b.WriteString(e.Prefix.String())
		b.WriteString(" => ")
		b.WriteString(e.Dst.String())
		b.WriteString(";\n")
	}
	return b.String()
}

// Concat returns a new dtab of d's dentries followed by e's, so that e's
// take precedence. Per-request dtabs are appended to the base this way.
func (d Dtab) Concat(e Dtab) Dtab {
	if len(e) == 0 {
		return d
	}
	out := make(Dtab, 0, len(d)+len(e))
	out = append(out, d...)
	return append(out, e...)
}

// String returns the textual form of a path tree: alternatives joined by
// " | ", union branches by " & ", weights other than 1 written as
// "w*branch", and nested alternations or unions in parentheses.
// ParseTree(t.String()) reproduces any tree that ParseTree produced.
func (t Tree[T]) String() string {
	var b strings.Builder
	showTree(&b, t, func(b *strings.Builder, v T) { b.WriteString(showValue(v)) })
	return b.String()
}

func showValue(v any) string {
	switch x := v.(type) {
	case Path:
		return x.String()
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	}
	return "?"
}

func showTree[T any](b *strings.Builder, t Tree[T], leaf func(*strings.Builder, T)) {
	switch t.Kind {
	case Alt:
		if len(t.Alts) == 0 {
			b.WriteString("~") // an empty alternation evaluates negative
			return
		}
		for i, a := range t.Alts {
			if i > 0 {
				b.WriteString(" | ")
			}
			// A nested alternation needs parentheses to stay a node.
			showSimple(b, a, leaf, a.Kind == Alt)
		}
	case Union:
		if len(t.Branches) == 0 {
			b.WriteString("~")
			return
		}
		for i, w := range t.Branches {
			if i > 0 {
				b.WriteString(" & ")
			}
			if w.Weight != DefaultWeight {
				b.WriteString(strconv.FormatFloat(w.Weight, 'g', -1, 64))
				b.WriteString("*")
			}
			showSimple(b, w.Tree, leaf, w.Tree.Kind == Alt || w.Tree.Kind == Union)
		}
	default:
		showSimple(b, t, leaf, false)
	}
}

func showSimple[T any](b *strings.Builder, t Tree[T], leaf func(*strings.Builder, T), paren bool) {
	switch t.Kind {
	case Leaf:
		leaf(b, t.Value)
	case Neg:
		b.WriteString("~")
	case Fail:
		b.WriteString("!")
	case Empty:
		b.WriteString("$")
	default:
		if paren {
			b.WriteByte('(')
			showTree(b, t, leaf)
			b.WriteByte(')')
		} else {
			showTree(b, t, leaf)
		}
	}
}

// Equal reports whether two path trees have the same structure, weights
// and leaves.
func Equal(a, b Tree[Path]) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case Leaf:
		return a.Value.Equal(b.Value)
	case Alt:
		if len(a.Alts) != len(b.Alts) {
			return false
		}
		for i := range a.Alts {
			if !Equal(a.Alts[i], b.Alts[i]) {
				return false
			}
		}
	case Union:
		if len(a.Branches) != len(b.Branches) {
			return false
		}
		for i := range a.Branches {
			if a.Branches[i].Weight != b.Branches[i].Weight || !Equal(a.Branches[i].Tree, b.Branches[i].Tree) {
				return false
			}
		}
	}
	return true
}
