package lambdaext

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// TestRefreshStaleSamplesNamesInUse checks that an invocation start runs
// the on-use hook of every bound name the proxy has used (the hook is
// where namers decide, by TTL, to refresh), and of no other.
func TestRefreshStaleSamplesNamesInUse(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(be.Close)
	port := be.Listener.Addr().(*net.TCPAddr).Port

	uses := map[string]*atomic.Int64{"users": {}, "orders": {}}
	vars := map[string]*name.Var{}
	for svc, n := range uses {
		vars[svc] = name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "127.0.0.1", Port: port}}},
			func() { n.Add(1) })
	}
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/test", name.NamerFunc(func(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
		v, ok := vars[p[0]]
		if !ok {
			return name.Tree[name.Bound]{}, nil
		}
		return name.NewLeaf(name.Bound{ID: name.Path{"#", "test", p[0]}, Residual: p[1:], Addr: v}), nil
	})))
	dtab, err := name.ParseDtab("/svc=>/#/test")
	require.NoError(t, err)
	in, err := bind.New(bind.Config{Dtab: dtab, Namers: ns})
	require.NoError(t, err)
	p, err := proxy.New(proxy.Config{Interpreter: in})
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	a := &app.App{Interpreter: in, Proxy: p}

	assert.Equal(t, 0, a.RefreshStale(context.Background()), "no name used yet")

	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	req, err := http.NewRequest(http.MethodGet, front.URL, nil)
	require.NoError(t, err)
	req.Host = "users"
	resp, err := front.Client().Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	front.Client().CloseIdleConnections()

	before := uses["users"].Load()
	assert.Equal(t, 1, a.RefreshStale(context.Background()))
	assert.Equal(t, before+1, uses["users"].Load(), "the used name's hook ran")
	assert.Equal(t, int64(0), uses["orders"].Load(), "an unused name is left alone")
}
