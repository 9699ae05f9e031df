package inet

import (
	"context"

	"github.com/slinkerd/slinkerd/core/name"
)

// Nil is the /$/nil namer. Every path under it binds to Empty: the name
// exists but has no addresses, so an alternation stops there (it does not
// fall back, as it would on Neg) and a request to it finds no endpoint.
// This is Finagle's Namer.global, where /$/nil/… is NameTree.Empty, rather
// than a Leaf with an empty bound address set: the result is the same for
// routing, and Empty needs no Var.
type Nil struct{}

// Lookup returns Empty for every path; the residual is ignored.
func (Nil) Lookup(context.Context, name.Path) (name.Tree[name.Bound], error) {
	return name.Tree[name.Bound]{Kind: name.Empty}, nil
}

// Fail is the /$/fail namer. Every path under it binds to Fail, which stops
// fallback in an alternation and fails a union, as Finagle's /$/fail.
type Fail struct{}

// Lookup returns Fail for every path; the residual is ignored.
func (Fail) Lookup(context.Context, name.Path) (name.Tree[name.Bound], error) {
	return name.Tree[name.Bound]{Kind: name.Fail}, nil
}

// Registration is a namer with the prefix it is registered under.
type Registration struct {
	// Prefix is the path the namer answers for, e.g. /$/inet. The namer
	// receives what follows it.
	Prefix name.Path
	// Namer binds the paths under Prefix.
	Namer name.Namer
}

// System returns the system namers as an explicit list, for the caller to
// register: /$/inet (an Inet configured by cfg), /$/nil and /$/fail.
func System(cfg Config) ([]Registration, error) {
	in, err := NewInet(cfg)
	if err != nil {
		return nil, err
	}
	return []Registration{
		{Prefix: name.Path{"$", "inet"}, Namer: in},
		{Prefix: name.Path{"$", "nil"}, Namer: Nil{}},
		{Prefix: name.Path{"$", "fail"}, Namer: Fail{}},
	}, nil
}

var (
	_ name.Namer = Nil{}
	_ name.Namer = Fail{}
)
