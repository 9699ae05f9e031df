package balance_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd"
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

// firstEndpoint is a balancer for ExampleRegister: it sends every request to the
// first endpoint of the set and reports each outcome on outcomes.
type firstEndpoint struct {
	mu       sync.Mutex
	addrs    []name.Address
	outcomes chan bool
}

// Pick implements balance.Picker. It never blocks: with no endpoints it
// returns balance.ErrNoEndpoints.
func (f *firstEndpoint) Pick() (*balance.Pick, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.addrs) == 0 {
		return nil, balance.ErrNoEndpoints
	}
	return balance.NewPick(f.addrs[0], func(failed bool) {
		select {
		case f.outcomes <- failed:
		default:
		}
	}), nil
}

// Update implements balance.Balancer: addrs is the complete new set.
func (f *firstEndpoint) Update(addrs []name.Address) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = addrs
}

// Endpoints implements balance.Picker; a registered balancer that keeps
// no statistics may return nil.
func (f *firstEndpoint) Endpoints() []balance.EndpointStats { return nil }

var firstOutcomes = make(chan bool, 16)

// A program registers its balancers from an init function, as grpc-go's
// are.
func init() {
	balance.Register("example.first", func(balance.Config) (balance.Balancer, error) {
		return &firstEndpoint{outcomes: firstOutcomes}, nil
	})
}

// Register adds a balancer that SLINKERD_BALANCER (or Config.Kind) can
// name. Here a slinkerd.Client balances /svc/users with it.
func ExampleRegister() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from users")
	}))
	defer srv.Close()

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":     fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", srv.Listener.Addr().(*net.TCPAddr).Port),
		"SLINKERD_BALANCER": "example.first",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	resp, err := c.HTTPClient().Get("http://users/")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(b))

	// The proxy reports the outcome once it is done with the endpoint.
	select {
	case failed := <-firstOutcomes:
		fmt.Println("failed:", failed)
	case <-time.After(5 * time.Second):
		fmt.Println("no outcome")
	}

	// balance.New builds a registered kind too.
	bal, err := balance.New(balance.Config{Kind: "example.first"})
	fmt.Printf("%T %v\n", bal, err)
	// Output:
	// 200 hello from users
	// failed: false
	// *balance_test.firstEndpoint <nil>
}

// NewPick is how a registered balancer returns its choice: done is
// called once, with the outcome, when the proxy is finished with it.
func ExampleNewPick() {
	p := balance.NewPick(name.Address{Host: "10.0.0.1", Port: 8080}, func(failed bool) {
		fmt.Println("done, failed:", failed)
	})
	fmt.Println(p.HostPort)
	p.Done(true) // the response was classified as a failure
	p.Done(true) // later calls are ignored
	// Output:
	// 10.0.0.1:8080
	// done, failed: true
}
