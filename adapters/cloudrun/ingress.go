package cloudrun

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/inet"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// IngressService is the logical name of every ingress request, the name
// its metrics are reported under. It is outside SLINKERD_DST_PREFIX, so
// it never mixes with the outbound services.
const IngressService = "/ingress"

// ingress is the optional proxy in front of the app container: every
// request to $PORT goes to SLINKERD_INGRESS_TARGET. It is the same proxy
// as the outbound one (so metrics, the timeout, requeues while the app is
// not listening yet and l5d-err all work the same way) with a fixed name
// and a one-entry dtab the user never sees.
type ingress struct {
	proxy  *proxy.Proxy
	server *proxy.Server
	target string
}

// fixedIdentifier names every request IngressService.
type fixedIdentifier struct{ path name.Path }

// Identify implements proxy.Identifier.
func (f fixedIdentifier) Identify(*http.Request) (name.Path, error) { return f.path, nil }

// ingressListen is the ingress listen address: SLINKERD_INGRESS_LISTEN,
// else every interface on $PORT, else on 8080 (Cloud Run's default).
func ingressListen(cfg *config.Config, environ map[string]string) string {
	if cfg.Ingress.Listen != "" {
		return cfg.Ingress.Listen
	}
	port := environ["PORT"]
	if port == "" {
		port = "8080"
	}
	return net.JoinHostPort("0.0.0.0", port)
}

// newIngress builds the ingress proxy and opens its listener. wrap, if
// not nil, wraps its handler (the sidecar counts in-flight requests).
func newIngress(cfg *config.Config, environ map[string]string, obs proxy.Observer, wrap func(http.Handler) http.Handler, log *slog.Logger) (*ingress, error) {
	host, port, err := net.SplitHostPort(cfg.Ingress.Target)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_INGRESS_TARGET: %w", err)
	}
	svc := name.MustParsePath(IngressService)
	dst := name.Path{"$", "inet", host, port}
	dtab, err := name.ParseDtab(IngressService + "=>" + dst.String())
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_INGRESS_TARGET: %w", err)
	}
	ns := &bind.Namers{}
	sys, err := inet.System(inet.Config{TTL: cfg.Discovery.TTL, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	for _, r := range sys {
		if err := ns.Add(r.Prefix.String(), r.Namer); err != nil {
			return nil, fmt.Errorf("ingress: %w", err)
		}
	}
	in, err := bind.New(bind.Config{Dtab: dtab, Namers: ns})
	if err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	// One policy for the one service, so its budget is shared. Its replay
	// buffer is SLINKERD_RETRY_BUFFER_BYTES (0: never replayed).
	pol := &proxy.Policy{TotalTimeout: cfg.Ingress.Timeout, ReplayLimit: cfg.Retry.BufferBytes}
	p, err := proxy.New(proxy.Config{
		Interpreter: in,
		Identifier:  fixedIdentifier{svc},
		Policy:      func(name.Path) (*proxy.Policy, error) { return pol, nil },
		// Every request to $PORT comes through Google's front end, which
		// sets X-Forwarded-For: keep it, so the app sees the client.
		TrustForwarded:      true,
		MaxCallDepth:        cfg.Proxy.MaxCallDepth,
		MaxRequestBodyBytes: cfg.Proxy.MaxRequestBodyBytes,
		BodyReadTimeout:     cfg.Proxy.BodyReadTimeout,
		Logger:              log,
		Observer:            obs,
	})
	if err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	var h http.Handler = p
	if wrap != nil {
		h = wrap(h)
	}
	addr := ingressListen(cfg, environ)
	srv, err := proxy.Listen(proxy.ServerConfig{
		Addr:              addr,
		ReadHeaderTimeout: app.NoLimitIfZero(cfg.Proxy.ReadHeaderTimeout),
		IdleTimeout:       app.NoLimitIfZero(cfg.Proxy.IdleTimeout),
		MaxHeaderBytes:    cfg.Proxy.MaxHeaderBytes,
		Logger:            log,
	}, h)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_INGRESS_LISTEN: %w", err)
	}
	return &ingress{proxy: p, server: srv, target: cfg.Ingress.Target}, nil
}

// start serves in the background; the channel gets the serve error, if
// the listener fails before shutdown.
func (g *ingress) start() <-chan error {
	errc := make(chan error, 1)
	go func() {
		if err := g.server.Serve(); err != nil {
			errc <- err
		}
	}()
	return errc
}

// shutdown stops taking requests and drains the in-flight ones until ctx
// is done.
func (g *ingress) shutdown(ctx context.Context) error {
	err := g.server.Shutdown(ctx)
	g.proxy.CloseIdleConnections()
	return err
}
