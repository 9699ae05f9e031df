package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// oneNamer binds /#/one/<anything> to one address.
type oneNamer struct{ addr name.Address }

func (n oneNamer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{n.addr}}, nil)
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "one"}, Residual: p, Addr: v}), nil
}

// BenchmarkProxyObserver measures a whole proxied request (client, proxy
// and backend in this process, over loopback) with metrics off and on:
// the difference is the telemetry's cost on the data path.
//
//	go test -run XXX -bench ProxyObserver -count 6 ./internal/telemetry/
func BenchmarkProxyObserver(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer backend.Close()
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	pn, _ := strconv.Atoi(port)

	for _, mode := range []string{"off", "on"} {
		b.Run("metrics="+mode, func(b *testing.B) {
			ns := &bind.Namers{}
			require.NoError(b, ns.Add("/#/one", oneNamer{addr: name.Address{Host: host, Port: pn}}))
			in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/#/one"), Namers: ns})
			require.NoError(b, err)
			cfg := proxy.Config{Interpreter: in}
			if mode == "on" {
				tel, err := telemetry.New(telemetry.Config{})
				require.NoError(b, err)
				cfg.Observer = tel
				defer func() { _ = tel.Snapshot() }()
			}
			p, err := proxy.New(cfg)
			require.NoError(b, err)
			if t, ok := cfg.Observer.(*telemetry.Telemetry); ok {
				t.SetSource(p)
			}
			srv, err := proxy.Listen(proxy.ServerConfig{Addr: "127.0.0.1:0"}, p)
			require.NoError(b, err)
			go func() { _ = srv.Serve() }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			url := "http://" + srv.Addr().String() + "/"
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Host = "users"
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			})
		})
	}
}
