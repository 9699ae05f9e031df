// Package ecsmeta is a local fake of the ECS task metadata endpoint
// version 4: GET <base>/task answers the task's metadata as JSON, of which
// it fills Cluster, TaskARN and AvailabilityZone. Point code at it with
// ECS_CONTAINER_METADATA_URI_V4=<URL()>.
package ecsmeta

import (
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
)

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// AvailabilityZone is the zone answered; set it before serving.
	AvailabilityZone string

	fetches atomic.Int64
	srv     *http.Server
	ln      net.Listener
}

// Start returns a fake answering zone, listening on addr (e.g.
// "127.0.0.1:0").
func Start(addr, zone string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{AvailabilityZone: zone, ln: ln}
	s.srv = &http.Server{Handler: s}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the value for ECS_CONTAINER_METADATA_URI_V4.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/v4/fake-container" }

// Fetches returns how many task metadata requests were answered.
func (s *Server) Fetches() int { return int(s.fetches.Load()) }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// ServeHTTP answers GET /v4/fake-container/task.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/v4/fake-container/task" {
		http.NotFound(w, r)
		return
	}
	s.fetches.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"Cluster":          "arn:aws:ecs:us-east-1:123456789012:cluster/fake",
		"TaskARN":          "arn:aws:ecs:us-east-1:123456789012:task/fake/0123456789abcdef",
		"AvailabilityZone": s.AvailabilityZone,
		"LaunchType":       "FARGATE",
	})
}
