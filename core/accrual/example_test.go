package accrual_test

import (
	"fmt"
	"time"

	"github.com/slinkerd/slinkerd/core/accrual"
	"github.com/slinkerd/slinkerd/core/clock"
)

// half is a fixed jitter source, so the delays are deterministic.
func half() float64 { return 0.5 }

func ExampleNewBackoff() {
	b, err := accrual.NewBackoff(5*time.Second, 60*time.Second, half)
	if err != nil {
		panic(err)
	}
	for range 6 {
		n := b.Attempt()
		fmt.Println(n, b.Ceiling(n), b.Next())
	}
	b.Reset()
	fmt.Println(b.Attempt(), b.Next())

	_, err = accrual.NewBackoff(time.Minute, time.Second, nil)
	fmt.Println(err != nil)
	// Output:
	// 0 5s 5s
	// 1 10s 7.5s
	// 2 20s 15s
	// 3 40s 30s
	// 4 1m0s 45s
	// 5 1m0s 45s
	// 0 5s
	// true
}

func ExampleNewConsecutiveFailures() {
	b, _ := accrual.NewBackoff(5*time.Second, 300*time.Second, half)
	p, err := accrual.NewConsecutiveFailures(3, b)
	if err != nil {
		panic(err)
	}
	for range 2 {
		fmt.Println(p.MarkDeadOnFailure())
	}
	p.RecordSuccess() // the run starts over
	for range 3 {
		fmt.Println(p.MarkDeadOnFailure())
	}
	fmt.Println(p.MarkDeadOnFailure()) // a failed probe: longer backoff
	p.Revived()
	// Output:
	// 0s false
	// 0s false
	// 0s false
	// 0s false
	// 5s true
	// 7.5s true
}

func ExampleNewSuccessRate() {
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b, _ := accrual.NewBackoff(5*time.Second, 300*time.Second, half)
	p, err := accrual.NewSuccessRate(0.8, 30*time.Second, 5, b, clk)
	if err != nil {
		panic(err)
	}
	for range 3 {
		p.RecordSuccess()
	}
	fmt.Println(p.MarkDeadOnFailure()) // 3 of 4: too few requests to judge
	fmt.Println(p.MarkDeadOnFailure()) // 3 of 5 < 0.8: dead
	fmt.Println(p.Rate())

	clk.Advance(time.Minute) // the window slides past them
	fmt.Println(p.Rate())
	// Output:
	// 0s false
	// 5s true
	// 0.6 5
	// 1 0
}

func ExampleCombine() {
	b, _ := accrual.NewBackoff(5*time.Second, 300*time.Second, half)
	fast, _ := accrual.NewConsecutiveFailures(2, b)
	b2, _ := accrual.NewBackoff(time.Minute, 10*time.Minute, half)
	slow, _ := accrual.NewConsecutiveFailures(2, b2)
	p := accrual.Combine(fast, slow, accrual.Never())
	fmt.Println(p.MarkDeadOnFailure())
	fmt.Println(p.MarkDeadOnFailure()) // both say dead: the longest backoff
	// Output:
	// 0s false
	// 1m0s true
}

func ExampleNever() {
	p := accrual.Never()
	for range 100 {
		if _, dead := p.MarkDeadOnFailure(); dead {
			fmt.Println("dead")
		}
	}
	fmt.Println("never dead")
	// Output:
	// never dead
}

// A Gate walks one endpoint through alive → dead → probe → alive; the
// balancer passes the time in and reads the status.
func ExampleNewGate() {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, _ := accrual.NewBackoff(5*time.Second, 300*time.Second, half)
	p, _ := accrual.NewConsecutiveFailures(2, b)
	g := accrual.NewGate(p)

	show := func(now time.Time) {
		fmt.Println(now.Sub(t0), g.State(now), g.Status(now))
	}
	show(t0)
	for range 2 {
		probe := g.Acquire(t0)
		g.Release(t0, probe, true)
	}
	show(t0)
	fmt.Println("dead until", g.DeadUntil().Sub(t0))

	now := t0.Add(5 * time.Second)
	show(now)
	probe := g.Acquire(now)
	fmt.Println("probe:", probe)
	show(now)
	g.Release(now.Add(time.Second), probe, false)
	show(now.Add(time.Second))
	// Output:
	// 0s alive open
	// 0s dead busy
	// dead until 5s
	// 5s probing open
	// probe: true
	// 5s probing busy
	// 6s alive open
}

func ExampleNewFactory() {
	f, err := accrual.NewFactory(accrual.Config{ConsecutiveFailures: 2}, clock.NewFake(time.Unix(0, 0)), half)
	if err != nil {
		panic(err)
	}
	c := f.Config()
	fmt.Println(c.ConsecutiveFailures, c.BackoffMin, c.BackoffMax, c.SuccessRateWindow)
	fmt.Printf("%T\n", f.NewPolicy())

	g := f.NewGate()
	now := time.Unix(0, 0)
	for range 2 {
		g.Release(now, g.Acquire(now), true)
	}
	fmt.Println(g.State(now))

	// With SuccessRate set, NewPolicy combines both policies.
	both, _ := accrual.NewFactory(accrual.Config{SuccessRate: 0.9}, nil, nil)
	fmt.Println(both.Config().ConsecutiveFailures, both.Config().SuccessRate)
	// Output:
	// 2 5s 5m0s 30s
	// *accrual.ConsecutiveFailures
	// dead
	// 5 0.9
}

func ExampleConfig_Validate() {
	fmt.Println(accrual.Config{}.Validate())
	fmt.Println(accrual.Config{SuccessRate: 1.5, BackoffMin: time.Minute, BackoffMax: time.Second}.Validate())
	// Output:
	// <nil>
	// accrual: SuccessRate 1.5 is outside [0, 1]
	// accrual: BackoffMax 1s is below BackoffMin 1m0s
}

func ExampleConfig_WithDefaults() {
	c := accrual.Config{ConsecutiveFailures: -1}.WithDefaults()
	fmt.Printf("%+v\n", c)
	// Output:
	// {ConsecutiveFailures:-1 SuccessRate:0 SuccessRateWindow:30s SuccessRateMinRequests:5 BackoffMin:5s BackoffMax:5m0s}
}

func ExampleState_Status() {
	for _, s := range []accrual.State{accrual.StateAlive, accrual.StateDead, accrual.StateProbeOpen, accrual.StateProbeClosed} {
		fmt.Println(s, s.Status())
	}
	fmt.Println(accrual.StatusOpen > accrual.StatusBusy)
	// Output:
	// alive open
	// dead busy
	// probing open
	// probing busy
	// true
}
