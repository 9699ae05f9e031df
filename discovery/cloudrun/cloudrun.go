// Package cloudrun is the io.l5d.cloudrun namer: it binds
// /#/io.l5d.cloudrun/<project>/<region>/<service> to the https URL of a
// Cloud Run service, read with the Cloud Run Admin API v2 GetService
// (cloud.google.com/go/run/apiv2).
//
// A Cloud Run service has one endpoint, its URL (Service.uri), which
// Google's front end balances: the namer binds it as
// Address{Host: <service host>, Port: 443, Meta: {"scheme": "https",
// "host": <service host>, "audience": <audience>}}. The proxy then calls it
// over TLS and, through its TokenSource (discovery/idtoken), attaches an
// ID token for the audience: Config.Audience (SLINKERD_ID_TOKEN_AUDIENCE)
// when set, otherwise the service URL.
//
// Readiness: a service is routable once it has served (its terminal
// condition succeeded, or it has a latest ready revision: a new revision
// being rolled out, or one that failed to deploy, leaves the previous one
// serving). A service that has never been ready binds to Neg; one that
// stops being ready keeps its last good URL (an error is recorded). A
// service with ingress INGRESS_TRAFFIC_NONE binds to an empty set (subject
// to the empty grace period). Ingress "internal" and "internal and Cloud
// Load Balancing" are routable from a sidecar whose egress goes through the
// VPC (Direct VPC egress or a connector with all traffic routed); the
// namer binds them like public services and records the ingress in its
// state, since it cannot see how the caller's egress is set up.
//
// The SDK client is built on the namer's first use. Config.Endpoint
// (SLINKERD_CLOUDRUN_ENDPOINT) overrides the API endpoint; an endpoint on
// loopback (a local fake) is called over plain-text gRPC without
// credentials, any other with TLS and Application Default Credentials.
package cloudrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
)

// ErrInvalidPath is wrapped by Lookup's error for a malformed path.
var ErrInvalidPath = errors.New("cloudrun: invalid path")

// ErrNotReady is wrapped by the error recorded when a service that was
// ready stops being ready (its last good URL keeps serving).
var ErrNotReady = errors.New("service is not ready")

// API is the part of the Cloud Run services client the namer uses.
// *run.ServicesClient implements it.
type API interface {
	// GetService reads a service.
	GetService(ctx context.Context, req *runpb.GetServiceRequest, opts ...gax.CallOption) (*runpb.Service, error)
}

// Config configures a Namer. The zero value is ready to use.
type Config struct {
	// Client calls the Cloud Run Admin API. If nil, a client is built on
	// first use (see Endpoint).
	Client API
	// Endpoint overrides the API endpoint, host:port. A loopback host
	// (127.0.0.1, ::1, localhost) is called with plain-text gRPC and no
	// credentials, as a local fake needs. Defaults to empty (the client's
	// default, run.googleapis.com:443, with Application Default
	// Credentials).
	Endpoint string
	// Audience is the ID token audience put on every endpoint. Defaults to
	// empty: each service's URL.
	Audience string
	// Prefix is the path the namer is registered under. Defaults to
	// /#/io.l5d.cloudrun.
	Prefix name.Path
	// Refresh configures TTLs, backoff, the empty grace period and
	// background refresh. Its Namer defaults to "cloudrun".
	Refresh refresh.Config
	// Logger receives warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

// Namer is the io.l5d.cloudrun namer. It is safe for concurrent use.
type Namer struct {
	cfg   Config
	cache *refresh.Cache
	log   *slog.Logger

	mu     sync.Mutex
	client API
	close  func() error
}

// New returns a Namer. It builds no client: that happens on first use.
func New(cfg Config) (*Namer, error) {
	if cfg.Prefix == nil {
		cfg.Prefix = name.Path{"#", "io.l5d.cloudrun"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Endpoint != "" {
		if _, _, err := net.SplitHostPort(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("cloudrun: Endpoint %q: want host:port: %w", cfg.Endpoint, err)
		}
	}
	cfg.Refresh.Namer = cmp.Or(cfg.Refresh.Namer, "cloudrun")
	if cfg.Refresh.Logger == nil {
		cfg.Refresh.Logger = cfg.Logger
	}
	cache, err := refresh.New(cfg.Refresh)
	if err != nil {
		return nil, err
	}
	return &Namer{cfg: cfg, cache: cache, log: cfg.Logger, client: cfg.Client}, nil
}

// Close stops background refresh and closes the client the namer built.
func (n *Namer) Close() error {
	err := n.cache.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.close != nil {
		err = errors.Join(err, n.close())
		n.close, n.client = nil, nil
	}
	return err
}

// State returns each name's state, for /admin/discovery.json.
func (n *Namer) State() []refresh.State { return n.cache.State() }

// Lookup binds <project>/<region>/<service>[/residual…]. The first lookup
// of a name waits for its first answer (or ctx). A service that does not
// exist or has never been ready is Neg.
func (n *Namer) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	if len(path) < 3 {
		return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: expected /<project>/<region>/<service>", ErrInvalidPath, path)
	}
	for _, seg := range path[:3] {
		if seg == "" || seg == "." || seg == ".." {
			return name.Tree[name.Bound]{}, fmt.Errorf("%w %s: empty or relative segment", ErrInvalidPath, path)
		}
	}
	resource := "projects/" + path[0] + "/locations/" + path[1] + "/services/" + path[2]
	key := path[0] + "/" + path[1] + "/" + path[2]
	e, a, err := n.cache.Lookup(ctx, key, func() refresh.Source { return &source{n: n, resource: resource} })
	if err != nil {
		return name.Tree[name.Bound]{}, err
	}
	if a.State == name.AddrNeg {
		return name.Tree[name.Bound]{}, nil
	}
	return name.NewLeaf(name.Bound{
		ID:       n.cfg.Prefix.Concat(path[:3]),
		Residual: name.Path(nil).Concat(path[3:]),
		Addr:     e.Var(),
	}), nil
}

// api returns the client, building it on first use. A failure is not
// remembered: the next refresh tries again.
func (n *Namer) api(ctx context.Context) (API, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		return n.client, nil
	}
	c, err := NewClient(ctx, n.cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	n.client, n.close = c, c.Close
	return c, nil
}

// NewClient builds a Cloud Run services client. endpoint, when set,
// overrides the API endpoint (see Config.Endpoint).
func NewClient(ctx context.Context, endpoint string) (*run.ServicesClient, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		if isLoopback(endpoint) {
			conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return nil, fmt.Errorf("cloudrun: connect to %s: %w", endpoint, err)
			}
			opts = append(opts, option.WithGRPCConn(conn))
			c, err := run.NewServicesClient(ctx, opts...)
			if err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("cloudrun: build the client for %s: %w", endpoint, err)
			}
			// The client does not own a connection it was given.
			return c, nil
		}
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	c, err := run.NewServicesClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudrun: build the client: %w", err)
	}
	return c, nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noRetry leaves retries to the namer's own backoff.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

// source refreshes one service.
type source struct {
	n           *Namer
	resource    string
	everReady   bool
	lastIngress runpb.IngressTraffic
}

func (s *source) Fetch(ctx context.Context) (refresh.Result, error) {
	api, err := s.n.api(ctx)
	if err != nil {
		return refresh.Result{}, err
	}
	svc, err := api.GetService(ctx, &runpb.GetServiceRequest{Name: s.resource}, noRetry)
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound:
			return refresh.Result{Neg: true}, nil
		case codes.ResourceExhausted:
			return refresh.Result{}, refresh.Throttled(fmt.Errorf("cloudrun: GetService %s: %w", s.resource, err))
		}
		return refresh.Result{}, fmt.Errorf("cloudrun: GetService %s: %w", s.resource, err)
	}
	if svc.GetIngress() != s.lastIngress {
		s.lastIngress = svc.GetIngress()
		if s.lastIngress != runpb.IngressTraffic_INGRESS_TRAFFIC_ALL {
			s.n.log.Info("cloudrun: service ingress is restricted; routing to it needs VPC egress", "service", s.resource, "ingress", s.lastIngress.String())
		}
	}
	if !ready(svc) {
		if !s.everReady {
			return refresh.Result{Neg: true}, nil
		}
		return refresh.Result{}, fmt.Errorf("cloudrun: %s: %w: %s", s.resource, ErrNotReady, conditionText(svc.GetTerminalCondition()))
	}
	s.everReady = true
	if svc.GetIngress() == runpb.IngressTraffic_INGRESS_TRAFFIC_NONE {
		return refresh.Result{Addrs: nil}, nil
	}
	a, err := s.n.address(svc)
	if err != nil {
		return refresh.Result{}, fmt.Errorf("cloudrun: %s: %w", s.resource, err)
	}
	return refresh.Result{Addrs: []name.Address{a}}, nil
}

// ready reports whether a service serves traffic.
func ready(svc *runpb.Service) bool {
	if svc.GetUri() == "" {
		return false
	}
	if tc := svc.GetTerminalCondition(); tc != nil && tc.GetState() == runpb.Condition_CONDITION_SUCCEEDED {
		return true
	}
	return svc.GetLatestReadyRevision() != ""
}

func conditionText(c *runpb.Condition) string {
	if c == nil {
		return "no terminal condition"
	}
	return cmp.Or(c.GetType(), "Ready") + " is " + c.GetState().String() + cmp.Or(": "+c.GetMessage(), "")
}

// address builds the endpoint of a service from its URL.
func (n *Namer) address(svc *runpb.Service) (name.Address, error) {
	u, err := url.Parse(svc.GetUri())
	if err != nil {
		return name.Address{}, fmt.Errorf("service URL %q: %w", svc.GetUri(), err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return name.Address{}, fmt.Errorf("service URL %q: want https://host", svc.GetUri())
	}
	host, _, err := namerkit.ParseHost(u.Hostname())
	if err != nil {
		return name.Address{}, fmt.Errorf("service URL %q: %w", svc.GetUri(), err)
	}
	port := 443
	if p := u.Port(); p != "" {
		if port, err = namerkit.ParsePort(p); err != nil {
			return name.Address{}, fmt.Errorf("service URL %q: %w", svc.GetUri(), err)
		}
	}
	hostHeader := u.Hostname()
	if port != 443 {
		hostHeader = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	}
	aud := cmp.Or(n.cfg.Audience, "https://"+hostHeader)
	return name.Address{
		Host: host,
		Port: port,
		Meta: map[string]string{"scheme": "https", "host": hostHeader, "audience": aud},
	}, nil
}

var (
	_ name.Namer     = (*Namer)(nil)
	_ refresh.Source = (*source)(nil)
	_ API            = (*run.ServicesClient)(nil)
)
