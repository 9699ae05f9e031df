// Package iamcredentials is a fake of the IAM Service Account Credentials
// API's generateIdToken method
// (POST /v1/projects/-/serviceAccounts/{email}:generateIdToken), for
// tests of service account impersonation: it checks the caller's bearer
// access token and mints an ID token for the impersonated account.
package iamcredentials

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// Server is a fake IAM Credentials endpoint on 127.0.0.1.
type Server struct {
	// Authorize reports whether a bearer access token may impersonate.
	// Nil accepts any non-empty token.
	Authorize func(token string) bool

	ln  net.Listener
	srv *http.Server

	mu    sync.Mutex
	calls []Call
}

// Call is one generateIdToken request.
type Call struct {
	// Account is the impersonated service account.
	Account string
	// Audience and IncludeEmail are the request's.
	Audience     string
	IncludeEmail bool
}

// Start starts a Server on addr (e.g. "127.0.0.1:0").
func Start(addr string, authorize func(string) bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake iamcredentials: listen: %w", err)
	}
	s := &Server{Authorize: authorize, ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint's base URL, in place of
// https://iamcredentials.googleapis.com.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ServeHTTP answers generateIdToken.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/projects/-/serviceAccounts/")
	account, ok2 := strings.CutSuffix(rest, ":generateIdToken")
	if r.Method != http.MethodPost || !ok || !ok2 || account == "" {
		http.NotFound(w, r)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" || (s.Authorize != nil && !s.Authorize(tok)) {
		http.Error(w, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`, http.StatusUnauthorized)
		return
	}
	var req struct {
		Audience     string `json:"audience"`
		IncludeEmail bool   `json:"includeEmail"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Audience == "" {
		http.Error(w, `{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Account: account, Audience: req.Audience, IncludeEmail: req.IncludeEmail})
	s.mu.Unlock()
	now := time.Now()
	c := metadata.Claims{Aud: req.Audience, Azp: account, Sub: "987654321", Iat: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		Iss: "https://accounts.google.com"}
	if req.IncludeEmail {
		c.Email, c.EmailVerified = account, true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": metadata.Token(c)})
}

var _ http.Handler = (*Server)(nil)
