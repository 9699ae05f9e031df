// Package cloudmap is a local fake of the AWS Cloud Map data plane
// (servicediscovery's DiscoverInstances and DiscoverInstancesRevision) that
// speaks the real wire protocol, awsJson1_1: POST / with
// Content-Type application/x-amz-json-1.1 and the operation in
// X-Amz-Target (Route53AutoNaming_v20170314.DiscoverInstances), JSON bodies,
// and modeled errors as HTTP 400 with a "__type" code (RequestLimitExceeded,
// NamespaceNotFound, ServiceNotFound, InvalidInput).
//
// Tests point the real aws-sdk-go-v2 client at it (BaseEndpoint or
// AWS_ENDPOINT_URL_SERVICEDISCOVERY) and drive it through its Go API:
// register, deregister and mark instances unhealthy, throttle, go down,
// count calls.
//
// As the real service, the instances revision changes when an instance is
// registered, deregistered or has its attributes changed, not when only
// its health changes.
package cloudmap

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slinkerd/slinkerd/test/fakes/internal/awsfake"
)

// The operations, as X-Amz-Target values.
const (
	TargetDiscoverInstances         = "Route53AutoNaming_v20170314.DiscoverInstances"
	TargetDiscoverInstancesRevision = "Route53AutoNaming_v20170314.DiscoverInstancesRevision"
	contentType                     = "application/x-amz-json-1.1"
)

// Mode is how the fake answers.
type Mode int

// The modes.
const (
	// Normal answers every call.
	Normal Mode = iota
	// Throttle answers every call with 400 RequestLimitExceeded.
	Throttle
	// Down closes every connection without an answer, as a crashed
	// server or a broken network path would.
	Down
	// Unavailable answers every call with 503 ServiceUnavailable.
	Unavailable
)

// Server is the fake. Create it with New (or Start) and stop it with
// Close. Its methods are safe for concurrent use.
type Server struct {
	mu         sync.Mutex
	namespaces map[string]map[string]*service // namespace -> service -> instances
	mode       Mode
	lastHost   string
	calls      map[string]int // by operation name, answered or not
	total      atomic.Int64

	l *awsfake.Listener // nil unless made by Start
}

type service struct {
	revision  int64
	instances map[string]*instance
}

type instance struct {
	attrs   map[string]string
	healthy bool
}

// Instance is one registered instance, as DiscoverInstances returns it.
type Instance struct {
	InstanceId    string            `json:"InstanceId"`
	NamespaceName string            `json:"NamespaceName"`
	ServiceName   string            `json:"ServiceName"`
	HealthStatus  string            `json:"HealthStatus"`
	Attributes    map[string]string `json:"Attributes"`
}

// New returns a fake with no namespaces, not yet listening; use Handler,
// or Start.
func New() *Server {
	return &Server{namespaces: map[string]map[string]*service{}, calls: map[string]int{}}
}

// Start returns a fake listening on addr (e.g. "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	s := New()
	l, err := awsfake.Listen("cloudmap", addr, s)
	if err != nil {
		return nil, err
	}
	s.l = l
	return s, nil
}

// URL returns the endpoint URL, e.g. http://127.0.0.1:41234, for
// AWS_ENDPOINT_URL_SERVICEDISCOVERY. Only for a Server made by Start.
func (s *Server) URL() string { return s.l.URL() }

// SDKEnv is the environment that points the AWS SDK (inside slinkerd) at
// a Cloud Map fake at endpoint, with static credentials and nothing read
// from the machine: no shared config files, no instance metadata.
func SDKEnv(endpoint string) map[string]string {
	return awsfake.SDKEnv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", endpoint)
}

// Close stops the server.
func (s *Server) Close() error {
	return s.l.Close()
}

// CreateNamespace creates an empty namespace (no-op if it exists).
func (s *Server) CreateNamespace(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.namespaces[ns] == nil {
		s.namespaces[ns] = map[string]*service{}
	}
}

// CreateService creates an empty service, and its namespace if needed.
func (s *Server) CreateService(ns, svc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serviceLocked(ns, svc)
}

func (s *Server) serviceLocked(ns, svc string) *service {
	if s.namespaces[ns] == nil {
		s.namespaces[ns] = map[string]*service{}
	}
	sv := s.namespaces[ns][svc]
	if sv == nil {
		sv = &service{revision: 1, instances: map[string]*instance{}}
		s.namespaces[ns][svc] = sv
	}
	return sv
}

// Register registers (or re-registers, replacing its attributes) a
// healthy instance, creating the namespace and service as needed, and
// bumps the service's revision.
func (s *Server) Register(ns, svc, id string, attrs map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.serviceLocked(ns, svc)
	healthy := true
	if old := sv.instances[id]; old != nil {
		healthy = old.healthy
	}
	sv.instances[id] = &instance{attrs: maps.Clone(attrs), healthy: healthy}
	sv.revision++
}

// RegisterIP registers an instance with AWS_INSTANCE_IPV4 and
// AWS_INSTANCE_PORT set from hostPort ("127.0.0.1:8080"), plus extra
// attributes.
func (s *Server) RegisterIP(ns, svc, id, hostPort string, extra map[string]string) error {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return fmt.Errorf("fake cloudmap: register %s: %w", id, err)
	}
	attrs := map[string]string{"AWS_INSTANCE_IPV4": host, "AWS_INSTANCE_PORT": port}
	maps.Copy(attrs, extra)
	s.Register(ns, svc, id, attrs)
	return nil
}

// Deregister removes an instance and bumps the revision. It reports
// whether the instance existed.
func (s *Server) Deregister(ns, svc, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.namespaces[ns][svc]
	if sv == nil || sv.instances[id] == nil {
		return false
	}
	delete(sv.instances, id)
	sv.revision++
	return true
}

// SetHealthy marks an instance healthy or unhealthy. As in Cloud Map, the
// revision does not change. It reports whether the instance exists.
func (s *Server) SetHealthy(ns, svc, id string, healthy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.namespaces[ns][svc]
	if sv == nil || sv.instances[id] == nil {
		return false
	}
	sv.instances[id].healthy = healthy
	return true
}

// Revision returns a service's instances revision (0 if it does not exist).
func (s *Server) Revision(ns, svc string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.namespaces[ns][svc]; sv != nil {
		return sv.revision
	}
	return 0
}

// SetMode switches how the fake answers from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Calls returns how many calls of an operation ("DiscoverInstances",
// "DiscoverInstancesRevision") arrived, answered or not.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls returns how many requests arrived in all.
func (s *Server) TotalCalls() int64 { return s.total.Load() }

// LastHost returns the Host header of the last request (to check that the
// client sent no "data-" host prefix).
func (s *Server) LastHost() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHost
}

// ServeHTTP answers one awsJson1_1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, "Route53AutoNaming_v20170314.")
	s.mu.Lock()
	s.calls[op]++
	s.lastHost = r.Host
	mode := s.mode
	s.mu.Unlock()

	switch mode {
	case Down:
		awsfake.Drop(w)
		return
	case Throttle:
		writeError(w, http.StatusBadRequest, "RequestLimitExceeded", "The operation can't be completed because you've reached the quota for the number of requests.")
		return
	case Unavailable:
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service unavailable.")
		return
	}

	if !awsfake.CheckJSON11(w, r, http.StatusForbidden) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	switch target {
	case TargetDiscoverInstances:
		s.discoverInstances(w, body)
	case TargetDiscoverInstancesRevision:
		s.discoverInstancesRevision(w, body)
	default:
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation "+target)
	}
}

type discoverInput struct {
	NamespaceName      string            `json:"NamespaceName"`
	ServiceName        string            `json:"ServiceName"`
	HealthStatus       string            `json:"HealthStatus"`
	MaxResults         *int              `json:"MaxResults"`
	QueryParameters    map[string]string `json:"QueryParameters"`
	OptionalParameters map[string]string `json:"OptionalParameters"`
}

// find looks a service up, writing the modeled error when it is missing.
func (s *Server) findLocked(w http.ResponseWriter, ns, svc string) *service {
	if ns == "" || svc == "" {
		writeError(w, http.StatusBadRequest, "InvalidInput", "NamespaceName and ServiceName are required")
		return nil
	}
	services := s.namespaces[ns]
	if services == nil {
		writeError(w, http.StatusBadRequest, "NamespaceNotFound", fmt.Sprintf("Namespace not found: %s", ns))
		return nil
	}
	sv := services[svc]
	if sv == nil {
		writeError(w, http.StatusBadRequest, "ServiceNotFound", fmt.Sprintf("Service not found: %s", svc))
		return nil
	}
	return sv
}

func (s *Server) discoverInstances(w http.ResponseWriter, body []byte) {
	var in discoverInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			writeError(w, http.StatusBadRequest, "InvalidInput", "MaxResults must be 1-1000")
			return
		}
		limit = *in.MaxResults
	}
	switch in.HealthStatus {
	case "", "HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL":
	default:
		writeError(w, http.StatusBadRequest, "InvalidInput", "invalid HealthStatus "+in.HealthStatus)
		return
	}
	s.mu.Lock()
	sv := s.findLocked(w, in.NamespaceName, in.ServiceName)
	if sv == nil {
		s.mu.Unlock()
		return
	}
	var matched []Instance
	for id, inst := range sv.instances {
		if !matches(inst.attrs, in.QueryParameters) {
			continue
		}
		hs := "HEALTHY"
		if !inst.healthy {
			hs = "UNHEALTHY"
		}
		matched = append(matched, Instance{
			InstanceId: id, NamespaceName: in.NamespaceName, ServiceName: in.ServiceName,
			HealthStatus: hs, Attributes: maps.Clone(inst.attrs),
		})
	}
	rev := sv.revision
	s.mu.Unlock()

	// OptionalParameters narrow the set only when something matches them.
	if len(in.OptionalParameters) > 0 {
		var opt []Instance
		for _, i := range matched {
			if matches(i.Attributes, in.OptionalParameters) {
				opt = append(opt, i)
			}
		}
		if len(opt) > 0 {
			matched = opt
		}
	}
	matched = filterHealth(matched, in.HealthStatus)
	slices.SortFunc(matched, func(a, b Instance) int { return strings.Compare(a.InstanceId, b.InstanceId) })
	if len(matched) > limit {
		matched = matched[:limit]
	}
	if matched == nil {
		matched = []Instance{}
	}
	writeJSON(w, map[string]any{"Instances": matched, "InstancesRevision": rev})
}

func filterHealth(in []Instance, status string) []Instance {
	pick := func(want string) []Instance {
		var out []Instance
		for _, i := range in {
			if i.HealthStatus == want {
				out = append(out, i)
			}
		}
		return out
	}
	switch status {
	case "HEALTHY":
		return pick("HEALTHY")
	case "UNHEALTHY":
		return pick("UNHEALTHY")
	case "HEALTHY_OR_ELSE_ALL":
		if h := pick("HEALTHY"); len(h) > 0 {
			return h
		}
		return in
	}
	return in // ALL; Cloud Map's default
}

func matches(attrs, want map[string]string) bool {
	for k, v := range want {
		if attrs[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) discoverInstancesRevision(w http.ResponseWriter, body []byte) {
	var in discoverInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	sv := s.findLocked(w, in.NamespaceName, in.ServiceName)
	var rev int64
	if sv != nil {
		rev = sv.revision
	}
	s.mu.Unlock()
	if sv == nil {
		return
	}
	writeJSON(w, map[string]any{"InstancesRevision": rev})
}

var requestID atomic.Int64

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("fake-%d", requestID.Add(1)))
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("fake-%d", requestID.Add(1)))
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "Message": msg})
	_, _ = w.Write(b)
}

var _ http.Handler = (*Server)(nil)
