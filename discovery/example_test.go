package discovery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery"
)

// staticKind is the kind of the example's namer: a dtab names it
// /#/example.static.
const staticKind = "example.static"

// static is a namer over a table the program fills: /#/example.static/users
// binds to the addresses set for "users". Unknown names are negative, so
// a dtab's alternation can fall back past them.
type static struct {
	mu    sync.Mutex
	table map[string][]name.Address
}

var services = &static{table: map[string][]name.Address{}}

func (s *static) set(service string, addrs ...name.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table[service] = addrs
}

// Lookup implements name.Namer. path is what follows the namer's
// prefix; its first element is the service, the rest is the residual.
func (s *static) Lookup(_ context.Context, path name.Path) (name.Tree[name.Bound], error) {
	if len(path) == 0 {
		return name.Tree[name.Bound]{Kind: name.Neg}, nil
	}
	s.mu.Lock()
	addrs, ok := s.table[path[0]]
	s.mu.Unlock()
	if !ok {
		return name.Tree[name.Bound]{Kind: name.Neg}, nil
	}
	return name.NewLeaf(name.Bound{
		ID:       name.Path{"#", staticKind, path[0]},
		Residual: path[1:],
		Addr:     name.NewVar(name.Addr{State: name.AddrBound, Addresses: addrs}, nil),
	}), nil
}

// A namer registers itself from an init function, as its package's
// import would: every Client built after it mounts the namers its
// factory returns.
func init() {
	discovery.RegisterNamer(staticKind, func(discovery.Params) ([]discovery.Namer, error) {
		return []discovery.Namer{{Prefix: "/#/" + staticKind, Namer: services}}, nil
	})
}

func ExampleRegisterNamer() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))
	defer srv.Close()
	services.set("users", name.Address{Host: "127.0.0.1", Port: srv.Listener.Addr().(*net.TCPAddr).Port})

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB": "/svc=>/#/example.static",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	for _, url := range []string{"http://users/", "http://orders/"} {
		resp, err := c.HTTPClient().Get(url)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// The namer said the name does not exist: l5d-err says so.
			fmt.Println(url, resp.StatusCode)
			continue
		}
		fmt.Println(url, resp.StatusCode, string(b))
	}
	// Output:
	// http://users/ 200 hello from users
	// http://orders/ 502
}
