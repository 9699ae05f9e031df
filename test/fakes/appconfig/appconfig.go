// Package appconfig is a local fake of the AWS AppConfig Data API
// (appconfigdata) that speaks its wire protocol, restJson1:
//
//   - POST /configurationsessions with a JSON body naming
//     ApplicationIdentifier, EnvironmentIdentifier and
//     ConfigurationProfileIdentifier (and optionally
//     RequiredMinimumPollIntervalInSeconds) answers 201 with
//     {"InitialConfigurationToken": …};
//   - GET /configuration?configuration_token=T answers 200 with the
//     configuration as the body (empty when the session already received
//     the deployed version) and the headers Next-Poll-Configuration-Token,
//     Next-Poll-Interval-In-Seconds, Content-Type and Version-Label.
//
// As the real service, a token is good for one call: a reused or unknown
// token is a 400 BadRequestException. Errors carry X-Amzn-ErrorType and a
// {"Message": …} body; throttling is 429 ThrottlingException.
package appconfig

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/slinkerd/slinkerd/test/fakes/internal/awsfake"
)

// Mode is how the fake answers.
type Mode int

// The modes.
const (
	// Normal answers every call.
	Normal Mode = iota
	// Throttle answers every call with 429 ThrottlingException.
	Throttle
	// Down closes every connection without an answer.
	Down
)

type profile struct {
	content     []byte
	contentType string
	version     int
	label       string
}

type session struct {
	key      string // app/env/profile
	received int    // version last handed to this session; 0: none
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	profiles map[string]*profile
	tokens   map[string]*session
	next     int
	interval int // Next-Poll-Interval-In-Seconds
	mode     Mode
	calls    map[string]int

	l *awsfake.Listener // nil unless made by Start
}

// New returns a fake with no configuration, a poll interval of 60 s (the
// service's default), not yet listening.
func New() *Server {
	return &Server{profiles: map[string]*profile{}, tokens: map[string]*session{}, interval: 60, calls: map[string]int{}}
}

// Start returns a fake listening on addr (e.g. "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	s := New()
	l, err := awsfake.Listen("appconfig", addr, s)
	if err != nil {
		return nil, err
	}
	s.l = l
	return s, nil
}

// URL returns the endpoint URL, for AWS_ENDPOINT_URL_APPCONFIGDATA.
func (s *Server) URL() string { return s.l.URL() }

// SDKEnv is the environment that points an AWS client at an AppConfig
// Data fake at endpoint, with static credentials.
func SDKEnv(endpoint string) map[string]string {
	return awsfake.SDKEnv("AWS_ENDPOINT_URL_APPCONFIGDATA", endpoint)
}

// Close stops the server.
func (s *Server) Close() error {
	return s.l.Close()
}

// Deploy makes content the deployed configuration of app/env/profile,
// as a new version labelled label, and returns its version number.
func (s *Server) Deploy(app, env, prof, contentType, label string, content []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := app + "/" + env + "/" + prof
	p := s.profiles[key]
	if p == nil {
		p = &profile{}
		s.profiles[key] = p
	}
	p.version++
	p.content, p.contentType, p.label = append([]byte(nil), content...), contentType, label
	return p.version
}

// SetPollInterval sets Next-Poll-Interval-In-Seconds.
func (s *Server) SetPollInterval(seconds int) {
	s.mu.Lock()
	s.interval = seconds
	s.mu.Unlock()
}

// SetMode sets how the fake answers.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Calls returns how many calls of op ("StartConfigurationSession",
// "GetLatestConfiguration") arrived, answered or not.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// tokenLocked issues a fresh token for sess.
func (s *Server) tokenLocked(sess *session) string {
	s.next++
	t := "token-" + strconv.Itoa(s.next)
	s.tokens[t] = sess
	return t
}

// ServeHTTP answers one restJson1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := "unknown"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/configurationsessions":
		op = "StartConfigurationSession"
	case r.Method == http.MethodGet && r.URL.Path == "/configuration":
		op = "GetLatestConfiguration"
	}
	s.mu.Lock()
	s.calls[op]++
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case Down:
		awsfake.Drop(w)
		return
	case Throttle:
		writeError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, http.StatusForbidden, "AccessDeniedException", "Missing Authentication Token")
		return
	}
	switch op {
	case "StartConfigurationSession":
		s.start(w, r)
	case "GetLatestConfiguration":
		s.latest(w, r)
	default:
		writeError(w, http.StatusNotFound, "UnknownOperationException", r.Method+" "+r.URL.Path)
	}
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ApplicationIdentifier                string `json:"ApplicationIdentifier"`
		EnvironmentIdentifier                string `json:"EnvironmentIdentifier"`
		ConfigurationProfileIdentifier       string `json:"ConfigurationProfileIdentifier"`
		RequiredMinimumPollIntervalInSeconds *int   `json:"RequiredMinimumPollIntervalInSeconds"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", "invalid body: "+err.Error())
		return
	}
	if in.ApplicationIdentifier == "" || in.EnvironmentIdentifier == "" || in.ConfigurationProfileIdentifier == "" {
		writeError(w, http.StatusBadRequest, "BadRequestException", "ApplicationIdentifier, EnvironmentIdentifier and ConfigurationProfileIdentifier are required")
		return
	}
	key := in.ApplicationIdentifier + "/" + in.EnvironmentIdentifier + "/" + in.ConfigurationProfileIdentifier
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.profiles[key] == nil {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "no configuration profile "+key)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"InitialConfigurationToken": s.tokenLocked(&session{key: key})})
}

func (s *Server) latest(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("configuration_token")
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.tokens[token]
	if sess == nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", "Request has expired or the token is not valid")
		return
	}
	delete(s.tokens, token)
	p := s.profiles[sess.key]
	w.Header().Set("Next-Poll-Configuration-Token", s.tokenLocked(sess))
	w.Header().Set("Next-Poll-Interval-In-Seconds", strconv.Itoa(s.interval))
	if p.version == sess.received {
		w.WriteHeader(http.StatusOK)
		return
	}
	sess.received = p.version
	w.Header().Set("Content-Type", p.contentType)
	if p.label != "" {
		w.Header().Set("Version-Label", p.label)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(p.content)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Message": msg})
}
