// Package oauth2 is a fake Google OAuth 2.0 token endpoint
// (https://oauth2.googleapis.com/token) for tests: it owns a service
// account's RSA key, writes the account's JSON key file with token_uri
// pointing at itself, checks the signature of each JWT-bearer assertion
// it receives, and answers an ID token for an assertion with a
// target_audience claim, an access token otherwise.
package oauth2

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// Server is a fake token endpoint on 127.0.0.1.
type Server struct {
	// Email is the service account's email.
	Email string

	key *rsa.PrivateKey
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	lifetime time.Duration
	fetches  map[string]int // ID tokens by audience
	access   map[string]bool
}

// Start starts a Server for a new service account on addr (e.g.
// "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("fake oauth2: generate a key: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake oauth2: listen: %w", err)
	}
	s := &Server{Email: "caller@fake-project.iam.gserviceaccount.com", key: key, ln: ln,
		lifetime: time.Hour, fetches: map[string]int{}, access: map[string]bool{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// TokenURL is the token endpoint's URL.
func (s *Server) TokenURL() string { return "http://" + s.ln.Addr().String() + "/token" }

// Fetches returns how many ID tokens were issued for audience.
func (s *Server) Fetches(audience string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[audience]
}

// ValidAccessToken reports whether tok is an access token this server
// issued.
func (s *Server) ValidAccessToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.access[tok]
}

// WriteKeyFile writes the service account's JSON key file into dir and
// returns its path (for GOOGLE_APPLICATION_CREDENTIALS).
func (s *Server) WriteKeyFile(dir string) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return "", fmt.Errorf("fake oauth2: marshal the key: %w", err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "fake-project",
		"private_key_id": "fake-key-id",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   s.Email,
		"client_id":      "1234567890",
		"token_uri":      s.TokenURL(),
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("fake oauth2: write the key file: %w", err)
	}
	return path, nil
}

// ServeHTTP answers POST /token.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	claims, err := s.verify(r.PostForm.Get("assertion"))
	if err != nil {
		http.Error(w, `{"error":"invalid_grant","error_description":`+strconv.Quote(err.Error())+`}`, http.StatusBadRequest)
		return
	}
	now := time.Now()
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	defer s.mu.Unlock()
	if aud, _ := claims["target_audience"].(string); aud != "" {
		s.fetches[aud]++
		tok := metadata.Token(metadata.Claims{Aud: aud, Azp: s.Email, Sub: "1234567890", Email: s.Email, EmailVerified: true,
			Iat: now.Unix(), Exp: now.Add(s.lifetime).Unix(), Iss: "https://accounts.google.com"})
		_ = json.NewEncoder(w).Encode(map[string]any{"id_token": tok})
		return
	}
	at := "fake-access-" + strconv.Itoa(len(s.access)+1)
	s.access[at] = true
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "expires_in": 3600, "token_type": "Bearer"})
}

// verify checks an RS256 assertion signed with the account's key, issued
// by the account for this token URL, and returns its claims.
func (s *Server) verify(assertion string) (map[string]any, error) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, errors.New("assertion is not a JWS")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if c["iss"] != s.Email || c["aud"] != s.TokenURL() {
		return nil, fmt.Errorf("iss %v aud %v, want %s %s", c["iss"], c["aud"], s.Email, s.TokenURL())
	}
	if exp, _ := c["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		return nil, errors.New("assertion expired")
	}
	return c, nil
}

var _ http.Handler = (*Server)(nil)
