// Package metadata is a local fake of the GCE / Cloud Run metadata server,
// enough for ID tokens: GET
// /computeMetadata/v1/instance/service-accounts/default/identity?audience=…
// with the header Metadata-Flavor: Google answers a JWT for that audience.
// The tokens are well formed (header.payload.signature, base64url JSON with
// aud, azp, email, exp, iat, iss, sub) but not signed: the signature is
// a fixed placeholder. The fake counts fetches per audience, and the
// token lifetime is configurable.
//
// It also answers project/project-id, instance/region, instance/zone
// (when Zone is set) and the default
// service account's access token, so that Google client libraries that
// use Application Default Credentials work against it. Point clients at it
// with GCE_METADATA_HOST=<Addr()>.
package metadata

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultLifetime is the lifetime of issued tokens, as Google's.
const DefaultLifetime = time.Hour

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	lifetime time.Duration
	now      func() time.Time
	fetches  map[string]int
	fail     int // HTTP status to fail identity requests with; 0: answer

	// Email is the service account's address, put in tokens.
	Email string
	// Project is the project ID the server reports.
	Project string
	// Zone is the instance's zone, answered at instance/zone as GCE does
	// ("projects/123456789/zones/<Zone>"); empty answers 404.
	Zone string

	srv *http.Server
	ln  net.Listener
}

// New returns a fake issuing tokens that live DefaultLifetime, not yet
// listening; use it as an http.Handler, or use Start.
func New() *Server {
	return &Server{
		lifetime: DefaultLifetime,
		now:      time.Now,
		fetches:  map[string]int{},
		Email:    "slinkerd@fake-project.iam.gserviceaccount.com",
		Project:  "fake-project",
	}
}

// Start returns a fake listening on addr (e.g. "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	s := New()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake metadata: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns host:port, the value for GCE_METADATA_HOST. Only for a
// Server made by Start.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// SetLifetime sets the lifetime of tokens issued from now on.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	s.lifetime = d
	s.mu.Unlock()
}

// SetNow sets the clock used for iat and exp (time.Now by default).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// FailWith makes identity requests fail with an HTTP status (0: answer).
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	s.fail = status
	s.mu.Unlock()
}

// Fetches returns how many identity tokens were requested for audience.
func (s *Server) Fetches(audience string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[audience]
}

// TotalFetches returns how many identity tokens were requested in all.
func (s *Server) TotalFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.fetches {
		n += c
	}
	return n
}

// Claims are the claims of an issued token.
type Claims struct {
	Aud           string `json:"aud"`
	Azp           string `json:"azp"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Exp           int64  `json:"exp"`
	Iat           int64  `json:"iat"`
	Iss           string `json:"iss"`
	Sub           string `json:"sub"`
}

// ParseToken decodes a token issued by the fake (or any JWT) without
// checking its signature, for backends in tests.
func ParseToken(tok string) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("fake metadata: token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, fmt.Errorf("fake metadata: token payload: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return Claims{}, fmt.Errorf("fake metadata: token payload: %w", err)
	}
	return c, nil
}

const prefix = "/computeMetadata/v1/"

// ServeHTTP answers metadata requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Metadata-Flavor", "Google")
	w.Header().Set("Server", "Metadata Server for VM")
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		return // the library's "am I on GCE?" probe
	}
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "instance/service-accounts/default/identity":
		s.identity(w, r)
	case "instance/service-accounts/default/token":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "fake-access-token", "expires_in": 3599, "token_type": "Bearer"})
	case "instance/service-accounts/default/email":
		writeText(w, s.Email)
	case "project/project-id":
		writeText(w, s.Project)
	case "instance/region":
		writeText(w, "projects/123456789/regions/europe-west1")
	case "instance/zone":
		if s.Zone == "" {
			http.NotFound(w, r)
			return
		}
		writeText(w, "projects/123456789/zones/"+s.Zone)
	case "instance/id":
		writeText(w, "fake-instance")
	default:
		http.NotFound(w, r)
	}
}

func writeText(w http.ResponseWriter, v string) {
	w.Header().Set("Content-Type", "application/text")
	_, _ = w.Write([]byte(v))
}

func (s *Server) identity(w http.ResponseWriter, r *http.Request) {
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		http.Error(w, "non-empty audience parameter required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.fetches[aud]++
	fail, lifetime, now, email := s.fail, s.lifetime, s.now(), s.Email
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return
	}
	c := Claims{
		Aud: aud, Azp: "104829375610394857", Sub: "104829375610394857",
		Iat: now.Unix(), Exp: now.Add(lifetime).Unix(), Iss: "https://accounts.google.com",
	}
	if r.URL.Query().Get("format") == "full" {
		c.Email, c.EmailVerified = email, true
	}
	writeText(w, Token(c))
}

// Token encodes claims as an unsigned-but-well-formed JWT.
func Token(c Claims) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "fake", "typ": "JWT"})
	payload, _ := json.Marshal(c)
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("fake-signature"))
}

var _ http.Handler = (*Server)(nil)
