// Package cloudrun is a local fake of the Cloud Run Admin API v2 Services
// service: a gRPC server implementing runpb.ServicesServer (GetService and
// ListServices; the mutating methods answer Unimplemented) on a loopback
// address, for the real cloud.google.com/go/run/apiv2 client to call over
// an insecure connection.
//
// Tests set services with SetService (Ready by default: see ReadyService)
// and can make every call fail with a status code (RESOURCE_EXHAUSTED to
// throttle, UNAVAILABLE to be down) and count calls.
package cloudrun

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	runpb.UnimplementedServicesServer

	mu       sync.Mutex
	services map[string]*runpb.Service // by full resource name
	fail     codes.Code
	calls    map[string]int

	grpc *grpc.Server
	ln   net.Listener
}

// New returns a fake with no services, not serving; register it on a
// grpc.Server yourself, or use Start.
func New() *Server {
	return &Server{services: map[string]*runpb.Service{}, calls: map[string]int{}}
}

// Start returns a fake serving gRPC on addr (e.g. "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	s := New()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake cloudrun: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.grpc = grpc.NewServer()
	runpb.RegisterServicesServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(ln) }()
	return s, nil
}

// Addr returns the host:port the fake serves on, for
// SLINKERD_CLOUDRUN_ENDPOINT. Only for a Server made by Start.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	if s.grpc != nil {
		s.grpc.Stop()
	}
	return nil
}

// ServiceName returns the resource name of a service.
func ServiceName(project, region, service string) string {
	return "projects/" + project + "/locations/" + region + "/services/" + service
}

// ReadyService returns a Ready service serving at uri with ingress
// INGRESS_TRAFFIC_ALL, as GetService returns a deployed one.
func ReadyService(project, region, service, uri string) *runpb.Service {
	return &runpb.Service{
		Name:                ServiceName(project, region, service),
		Uri:                 uri,
		Urls:                []string{uri},
		Ingress:             runpb.IngressTraffic_INGRESS_TRAFFIC_ALL,
		LatestReadyRevision: ServiceName(project, region, service) + "/revisions/" + service + "-00001-abc",
		TerminalCondition: &runpb.Condition{
			Type:  "Ready",
			State: runpb.Condition_CONDITION_SUCCEEDED,
		},
		Conditions: []*runpb.Condition{
			{Type: "RoutesReady", State: runpb.Condition_CONDITION_SUCCEEDED},
			{Type: "ConfigurationsReady", State: runpb.Condition_CONDITION_SUCCEEDED},
		},
	}
}

// SetService adds or replaces a service (by its Name).
func (s *Server) SetService(svc *runpb.Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[svc.GetName()] = proto.Clone(svc).(*runpb.Service)
}

// Modify applies fn to a copy of a stored service and stores it.
// It reports whether the service exists.
func (s *Server) Modify(name string, fn func(*runpb.Service)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[name]
	if svc == nil {
		return false
	}
	svc = proto.Clone(svc).(*runpb.Service)
	fn(svc)
	s.services[name] = svc
	return true
}

// RemoveService deletes a service.
func (s *Server) RemoveService(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.services, name)
}

// FailWith makes every call fail with code (codes.OK: answer again).
func (s *Server) FailWith(code codes.Code) {
	s.mu.Lock()
	s.fail = code
	s.mu.Unlock()
}

// Calls returns how many calls of a method ("GetService", "ListServices")
// arrived.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Server) begin(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	if s.fail != codes.OK {
		return status.Errorf(s.fail, "fake cloudrun: failing with %s", s.fail)
	}
	return nil
}

// GetService returns a service, or NOT_FOUND.
func (s *Server) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	if err := s.begin("GetService"); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(req.GetName(), "projects/") || strings.Count(req.GetName(), "/") != 5 {
		return nil, status.Errorf(codes.InvalidArgument, "invalid resource name %q", req.GetName())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[req.GetName()]
	if svc == nil {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.GetName())
	}
	return proto.Clone(svc).(*runpb.Service), nil
}

// ListServices lists the services under parent
// (projects/P/locations/R), sorted by name, in one page.
func (s *Server) ListServices(_ context.Context, req *runpb.ListServicesRequest) (*runpb.ListServicesResponse, error) {
	if err := s.begin("ListServices"); err != nil {
		return nil, err
	}
	prefix := req.GetParent() + "/services/"
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.services {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := &runpb.ListServicesResponse{}
	for _, n := range names {
		out.Services = append(out.Services, proto.Clone(s.services[n]).(*runpb.Service))
	}
	return out, nil
}

var _ runpb.ServicesServer = (*Server)(nil)
