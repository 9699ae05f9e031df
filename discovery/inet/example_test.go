package inet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

// staticResolver answers from a table, as a stand-in for DNS.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := r[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func ExampleNewInet() {
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n, err := inet.NewInet(inet.Config{
		Resolver: staticResolver{"users.internal": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}},
		TTL:      time.Minute,
		Clock:    clk,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A host name binds to all of its addresses; the rest is the residual.
	tree, err := n.Lookup(ctx, name.MustParsePath("/users.internal/8080/v1"))
	if err != nil {
		panic(err)
	}
	b := tree.Value
	fmt.Println(tree.Kind, b.ID, b.Residual)
	for _, a := range b.Addr.Sample().Addresses {
		fmt.Println(a.HostPort())
	}

	// An IP literal binds to itself, without resolving.
	tree, _ = n.Lookup(ctx, name.MustParsePath("/127.0.0.1/9090"))
	fmt.Println(tree.Value.ID, tree.Value.Addr.Peek().Addresses[0].HostPort())

	// A host that does not exist is still a Leaf, whose Var says why.
	tree, _ = n.Lookup(ctx, name.MustParsePath("/nosuch.internal/80"))
	a := tree.Value.Addr.Peek()
	fmt.Println(a.State, a.Err)

	_, err = n.Lookup(ctx, name.MustParsePath("/users.internal/http"))
	fmt.Println(err)
	// Output:
	// leaf /$/inet/users.internal/8080 /v1
	// 127.0.0.1:8080
	// [::1]:8080
	// /$/inet/127.0.0.1/9090 127.0.0.1:9090
	// neg inet: resolve "nosuch.internal": lookup nosuch.internal: no such host
	// inet: invalid path /users.internal/http: invalid port "http": expected a port number 1-65535
}

func ExampleInet_State() {
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n, _ := inet.NewInet(inet.Config{
		Resolver: staticResolver{"users.internal": {netip.MustParseAddr("127.0.0.1")}},
		Clock:    clk,
		Logger:   slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []string{"/users.internal/8080", "/users.internal/8443"} {
		if _, err := n.Lookup(ctx, name.MustParsePath(p)); err != nil {
			panic(err)
		}
	}
	clk.Advance(10 * time.Second)
	for _, h := range n.State() {
		fmt.Println(h.Host, h.Ports, h.Addresses, h.Age, h.LastError == "")
	}
	// Output:
	// users.internal [8080 8443] [127.0.0.1] 10s true
}

// System returns the namers to register under /$: inet, nil and fail.
func ExampleSystem() {
	regs, err := inet.System(inet.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, r := range regs {
		fmt.Printf("%v %T\n", r.Prefix, r.Namer)
	}

	lookup := func(ctx context.Context, p name.Path) (name.Tree[name.Bound], error) {
		for _, r := range regs {
			if p.HasPrefix(r.Prefix) {
				return r.Namer.Lookup(ctx, p[len(r.Prefix):])
			}
		}
		return name.Tree[name.Bound]{}, nil
	}
	d := &name.Delegator{
		// /$/nil is Empty, not Neg: /svc/orders stops there, never reaching /$/fail.
		Dtab:   name.MustParseDtab("/svc => /$/fail; /svc => /$/nil; /svc/users => /$/inet/127.0.0.1/8080"),
		Lookup: lookup,
	}
	for _, p := range []string{"/svc/users", "/svc/orders"} {
		tree, _, err := d.Bind(ctx, name.MustParsePath(p))
		if err != nil {
			panic(err)
		}
		fmt.Println(p, "=>", name.Simplify(tree).Kind)
	}
	// Output:
	// /$/inet *inet.Inet
	// /$/nil inet.Nil
	// /$/fail inet.Fail
	// /svc/users => leaf
	// /svc/orders => empty
}

func ExampleNil_Lookup() {
	tree, err := inet.Nil{}.Lookup(context.Background(), name.MustParsePath("/anything"))
	fmt.Println(tree.Kind, err)
	// Output:
	// empty <nil>
}

func ExampleFail_Lookup() {
	tree, err := inet.Fail{}.Lookup(context.Background(), name.MustParsePath("/anything"))
	fmt.Println(tree.Kind, err)
	// Output:
	// fail <nil>
}
