package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery"
	"github.com/slinkerd/slinkerd/discovery/dns"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/discovery/inet"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// namerSet is what the namers hand to the rest of the app: the closers,
// the ID token source for the proxy, the RoundTrippers of endpoints that
// are not HTTP addresses, and the sections of /admin/discovery.json.
type namerSet struct {
	closers    []func() error
	tokens     *idtoken.Source
	transports map[string]http.RoundTripper
	sections   []admin.DiscoverySection
}

// handlers returns the admin endpoints, adding /admin/discovery.json to
// others.
func (d *namerSet) handlers(others map[string]http.Handler) map[string]http.Handler {
	out := map[string]http.Handler{admin.DiscoveryPath: admin.DiscoveryHandler(d.sections)}
	for k, v := range others {
		out[k] = v
	}
	return out
}

// newInterpreter builds the namers and the interpreter from cfg. Every
// namer is registered, but none calls anything or builds an SDK client
// before a name under it is first used, so start-up stays cheap:
//
//   - /$/inet (A/AAAA through a DNS client that honours record TTLs, capped
//     at SLINKERD_DISCOVERY_TTL), /$/nil and /$/fail;
//   - /#/io.l5d.dnssrv;
//   - the namers registered with package discovery (namers.go): those
//     this program imports, such as /#/io.l5d.fs (when SLINKERD_FS_DIR is
//     set), /#/io.l5d.cloudmap, /#/io.l5d.cloudrun and /#/io.l5d.lambda;
//     the known ones it does not import fail every name, saying so.
//
// watch turns on background refresh where it is allowed.
func newInterpreter(cfg *config.Config, log *slog.Logger, watch bool) (*bind.Interpreter, *namerSet, error) {
	dtab, err := name.ParseDtab(cfg.Routing.Dtab)
	if err != nil {
		return nil, nil, fmt.Errorf("SLINKERD_DTAB: %w", err)
	}
	dc := cfg.Discovery
	d := &namerSet{}
	ns := &bind.Namers{}
	add := func(prefix string, n name.Namer, state func() any) error {
		if err := ns.Add(prefix, n); err != nil {
			return err
		}
		if state != nil {
			d.sections = append(d.sections, admin.DiscoverySection{Name: prefix, State: state})
		}
		return nil
	}

	resolver, err := dns.NewResolver(dns.ResolverConfig{MaxTTL: dc.TTL})
	if err != nil {
		return nil, nil, err
	}
	sys, err := inet.System(inet.Config{Resolver: resolver, TTL: dc.TTL, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	for _, r := range sys {
		var state func() any
		if in, ok := r.Namer.(*inet.Inet); ok {
			state = func() any { return in.State() }
		}
		if err := add(r.Prefix.String(), r.Namer, state); err != nil {
			return nil, nil, err
		}
	}
	emptyGrace := dc.EmptyGrace
	if emptyGrace == 0 {
		emptyGrace = -1 // refresh.Config and fs.Config: negative means none
	}
	// The namers' Refresh settings (discovery/internal/refresh.Config) are
	// set field by field: the type is internal to discovery.
	srvCfg := dns.SRVConfig{Resolver: resolver, Logger: log}
	srvCfg.Refresh.TTL, srvCfg.Refresh.EmptyGrace, srvCfg.Refresh.Background = dc.TTL, emptyGrace, watch
	srv, err := dns.NewSRV(srvCfg)
	if err != nil {
		return nil, nil, err
	}
	d.closers = append(d.closers, srv.Close)
	if err := add("/#/io.l5d.dnssrv", srv, func() any { return srv.State() }); err != nil {
		return nil, nil, err
	}
	params := discovery.Params{Config: cfg, Logger: log, Watch: watch}
	if err := addNamers(d, add, params); err != nil {
		return nil, nil, err
	}

	fetcher, err := idTokenFetcher(params)
	if err != nil {
		return nil, nil, err
	}
	d.tokens, err = idtoken.New(idtoken.Config{Logger: log, Fetcher: fetcher, Header: dc.IDTokenHeader})
	if err != nil {
		return nil, nil, err
	}
	d.sections = append(d.sections, admin.DiscoverySection{Name: "idTokens", State: func() any { return d.tokens.State() }})

	warnUnservedLeaves(log, dtab, ns)
	in, err := bind.New(bind.Config{Dtab: dtab, Namers: ns})
	if err != nil {
		return nil, nil, err
	}
	return in, d, nil
}

// backendTransports returns the proxy's connection pools, with
// SLINKERD_RESPONSE_HEADER_TIMEOUT, trusting SLINKERD_BACKEND_CA_FILE's
// certificates (on top of the system roots) for https endpoints.
func backendTransports(cfg *config.Config, cc Concurrency, byKind map[string]http.RoundTripper) (*proxy.Transports, error) {
	tc := proxy.TransportConfig{ResponseHeaderTimeout: cfg.Proxy.ResponseHeaderTimeout, MaxIdleConnsPerHost: cc.IdleConnsPerHost}
	if tc.ResponseHeaderTimeout == 0 {
		tc.ResponseHeaderTimeout = -1 // SLINKERD_RESPONSE_HEADER_TIMEOUT=0: no limit
	}
	tc.ByKind = byKind
	if cfg.Proxy.BackendCAFile == "" {
		return proxy.NewTransports(tc), nil
	}
	pem, err := os.ReadFile(cfg.Proxy.BackendCAFile)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_BACKEND_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("SLINKERD_BACKEND_CA_FILE: %s holds no PEM certificate", cfg.Proxy.BackendCAFile)
	}
	tc.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return proxy.NewTransports(tc), nil
}
