package balance_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
)

func ExampleNew() {
	b, err := balance.New(balance.Config{Kind: balance.KindRoundRobin})
	if err != nil {
		panic(err)
	}
	b.Update([]name.Address{
		{Host: "10.0.0.1", Port: 8080, Weight: 2},
		{Host: "10.0.0.2", Port: 8080},
	})
	for range 3 {
		p, err := b.Pick()
		if err != nil {
			panic(err)
		}
		fmt.Println(p.Address.HostPort())
		p.Done(false) // after the response is classified
	}
	// Output:
	// 10.0.0.1:8080
	// 10.0.0.2:8080
	// 10.0.0.1:8080
}

func ExampleBalancer_Endpoints() {
	clk := clock.NewFake(time.Unix(0, 0))
	b, _ := balance.New(balance.Config{Clock: clk, Rand: rand.New(rand.NewPCG(1, 2))})
	b.Update([]name.Address{{Host: "10.0.0.1", Port: 80}})

	p, _ := b.Pick()
	clk.Advance(120 * time.Millisecond)
	p.Done(false)
	s := b.Endpoints()[0]
	fmt.Println(s.Address, s.State, s.EWMA)

	clk.Advance(10 * time.Second) // τ: the estimate decays by 1/e
	fmt.Println(b.Endpoints()[0].EWMA.Round(time.Millisecond))
	// Output:
	// 10.0.0.1:80 alive 120ms
	// 44ms
}

func ExampleNewUnion() {
	a, _ := balance.New(balance.Config{})
	a.Update([]name.Address{{Host: "a", Port: 80}})
	b, _ := balance.New(balance.Config{})
	// b has no endpoints yet, so the union sends everything to a.

	u, err := balance.NewUnion([]balance.Branch{
		{Weight: 0.1, Balancer: a},
		{Weight: 0.9, Balancer: b},
	}, nil)
	if err != nil {
		panic(err)
	}
	p, _ := u.Pick()
	fmt.Println(p.Address.Host)
	p.Done(false)

	a.Update(nil)
	_, err = u.Pick()
	fmt.Println(errors.Is(err, balance.ErrNoEndpoints))
	// Output:
	// a
	// true
}
