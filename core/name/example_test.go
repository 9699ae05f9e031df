package name_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
)

func ExampleParseDtab() {
	d, err := name.ParseDtab("/svc => /#/io.l5d.fs; /svc/users => 0.9 * /#/io.l5d.fs/users & 0.1 * /#/io.l5d.fs/users-canary")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(d))
	fmt.Println(d)
	fmt.Print(d.Pretty())

	_, err = name.ParseDtab("/svc /#/io.l5d.fs")
	var perr *name.ParseError
	fmt.Println(errors.As(err, &perr), perr.Offset)
	fmt.Println(err)
	// Output:
	// 2
	// /svc=>/#/io.l5d.fs;/svc/users=>0.9*/#/io.l5d.fs/users & 0.1*/#/io.l5d.fs/users-canary
	// /svc => /#/io.l5d.fs;
	// /svc/users => 0.9*/#/io.l5d.fs/users & 0.1*/#/io.l5d.fs/users-canary;
	// true 5
	// dtab: offset 5: expected '=>' after prefix "/svc", found '/'
}

func ExampleMustParseDtab() {
	base := name.MustParseDtab("/svc => /#/io.l5d.fs")
	// A per-request dtab (l5d-dtab) is appended, so its dentries win.
	local := name.MustParseDtab("/svc/users => /#/io.l5d.fs/users-v2")
	fmt.Println(base.Concat(local))
	// Output:
	// /svc=>/#/io.l5d.fs;/svc/users=>/#/io.l5d.fs/users-v2
}

func ExampleParseDentry() {
	d, err := name.ParseDentry("/svc/*/users => /#/io.l5d.fs/users | /$/nil")
	if err != nil {
		panic(err)
	}
	fmt.Println(d)
	fmt.Println(d.Prefix, d.Dst.Kind)
	fmt.Println(d.Prefix.Matches(name.MustParsePath("/svc/prod/users/42")))
	fmt.Println(d.Prefix.Matches(name.MustParsePath("/svc/users")))
	// Output:
	// /svc/*/users=>/#/io.l5d.fs/users | /$/nil
	// /svc/*/users alt
	// true
	// false
}

func ExampleParsePath() {
	p, err := name.ParsePath("/svc/users/v1")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(p), p[1])
	fmt.Println(p.HasPrefix(name.MustParsePath("/svc")))
	fmt.Println(p.Equal(name.MustParsePath("/svc/users/v1")))
	fmt.Println(p.Concat(name.MustParsePath("/rest")))
	fmt.Println(name.Path(nil))

	_, err = name.ParsePath("svc")
	fmt.Println(err != nil)
	// Output:
	// 3 users
	// true
	// true
	// /svc/users/v1/rest
	// /
	// true
}

func ExampleMustParsePath() {
	p := name.MustParsePath(`/a/\x2f`)
	fmt.Println(len(p), p[1] == "/", p)
	// Output:
	// 2 true /a/\x2f
}

func ExampleParseTree() {
	t, err := name.ParseTree("/a | 0.9 * /b & 0.1 * /c")
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Kind, len(t.Alts), t.Alts[1].Kind)
	fmt.Println(t)
	// Output:
	// alt 2 union
	// /a | 0.9*/b & 0.1*/c
}

// Trees can be built without parsing; Simplify folds what evaluation
// would skip, and Eval yields each leaf's share of traffic.
func ExampleNewUnion() {
	t := name.NewUnion(
		name.Weighted[name.Path]{Weight: 3, Tree: name.NewLeaf(name.MustParsePath("/#/io.l5d.fs/users"))},
		name.Weighted[name.Path]{Weight: 1, Tree: name.NewAlt(
			name.Tree[name.Path]{}, // Neg: falls through to the next branch
			name.NewLeaf(name.MustParsePath("/#/io.l5d.fs/users-canary")),
		)},
	)
	fmt.Println(t)
	fmt.Println(name.Simplify(t))

	kind, values := name.Eval(t)
	fmt.Println(kind)
	for _, v := range values {
		fmt.Println(v.Weight, v.Value)
	}
	// Output:
	// 3*/#/io.l5d.fs/users & (~ | /#/io.l5d.fs/users-canary)
	// 3*/#/io.l5d.fs/users & /#/io.l5d.fs/users-canary
	// leaf
	// 0.75 /#/io.l5d.fs/users
	// 0.25 /#/io.l5d.fs/users-canary
}

func ExampleNewAlt() {
	t := name.NewAlt(name.NewLeaf(name.MustParsePath("/#/io.l5d.fs/users")))
	fmt.Println(t.Kind, name.Simplify(t).Kind)
	// Output:
	// alt leaf
}

func ExampleNewLeaf() {
	t := name.NewLeaf(name.MustParsePath("/$/inet/127.0.0.1/8080"))
	fmt.Println(t.Kind, t.Value)
	// Output:
	// leaf /$/inet/127.0.0.1/8080
}

func ExampleSimplify() {
	// Neg branches go, and a union left with one branch is that branch.
	t, _ := name.ParseTree("~ | (/a & ~) | /b")
	fmt.Println(name.Simplify(t))
	// A Fail cuts the alternation.
	t, _ = name.ParseTree("! | /b")
	fmt.Println(name.Simplify(t))
	// Output:
	// /a | /b
	// !
}

func ExampleEval() {
	for _, s := range []string{"~ | /a", "~", "! | /a", "$ | /a", "2*/a & (/b | /c)"} {
		t, _ := name.ParseTree(s)
		kind, values := name.Eval(t)
		fmt.Println(s, "=>", kind, values)
	}
	// Output:
	// ~ | /a => leaf [{1 /a}]
	// ~ => neg []
	// ! | /a => fail []
	// $ | /a => leaf []
	// 2*/a & (/b | /c) => leaf [{0.6666666666666666 /a} {0.3333333333333333 /b}]
}

func ExampleEqual() {
	a, _ := name.ParseTree("/a & /b")
	b, _ := name.ParseTree("1.0 * /a & /b")
	c, _ := name.ParseTree("/b & /a")
	fmt.Println(name.Equal(a, b), name.Equal(a, c))
	// Output:
	// true false
}

func ExampleMap() {
	t, _ := name.ParseTree("/#/io.l5d.fs/users | /$/nil")
	lengths := name.Map(t, func(p name.Path) int { return len(p) })
	fmt.Println(lengths.Kind, lengths.Alts[0].Value, lengths.Alts[1].Value)
	// Output:
	// alt 3 2
}

// Bind delegates a logical name through the dtab and hands namer paths to
// Lookup; here a tiny namer serves /#/static.
func ExampleDelegator_Bind() {
	users := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{
		{Host: "127.0.0.1", Port: 8080},
		{Host: "::1", Port: 8080, Weight: 2},
	}}, nil)
	static := name.NamerFunc(func(ctx context.Context, p name.Path) (name.Tree[name.Bound], error) {
		if len(p) > 0 && p[0] == "users" {
			return name.NewLeaf(name.Bound{ID: name.MustParsePath("/#/static/users"), Residual: p[1:], Addr: users}), nil
		}
		return name.Tree[name.Bound]{}, nil // Neg: no such name
	})
	prefix := name.MustParsePath("/#/static")
	d := &name.Delegator{
		Dtab: name.MustParseDtab("/svc => /#/static | /$/fail"),
		Lookup: func(ctx context.Context, p name.Path) (name.Tree[name.Bound], error) {
			if p.HasPrefix(prefix) {
				return static.Lookup(ctx, p[len(prefix):])
			}
			return name.Tree[name.Bound]{}, nil
		},
	}
	tree, _, err := d.Bind(context.Background(), name.MustParsePath("/svc/users/v1"))
	if err != nil {
		panic(err)
	}
	kind, bound := name.Eval(name.Simplify(tree))
	fmt.Println(kind, bound[0].Value)
	for _, a := range bound[0].Value.Addr.Sample().Addresses {
		fmt.Println(a.HostPort(), a.EffectiveWeight())
	}

	_, _, err = (&name.Delegator{Dtab: name.MustParseDtab("/a => /b; /b => /a")}).Bind(context.Background(), name.MustParsePath("/a"))
	fmt.Println(errors.Is(err, name.ErrMaxDepth))
	// Output:
	// leaf /#/static/users/v1
	// 127.0.0.1:8080 1
	// [::1]:8080 2
	// true
}

// With Trace set, Bind also returns the step-by-step record that
// `slinkerd delegate` prints; NewStepBound describes each bound leaf.
func ExampleDelegator_Bind_trace() {
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 8080}}}, nil)
	d := &name.Delegator{
		Dtab: name.MustParseDtab("/svc => /$/inet/127.0.0.1"),
		Lookup: func(ctx context.Context, p name.Path) (name.Tree[name.Bound], error) {
			return name.NewLeaf(name.Bound{ID: p[:4], Residual: p[4:], Addr: v}), nil
		},
		Trace: true,
	}
	_, step, err := d.Bind(context.Background(), name.MustParsePath("/svc/8080"))
	if err != nil {
		panic(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(step)
	// Output:
	// {
	//   "type": "delegate",
	//   "path": "/svc/8080",
	//   "delegate": {
	//     "type": "leaf",
	//     "path": "/$/inet/127.0.0.1/8080",
	//     "dentry": {
	//       "prefix": "/svc",
	//       "dst": "/$/inet/127.0.0.1",
	//       "index": 0
	//     },
	//     "bound": {
	//       "id": "/$/inet/127.0.0.1/8080",
	//       "state": "bound",
	//       "addresses": [
	//         {
	//           "addr": "127.0.0.1:8080",
	//           "weight": 1
	//         }
	//       ]
	//     }
	//   }
	// }
}

func ExampleNewStepBound() {
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 8080}}}, nil)
	b := name.Bound{ID: name.MustParsePath("/$/inet/127.0.0.1/8080"), Residual: name.MustParsePath("/v1"), Addr: v}
	fmt.Println(b)
	out, _ := json.Marshal(name.NewStepBound(b))
	fmt.Println(string(out))
	// Output:
	// /$/inet/127.0.0.1/8080/v1
	// {"id":"/$/inet/127.0.0.1/8080","residual":"/v1","state":"bound","addresses":[{"addr":"127.0.0.1:8080","weight":1}]}
}

// A namer owns a Var per name and pushes complete snapshots into it; the
// proxy waits for the first one and then samples it.
func ExampleNewVar() {
	uses := 0
	v := name.NewVar(name.Addr{}, func() { uses++ }) // AddrPending
	fmt.Println(v.Peek().State)

	changed := v.Changed()
	go v.Update(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 8080}}})
	<-changed

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := v.Wait(ctx)
	fmt.Println(a.State, a.Addresses[0].HostPort(), err)

	_, ver1 := v.SampleVersion()
	v.Update(name.Addr{State: name.AddrFailed, Err: errors.New("connection refused")})
	a, ver2 := v.SampleVersion()
	fmt.Println(a.State, ver2 > ver1, uses)
	// Output:
	// pending
	// bound 127.0.0.1:8080 <nil>
	// failed true 2
}

func ExampleAddr_Explain() {
	ok := name.Addr{State: name.AddrBound}
	neg := name.Addr{State: name.AddrNeg, Err: errors.New(`inet: resolve "nosuch.invalid": no such host`)}
	fmt.Println(ok.Explain("no endpoints for /svc/x"))
	fmt.Println(neg.Explain("no endpoints for /svc/x"))
	// Output:
	// no endpoints for /svc/x
	// no endpoints for /svc/x: inet: resolve "nosuch.invalid": no such host
}

func ExampleAddress_HostPort() {
	for _, a := range []name.Address{{Host: "127.0.0.1", Port: 8080}, {Host: "::1", Port: 443, Weight: 0.5}} {
		fmt.Println(a.HostPort(), a.EffectiveWeight())
	}
	// Output:
	// 127.0.0.1:8080 1
	// [::1]:443 0.5
}
