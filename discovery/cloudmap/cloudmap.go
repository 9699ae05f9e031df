// Package cloudmap is the io.l5d.cloudmap namer: it binds
// /#/io.l5d.cloudmap/<namespace>/<service>[/<attr>=<value>…] to the
// instances that AWS Cloud Map's DiscoverInstances returns.
//
// Each instance becomes one endpoint: its host is AWS_INSTANCE_IPV4, else
// AWS_INSTANCE_IPV6, else AWS_INSTANCE_CNAME, and its port
// AWS_INSTANCE_PORT (instances without a port are skipped). An optional
// attribute (Config.WeightAttribute) gives the endpoint's weight; weight 0
// takes an instance out of rotation. Path segments of the form
// <attr>=<value> after the service name become DiscoverInstances
// QueryParameters (the path syntax writes '=' as \x3d:
// /#/io.l5d.cloudmap/prod/users/version\x3dv2); the first segment without
// '=' starts the residual.
//
// Refreshing is cheap and lazy (see discovery/internal/refresh): when a
// name is used after its TTL, the namer asks DiscoverInstancesRevision and
// calls DiscoverInstances only when the revision changed, or when
// Config.FullRefresh has passed since the last full fetch (health changes
// do not change the revision). Throttling (RequestLimitExceeded) and
// outages keep the last good set and back off.
//
// The SDK client is built on first use from the default AWS configuration:
// the SDK's standard chain (config.LoadDefaultConfig: AWS_REGION,
// credentials, and the endpoint override AWS_ENDPOINT_URL_SERVICEDISCOVERY),
// or in the Lambda layer's build (-tags slinkerd_noawsconfig) the same
// variables from the environment alone. For an endpoint on an IP
// address or localhost the SDK's "data-" host prefix is turned off, so
// that local servers work (aws-sdk-go-v2 issue 2556).
package cloudmap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/awserr"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
	"github.com/slinkerd/slinkerd/discovery/internal/refresh"
	"github.com/slinkerd/slinkerd/internal/awsconf"
)

// Defaults for Config.
const (
	// DefaultHealthStatus is the DiscoverInstances health filter.
	DefaultHealthStatus = "HEALTHY_OR_ELSE_ALL"
	// DefaultFullRefresh is how often a name is fully refetched even when
	// its revision has not changed.
	DefaultFullRefresh = 60 * time.Second
	// MaxResults is the MaxResults of DiscoverInstances: Cloud Map's
	// maximum (its default is 100).
	MaxResults = 1000
)

// The instance attributes Cloud Map defines.
const (
	AttrIPv4  = "AWS_INSTANCE_IPV4"
	AttrIPv6  = "AWS_INSTANCE_IPV6"
	AttrCNAME = "AWS_INSTANCE_CNAME"
	AttrPort  = "AWS_INSTANCE_PORT"
	// AttrAvailabilityZone is the instance's Availability Zone, which ECS
	// registers for its tasks; the namer copies it into the address's
	// Meta["zone"] for zone-aware routing.
	AttrAvailabilityZone = "AVAILABILITY_ZONE"
)

// ErrInvalidPath is wrapped by Lookup's error for a malformed path.
var ErrInvalidPath = errors.New("cloudmap: invalid path")

// API is the part of the servicediscovery client the namer uses.
// *servicediscovery.Client implements it.
type API interface {
	// DiscoverInstances lists a service's instances.
	DiscoverInstances(ctx context.Context, in *servicediscovery.DiscoverInstancesInput, optFns ...func(*servicediscovery.Options)) (*servicediscovery.DiscoverInstancesOutput, error)
	// DiscoverInstancesRevision returns a service's instances revision.
	DiscoverInstancesRevision(ctx context.Context, in *servicediscovery.DiscoverInstancesRevisionInput, optFns ...func(*servicediscovery.Options)) (*servicediscovery.DiscoverInstancesRevisionOutput, error)
}

// Config configures a Namer. The zero value is ready to use.
type Config struct {
	// Client calls Cloud Map. If nil, a servicediscovery client is built
	// on first use from the default AWS configuration (see the package
	// doc). NewClient builds one from a configuration of your own.
	Client API
	// Prefix is the path the namer is registered under; bound IDs start
	// with it. Defaults to /#/io.l5d.cloudmap.
	Prefix name.Path
	// HealthStatus is the DiscoverInstances health filter: HEALTHY,
	// UNHEALTHY, ALL or HEALTHY_OR_ELSE_ALL. Defaults to
	// HEALTHY_OR_ELSE_ALL.
	HealthStatus string
	// WeightAttribute names the instance attribute holding an endpoint's
	// weight (a non-negative number; 0 takes the instance out). Defaults
	// to empty (every endpoint weighs 1).
	WeightAttribute string
	// FullRefresh is how often a name is refetched with DiscoverInstances
	// even though its revision has not changed, to see health changes.
	// Defaults to 60s.
	FullRefresh time.Duration
	// Refresh configures TTLs, backoff, the empty grace period and
	// background refresh. Its Namer defaults to "cloudmap".
	Refresh refresh.Config
	// Clock tells the time for FullRefresh. Defaults to Refresh.Clock,
	// then the system clock.
	Clock clock.Clock
	// Logger receives warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

// Namer is the io.l5d.cloudmap namer. It is safe for concurrent use.
type Namer struct {
	cfg   Config
	cache *refresh.Cache
	clk   clock.Clock
	log   *slog.Logger

	mu     sync.Mutex
	client API
}

// New returns a Namer. It builds no SDK client: that happens on first use.
func New(cfg Config) (*Namer, error) {
	cfg.HealthStatus = cmp.Or(cfg.HealthStatus, DefaultHealthStatus)
	if !slices.Contains(types.HealthStatusFilter("").Values(), types.HealthStatusFilter(cfg.HealthStatus)) {
		return nil, fmt.Errorf("cloudmap: HealthStatus %q: must be one of HEALTHY, UNHEALTHY, ALL, HEALTHY_OR_ELSE_ALL", cfg.HealthStatus)
	}
	if cfg.FullRefresh < 0 {
		return nil, fmt.Errorf("cloudmap: FullRefresh %s: must not be negative", cfg.FullRefresh)
	}
	cfg.FullRefresh = cmp.Or(cfg.FullRefresh, DefaultFullRefresh)
	if cfg.Prefix == nil {
		cfg.Prefix = name.Path{"#", "io.l5d.cloudmap"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Refresh.Namer = cmp.Or(cfg.Refresh.Namer, "cloudmap")
	if cfg.Refresh.Logger == nil {
		cfg.Refresh.Logger = cfg.Logger
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Refresh.Clock
	}
	cache, err := refresh.New(cfg.Refresh)
	if err != nil {
		return nil, err
	}
	return &Namer{cfg: cfg, cache: cache, clk: clock.Or(cfg.Clock), log: cfg.Logger, client: cfg.Client}, nil
}

// Close stops background refresh.
func (n *Namer) Close() error { return n.cache.Close() }

// State returns each name's state, for /admin/discovery.json.
func (n *Namer) State() []refresh.State { return n.cache.State() }

// Lookup binds <namespace>/<service>[/<attr>=<value>…][/residual…]. The
// first lookup of a name waits for its first answer (or ctx). A namespace
// or service that does not exist is Neg, so that a dtab can fall back.
func (n *Namer) Lookup(ctx context.Context, path name.Path) (name.Tree[name.Bound], error) {
	q, rest, err := parsePath(path)
	if err != nil {
		return name.Tree[name.Bound]{}, err
	}
	e, a, err := n.cache.Lookup(ctx, q.key(), func() refresh.Source { return &source{n: n, q: q} })
	if err != nil {
		return name.Tree[name.Bound]{}, err
	}
	if a.State == name.AddrNeg {
		return name.Tree[name.Bound]{}, nil
	}
	return name.NewLeaf(name.Bound{
		ID:       n.cfg.Prefix.Concat(path[:len(path)-len(rest)]),
		Residual: name.Path(nil).Concat(rest),
		Addr:     e.Var(),
	}), nil
}

// query is one name: namespace, service and query parameters.
type query struct {
	ns, svc string
	params  map[string]string
	keys    []string // sorted keys of params
}

func (q query) key() string {
	var b strings.Builder
	b.WriteString(q.ns + "/" + q.svc)
	for _, k := range q.keys {
		b.WriteString("/" + k + "=" + q.params[k])
	}
	return b.String()
}

// parsePath splits a path into the query and the residual.
func parsePath(path name.Path) (query, name.Path, error) {
	if len(path) < 2 {
		return query{}, nil, fmt.Errorf("%w %s: expected /<namespace>/<service>[/<attr>=<value>…]", ErrInvalidPath, path)
	}
	q := query{ns: path[0], svc: path[1]}
	rest := path[2:]
	for len(rest) > 0 {
		k, v, ok := strings.Cut(rest[0], "=")
		if !ok {
			break
		}
		if k == "" {
			return query{}, nil, fmt.Errorf("%w %s: empty attribute name in %q", ErrInvalidPath, path, rest[0])
		}
		if q.params == nil {
			q.params = map[string]string{}
		}
		if _, dup := q.params[k]; dup {
			return query{}, nil, fmt.Errorf("%w %s: attribute %q given twice", ErrInvalidPath, path, k)
		}
		q.params[k] = v
		q.keys = append(q.keys, k)
		rest = rest[1:]
	}
	slices.Sort(q.keys)
	return q, rest, nil
}

// api returns the SDK client, building it on first use. A failure is not
// remembered: the next refresh tries again.
func (n *Namer) api(ctx context.Context) (API, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		return n.client, nil
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloudmap: load the AWS configuration: %w", err)
	}
	n.client = NewClient(cfg)
	return n.client, nil
}

// NewClient builds a servicediscovery client from an AWS configuration,
// as the namer uses it: retries are left to the namer's own backoff (the
// SDK's retryer is off), and the "data-" host prefix is off for endpoints
// on an IP address or localhost.
func NewClient(cfg aws.Config) *servicediscovery.Client {
	return servicediscovery.NewFromConfig(cfg, func(o *servicediscovery.Options) {
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = awsconf.SafeRequestBodies(o.HTTPClient)
		if o.BaseEndpoint != nil && isLocalEndpoint(*o.BaseEndpoint) {
			o.APIOptions = append(o.APIOptions, disableHostPrefix)
		}
	})
}

// isLocalEndpoint reports whether an endpoint URL's host is an IP address
// or localhost, where a "data-" prefix can never resolve.
func isLocalEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil
}

// disableHostPrefix turns off the operation's endpoint host prefix.
func disableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("slinkerdDisableHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// source refreshes one name. Fetch is never concurrent with itself.
type source struct {
	n *Namer
	q query

	haveRevision bool
	revision     int64
	lastFull     time.Time
}

func (s *source) Fetch(ctx context.Context) (refresh.Result, error) {
	api, err := s.n.api(ctx)
	if err != nil {
		return refresh.Result{}, err
	}
	ns, svc := aws.String(s.q.ns), aws.String(s.q.svc)
	now := s.n.clk.Now()
	if s.haveRevision && now.Sub(s.lastFull) < s.n.cfg.FullRefresh {
		out, err := api.DiscoverInstancesRevision(ctx, &servicediscovery.DiscoverInstancesRevisionInput{NamespaceName: ns, ServiceName: svc})
		if err != nil {
			return s.failed("DiscoverInstancesRevision", err)
		}
		if out.InstancesRevision != nil && *out.InstancesRevision == s.revision {
			return refresh.Result{Unchanged: true}, nil
		}
	}
	out, err := api.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{
		NamespaceName:   ns,
		ServiceName:     svc,
		HealthStatus:    types.HealthStatusFilter(s.n.cfg.HealthStatus),
		MaxResults:      aws.Int32(MaxResults),
		QueryParameters: s.q.params,
	})
	if err != nil {
		return s.failed("DiscoverInstances", err)
	}
	s.lastFull = now
	s.haveRevision = out.InstancesRevision != nil
	if s.haveRevision {
		s.revision = *out.InstancesRevision
	}
	return refresh.Result{Addrs: s.n.addresses(s.q, out.Instances)}, nil
}

// failed turns an SDK error into a Result: Neg for a missing namespace or
// service, a throttling error, or another error.
func (s *source) failed(op string, err error) (refresh.Result, error) {
	var nsErr *types.NamespaceNotFound
	var svcErr *types.ServiceNotFound
	if errors.As(err, &nsErr) || errors.As(err, &svcErr) {
		s.haveRevision = false
		return refresh.Result{Neg: true}, nil
	}
	err = fmt.Errorf("cloudmap: %s %s/%s: %w", op, s.q.ns, s.q.svc, err)
	if IsThrottle(err) {
		return refresh.Result{}, refresh.Throttled(err)
	}
	return refresh.Result{}, err
}

// IsThrottle reports whether err is Cloud Map (or AWS) throttling.
func IsThrottle(err error) bool { return awserr.IsThrottle(err) }

// addresses turns instances into a sorted endpoint set.
func (n *Namer) addresses(q query, insts []types.HttpInstanceSummary) []name.Address {
	out := make([]name.Address, 0, len(insts))
	for _, in := range insts {
		id := aws.ToString(in.InstanceId)
		a, err := n.address(in.Attributes)
		if err != nil {
			n.log.Warn("cloudmap: skipping instance", "name", q.key(), "instance", id, "error", err)
			continue
		}
		if a.Weight < 0 {
			continue // weight 0: out of rotation
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b name.Address) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port))
	})
	return slices.CompactFunc(out, func(a, b name.Address) bool { return a.Host == b.Host && a.Port == b.Port })
}

// address builds one endpoint from an instance's attributes. A Weight of
// -1 means the instance's weight attribute is 0.
func (n *Namer) address(attrs map[string]string) (name.Address, error) {
	host := cmp.Or(attrs[AttrIPv4], attrs[AttrIPv6], attrs[AttrCNAME])
	if host == "" {
		return name.Address{}, fmt.Errorf("no %s, %s or %s attribute", AttrIPv4, AttrIPv6, AttrCNAME)
	}
	h, _, err := namerkit.ParseHost(host)
	if err != nil {
		return name.Address{}, err
	}
	port, err := namerkit.ParsePort(attrs[AttrPort])
	if err != nil {
		return name.Address{}, fmt.Errorf("%s: %w", AttrPort, err)
	}
	a := name.Address{Host: h, Port: port}
	if z := attrs[AttrAvailabilityZone]; z != "" {
		a.Meta = map[string]string{"zone": z}
	}
	if wa := n.cfg.WeightAttribute; wa != "" {
		if ws, ok := attrs[wa]; ok {
			w, err := strconv.ParseFloat(ws, 64)
			if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
				return name.Address{}, fmt.Errorf("weight attribute %s=%q: want a non-negative number", wa, ws)
			}
			if w == 0 {
				w = -1
			}
			a.Weight = w
		}
	}
	return a, nil
}

var (
	_ name.Namer     = (*Namer)(nil)
	_ refresh.Source = (*source)(nil)
	_ API            = (*servicediscovery.Client)(nil)
)
