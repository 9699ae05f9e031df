// Package containercreds is a local fake of the container credentials
// endpoint that ECS, EKS Pod Identity and Lambda SnapStart give a process
// through AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI) and
// AWS_CONTAINER_AUTHORIZATION_TOKEN: a GET answered with temporary
// credentials as JSON, as the AWS SDKs read them. A request without the
// expected Authorization header is answered 401 with an error document.
package containercreds

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// Credentials are the credentials the fake answers.
type Credentials struct {
	AccessKeyID, SecretAccessKey, Token string
	// Expiration is when they expire; zero means an hour from each fetch.
	Expiration time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	token string
	srv   *http.Server
	ln    net.Listener

	mu      sync.Mutex
	creds   Credentials
	fetches int
}

// Start returns a fake listening on addr (e.g. "127.0.0.1:0") that
// answers creds to requests whose Authorization header is token (any
// request when token is empty).
func Start(addr, token string, creds Credentials) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{token: token, creds: creds, ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the value for AWS_CONTAINER_CREDENTIALS_FULL_URI.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/2021-04-23/credentials" }

// Fetches returns how many requests were answered with credentials.
func (s *Server) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Close stops the fake.
func (s *Server) Close() error { return s.srv.Close() }

// ServeHTTP answers a credentials request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "MethodNotAllowed", "message": "GET only"})
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != s.token {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "Unauthorized", "message": "bad or missing authorization token"})
		return
	}
	s.mu.Lock()
	c := s.creds
	s.fetches++
	s.mu.Unlock()
	if c.Expiration.IsZero() {
		c.Expiration = time.Now().Add(time.Hour)
	}
	_ = json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId":     c.AccessKeyID,
		"SecretAccessKey": c.SecretAccessKey,
		"Token":           c.Token,
		"Expiration":      c.Expiration.UTC().Format(time.RFC3339),
	})
}
