package admin_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// addrNamer binds /#/addr/<name> to a Var holding a fixed snapshot.
type addrNamer map[string]name.Addr

func (n addrNamer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	a, ok := n[p[0]]
	if !ok {
		return name.Tree[name.Bound]{}, nil
	}
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "addr", p[0]}, Addr: name.NewVar(a, nil)}), nil
}

// TestDelegateResultNeedsEndpoints: a delegation is "bound" only when a
// bound name has endpoints, as the proxy needs; otherwise it is "empty"
// and Error names each bound name with its state and the namer's error
// (defect 10 of issue 14).
func TestDelegateResultNeedsEndpoints(t *testing.T) {
	dnsErr := &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/addr", addrNamer{
		"ok":    {State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: 80}}},
		"empty": {State: name.AddrBound, Addresses: []name.Address{}},
		"neg":   {State: name.AddrNeg, Err: dnsErr},
	}))
	in, err := bind.New(bind.Config{Namers: ns})
	require.NoError(t, err)
	tests := []struct {
		name   string
		dtab   string
		result string
		errs   []string
	}{
		{name: "endpoints", dtab: "/svc=>/#/addr/ok", result: "bound"},
		{name: "one branch of a union has endpoints", dtab: "/svc=>/#/addr/ok & /#/addr/neg", result: "bound"},
		{name: "empty set", dtab: "/svc=>/#/addr/empty", result: "empty",
			errs: []string{"/svc/x binds to no endpoints", "/#/addr/empty (bound, no endpoints)"}},
		{name: "DNS failure", dtab: "/svc=>/#/addr/neg", result: "empty",
			errs: []string{"/svc/x binds to no endpoints", "/#/addr/neg (neg): lookup nosuch.invalid: no such host"}},
		{name: "union without endpoints", dtab: "/svc=>/#/addr/empty & /#/addr/neg", result: "empty",
			errs: []string{"/#/addr/empty (bound, no endpoints)", "/#/addr/neg (neg): lookup nosuch.invalid: no such host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out, status := admin.Delegate(ctx, in, tt.dtab, true, "/svc/x")
			require.Equal(t, 200, status)
			assert.Equal(t, tt.result, out.Result)
			if len(tt.errs) == 0 {
				assert.Empty(t, out.Error)
			}
			for _, want := range tt.errs {
				assert.Contains(t, out.Error, want)
			}
		})
	}
}
