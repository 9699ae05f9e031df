package clock_test

import (
	"fmt"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
)

func ExampleNewFake() {
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	fmt.Println(clk.Now())

	clk.Advance(90 * time.Second)
	fmt.Println(clk.Now())

	clk.Set(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(clk.Now())
	// Output:
	// 2026-01-02 03:04:05 +0000 UTC
	// 2026-01-02 03:05:35 +0000 UTC
	// 2027-06-01 00:00:00 +0000 UTC
}

// A component takes a Clock in its config and reads it through Or, so that
// the zero config uses the system clock and a test injects a Fake.
func ExampleOr() {
	type config struct{ Clock clock.Clock }

	var prod config
	fmt.Printf("%T\n", clock.Or(prod.Clock))

	test := config{Clock: clock.NewFake(time.Unix(0, 0).UTC())}
	fmt.Printf("%T %v\n", clock.Or(test.Clock), clock.Or(test.Clock).Now())
	// Output:
	// clock.Real
	// *clock.Fake 1970-01-01 00:00:00 +0000 UTC
}

func ExampleReal_Now() {
	var clk clock.Clock = clock.Real{}
	start := clk.Now()
	fmt.Println(!clk.Now().Before(start))
	// Output:
	// true
}
