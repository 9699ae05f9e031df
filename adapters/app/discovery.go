package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/slinkerd/slinkerd/core/admin"
	"github.com/slinkerd/slinkerd/core/bind"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/discovery/dns"
	"github.com/slinkerd/slinkerd/discovery/fs"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/discovery/inet"
)

// discovery is what the namers hand to the rest of the app: the closers,
// the ID token source for the proxy, and the sections of
// /admin/discovery.json.
type discovery struct {
	closers  []func() error
	tokens   *idtoken.Source
	sections []admin.DiscoverySection
}

// handlers returns the admin endpoints, adding /admin/discovery.json to
// others.
func (d *discovery) handlers(others map[string]http.Handler) map[string]http.Handler {
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
//   - /#/io.l5d.fs when SLINKERD_FS_DIR is set;
//   - /#/io.l5d.dnssrv, /#/io.l5d.cloudmap and /#/io.l5d.cloudrun (the
//     last two fail every name in builds that leave them out: namers_*.go).
//
// watch turns on background refresh where it is allowed.
func newInterpreter(cfg *config.Config, log *slog.Logger, watch bool) (*bind.Interpreter, *discovery, error) {
	dtab, err := name.ParseDtab(cfg.Routing.Dtab)
	if err != nil {
		return nil, nil, fmt.Errorf("SLINKERD_DTAB: %w", err)
	}
	dc := cfg.Discovery
	d := &discovery{}
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
	if dc.FSDir != "" {
		n, err := fs.New(fs.Config{Dir: dc.FSDir, Watch: watch, EmptyGrace: emptyGrace, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("SLINKERD_FS_DIR: %w", err)
		}
		d.closers = append(d.closers, n.Close)
		if err := add("/#/io.l5d.fs", n, func() any { return n.State() }); err != nil {
			return nil, nil, err
		}
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
	// Cloud Map and Cloud Run are in their own files, which build tags
	// can leave out (namers_*.go): their SDKs are most of the binary, its
	// start-up and its idle memory.
	cc := cloudConfig{dc: dc, emptyGrace: emptyGrace, watch: watch, log: log}
	if err := addCloudMap(d, add, cc); err != nil {
		return nil, nil, err
	}
	if err := addCloudRun(d, add, cc); err != nil {
		return nil, nil, err
	}
	if err := addLambdaFn(d, add, cc); err != nil {
		return nil, nil, err
	}

	fetcher, err := idTokenFetcher(dc)
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
func backendTransports(cfg *config.Config, cc Concurrency) (*proxy.Transports, error) {
	tc := proxy.TransportConfig{ResponseHeaderTimeout: cfg.Proxy.ResponseHeaderTimeout, MaxIdleConnsPerHost: cc.IdleConnsPerHost}
	if tc.ResponseHeaderTimeout == 0 {
		tc.ResponseHeaderTimeout = -1 // SLINKERD_RESPONSE_HEADER_TIMEOUT=0: no limit
	}
	var err error
	if tc.ByKind, err = lambdaTransports(); err != nil { // namers_lambdafn.go
		return nil, err
	}
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
