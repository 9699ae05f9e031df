package name

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseError is a syntax error in a path, name tree or dtab. Offset is the
// byte offset into the input where the parser stopped.
type ParseError struct {
	// What is the kind of input: "dtab", "tree" or "path".
	What string
	// Input is the text that failed to parse.
	Input string
	// Offset is the byte offset of the problem.
	Offset int
	// Msg says what was expected, e.g. `expected '=>' after prefix "/svc"`.
	Msg string
}

// Error returns e.g. `dtab: offset 17: expected '=>' after prefix "/svc"`.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.What, e.Offset, e.Msg)
}

// parser is a hand-written recursive-descent parser over the grammar:
//
//	dtab     := [dentry] (';' [dentry])*
//	dentry   := prefix '=>' tree
//	prefix   := '/' | ('/' (label | '*'))+
//	tree     := tree1 ('|' tree1)*
//	tree1    := weighted ('&' weighted)*
//	weighted := [weight '*'] simple
//	simple   := '(' tree ')' | path | '!' | '~' | '$'
//	path     := '/' | ('/' label)+
//	label    := (showable | '\x' hex hex)+
//
// White space may separate tokens, and '#' at a token boundary starts a
// comment that runs to the end of the line.
type parser struct {
	src  string
	pos  int
	what string
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) errorf(format string, args ...any) *ParseError {
	what := p.what
	if what == "" {
		what = "path"
	}
	return &ParseError{What: what, Input: p.src, Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// found describes the byte at the cursor for error messages.
func (p *parser) found() string {
	if p.eof() {
		return "end of input"
	}
	return strconv.QuoteRune(rune(p.src[p.pos]))
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// skipSpace skips white space and comments.
func (p *parser) skipSpace() {
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			p.pos++
		case c == '#':
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// label parses one path segment at the cursor. It returns "" without
// consuming anything when no label starts here.
func (p *parser) label() (string, error) {
	start := p.pos
	var b []byte // allocated only when an escape is seen
	for !p.eof() {
		c := p.src[p.pos]
		if isShowable(c) {
			if b != nil {
				b = append(b, c)
			}
			p.pos++
			continue
		}
		if c != '\\' {
			break
		}
		if p.pos+4 > len(p.src) || p.src[p.pos+1] != 'x' {
			return "", p.errorf(`expected an escape of the form \xNN`)
		}
		hi, ok1 := unhex(p.src[p.pos+2])
		lo, ok2 := unhex(p.src[p.pos+3])
		if !ok1 || !ok2 {
			return "", p.errorf(`expected two hex digits after \x`)
		}
		if b == nil {
			b = append(make([]byte, 0, p.pos-start+8), p.src[start:p.pos]...)
		}
		b = append(b, hi<<4|lo)
		p.pos += 4
	}
	if b != nil {
		return string(b), nil
	}
	return p.src[start:p.pos], nil
}

// path parses a path at the cursor, which must be at '/'.
func (p *parser) path() (Path, error) {
	if p.peek() != '/' {
		return nil, p.errorf("expected a path starting with '/', found %s", p.found())
	}
	var out Path
	for p.peek() == '/' {
		p.pos++
		l, err := p.label()
		if err != nil {
			return nil, err
		}
		if l == "" {
			if len(out) == 0 {
				return nil, nil // "/" alone is the empty path
			}
			return nil, p.errorf("expected a path segment after '/', found %s", p.found())
		}
		out = append(out, l)
	}
	return out, nil
}

func (p *parser) prefix() (Prefix, error) {
	if p.peek() != '/' {
		return nil, p.errorf("expected a prefix starting with '/', found %s", p.found())
	}
	var out Prefix
	for p.peek() == '/' {
		p.pos++
		if p.peek() == '*' {
			p.pos++
			out = append(out, PrefixElem{Any: true})
			continue
		}
		l, err := p.label()
		if err != nil {
			return nil, err
		}
		if l == "" {
			if len(out) == 0 {
				return nil, nil
			}
			return nil, p.errorf("expected a prefix segment or '*' after '/', found %s", p.found())
		}
		out = append(out, PrefixElem{Label: l})
	}
	return out, nil
}

func (p *parser) tree() (Tree[Path], error) {
	first, err := p.tree1()
	if err != nil {
		return Tree[Path]{}, err
	}
	p.skipSpace()
	if p.peek() != '|' {
		return first, nil
	}
	alts := []Tree[Path]{first}
	for p.peek() == '|' {
		p.pos++
		t, err := p.tree1()
		if err != nil {
			return Tree[Path]{}, err
		}
		alts = append(alts, t)
		p.skipSpace()
	}
	return Tree[Path]{Kind: Alt, Alts: alts}, nil
}

func (p *parser) tree1() (Tree[Path], error) {
	first, err := p.weighted()
	if err != nil {
		return Tree[Path]{}, err
	}
	p.skipSpace()
	if p.peek() != '&' {
		if first.Weight == DefaultWeight {
			return first.Tree, nil
		}
		return Tree[Path]{Kind: Union, Branches: []Weighted[Path]{first}}, nil
	}
	branches := []Weighted[Path]{first}
	for p.peek() == '&' {
		p.pos++
		w, err := p.weighted()
		if err != nil {
			return Tree[Path]{}, err
		}
		branches = append(branches, w)
		p.skipSpace()
	}
	return Tree[Path]{Kind: Union, Branches: branches}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) weighted() (Weighted[Path], error) {
	p.skipSpace()
	w := DefaultWeight
	if c := p.peek(); isDigit(c) || c == '.' {
		start := p.pos
		for !p.eof() && (isDigit(p.src[p.pos]) || p.src[p.pos] == '.') {
			p.pos++
		}
		if c := p.peek(); c == 'e' || c == 'E' {
			p.pos++
			if c := p.peek(); c == '+' || c == '-' {
				p.pos++
			}
			for !p.eof() && isDigit(p.src[p.pos]) {
				p.pos++
			}
		}
		num := p.src[start:p.pos]
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			p.pos = start
			return Weighted[Path]{}, p.errorf("expected a weight (a non-negative number), found %q", num)
		}
		w = f
		p.skipSpace()
		if p.peek() != '*' {
			return Weighted[Path]{}, p.errorf("expected '*' after weight %s, found %s", num, p.found())
		}
		p.pos++
	}
	t, err := p.simple()
	if err != nil {
		return Weighted[Path]{}, err
	}
	return Weighted[Path]{Weight: w, Tree: t}, nil
}

func (p *parser) simple() (Tree[Path], error) {
	p.skipSpace()
	switch p.peek() {
	case '(':
		p.pos++
		t, err := p.tree()
		if err != nil {
			return Tree[Path]{}, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return Tree[Path]{}, p.errorf("expected ')' to close '(', found %s", p.found())
		}
		p.pos++
		return t, nil
	case '!':
		p.pos++
		return Tree[Path]{Kind: Fail}, nil
	case '~':
		p.pos++
		return Tree[Path]{Kind: Neg}, nil
	case '$':
		p.pos++
		return Tree[Path]{Kind: Empty}, nil
	case '/':
		path, err := p.path()
		if err != nil {
			return Tree[Path]{}, err
		}
		return Tree[Path]{Kind: Leaf, Value: path}, nil
	}
	return Tree[Path]{}, p.errorf("expected a path, '(', '!', '~' or '$', found %s", p.found())
}

func (p *parser) dtab() (Dtab, error) {
	var out Dtab
	for {
		p.skipSpace()
		if p.eof() {
			return out, nil
		}
		if p.peek() == ';' {
			p.pos++
			continue
		}
		pfx, err := p.prefix()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !strings.HasPrefix(p.src[p.pos:], "=>") {
			return nil, p.errorf("expected '=>' after prefix %q, found %s", pfx.String(), p.found())
		}
		p.pos += 2
		t, err := p.tree()
		if err != nil {
			return nil, err
		}
		out = append(out, Dentry{Prefix: pfx, Dst: t})
		p.skipSpace()
		if !p.eof() && p.peek() != ';' {
			return nil, p.errorf("expected ';' or end of dtab after dentry %q, found %s", out[len(out)-1].String(), p.found())
		}
	}
}

// ParseDtab parses a dtab such as "/svc => /#/io.l5d.fs; /svc/b => /svc/a".
// The empty string is the empty dtab.
func ParseDtab(s string) (Dtab, error) {
	p := &parser{src: s, what: "dtab"}
	return p.dtab()
}

// MustParseDtab is ParseDtab that panics on error; for tests and constants.
func MustParseDtab(s string) Dtab {
	d, err := ParseDtab(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseTree parses a name tree such as "/a | 0.9 * /b & 0.1 * /c".
func ParseTree(s string) (Tree[Path], error) {
	p := &parser{src: s, what: "tree"}
	t, err := p.tree()
	if err != nil {
		return Tree[Path]{}, err
	}
	p.skipSpace()
	if !p.eof() {
		return Tree[Path]{}, p.errorf("expected '|', '&' or end of tree, found %s", p.found())
	}
	return t, nil
}

// ParseDentry parses a single dentry such as "/svc => /#/io.l5d.fs".
func ParseDentry(s string) (Dentry, error) {
	d, err := ParseDtab(s)
	if err != nil {
		return Dentry{}, err
	}
	if len(d) != 1 {
		return Dentry{}, &ParseError{What: "dentry", Input: s, Msg: fmt.Sprintf("expected exactly one dentry, found %d", len(d))}
	}
	return d[0], nil
}
