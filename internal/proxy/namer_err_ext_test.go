package proxy_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slinkerd/slinkerd/core/name"
)

// addrNamer binds /#/addr/<name> to a Var holding a fixed snapshot.
type addrNamer map[string]name.Addr

func (n addrNamer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	a, ok := n[p[0]]
	if !ok {
		return name.Tree[name.Bound]{}, nil
	}
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "addr", p[0]}, Residual: p[1:], Addr: name.NewVar(a, nil)}), nil
}

// TestNoEndpointsCarriesTheNamerError: the l5d-err of a name bound to
// no endpoints says why the namer has none (defect 11 of issue 14: a DNS
// failure said only "no endpoints" and dropped "no such host").
func TestNoEndpointsCarriesTheNamerError(t *testing.T) {
	dnsErr := &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}
	names := addrNamer{
		"neg":    {State: name.AddrNeg, Err: dnsErr},
		"failed": {State: name.AddrFailed, Err: errors.New("cloudmap: discover ns/svc: throttled")},
		"empty":  {State: name.AddrBound, Addresses: []name.Address{}},
	}
	tests := []struct {
		name string
		host string
		want string
	}{
		{name: "negative, with the namer's error", host: "neg",
			want: "no endpoints for /svc/neg (/#/addr/neg): lookup nosuch.invalid: no such host"},
		{name: "failed, with the namer's error", host: "failed",
			want: "no endpoints for /svc/failed (/#/addr/failed): cloudmap: discover ns/svc: throttled"},
		{name: "bound to an empty set, no error to add", host: "empty",
			want: "no endpoints for /svc/empty (/#/addr/empty)"},
	}
	addr, _ := serveProxy(t, "/svc=>/#/addr", "/#/addr", names, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, addr, tt.host, "/", nil)
			assert.Equal(t, 502, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("l5d-err"), tt.want)
		})
	}
}
