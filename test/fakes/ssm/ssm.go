// Package ssm is a local fake of AWS Systems Manager Parameter Store's
// GetParameter that speaks the real wire protocol, awsJson1_1: POST / with
// Content-Type application/x-amz-json-1.1, the operation in X-Amz-Target
// (AmazonSSM.GetParameter), a SigV4 Authorization header, JSON bodies, and
// modeled errors as HTTP 400 with a "__type" code (ParameterNotFound,
// ThrottlingException).
//
// Tests point the real aws-sdk-go-v2 client at it (BaseEndpoint or
// AWS_ENDPOINT_URL_SSM) and drive it through its Go API: put a parameter
// (each put is a new version, as the service's), throttle, go down, count
// calls.
package ssm

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/test/fakes/internal/awsfake"
)

// TargetGetParameter is GetParameter's X-Amz-Target.
const TargetGetParameter = "AmazonSSM.GetParameter"

const contentType = "application/x-amz-json-1.1"

// Mode is how the fake answers.
type Mode int

// The modes.
const (
	// Normal answers every call.
	Normal Mode = iota
	// Throttle answers every call with 400 ThrottlingException.
	Throttle
	// Down closes every connection without an answer.
	Down
	// Unavailable answers every call with 500 InternalServerError.
	Unavailable
)

type parameter struct {
	value    string
	version  int64
	modified time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	mu     sync.Mutex
	params map[string]*parameter
	mode   Mode
	calls  int

	l *awsfake.Listener // nil unless made by Start
}

// New returns a fake with no parameters, not yet listening.
func New() *Server { return &Server{params: map[string]*parameter{}} }

// Start returns a fake listening on addr (e.g. "127.0.0.1:0").
func Start(addr string) (*Server, error) {
	s := New()
	l, err := awsfake.Listen("ssm", addr, s)
	if err != nil {
		return nil, err
	}
	s.l = l
	return s, nil
}

// URL returns the endpoint URL, for AWS_ENDPOINT_URL_SSM. Only for a
// Server made by Start.
func (s *Server) URL() string { return s.l.URL() }

// SDKEnv is the environment that points the AWS SDK at an SSM fake at
// endpoint, with static credentials and nothing read from the machine.
func SDKEnv(endpoint string) map[string]string {
	return awsfake.SDKEnv("AWS_ENDPOINT_URL_SSM", endpoint)
}

// Close stops the server.
func (s *Server) Close() error {
	return s.l.Close()
}

// Put stores value under name as a new version and returns that version
// (1 for a new parameter), as PutParameter with Overwrite does.
func (s *Server) Put(name, value string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p == nil {
		p = &parameter{}
		s.params[name] = p
	}
	p.value, p.modified = value, time.Now()
	p.version++
	return p.version
}

// SetMode sets how the fake answers.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Calls returns how many requests arrived, answered or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type getParameterInput struct {
	Name           string `json:"Name"`
	WithDecryption *bool  `json:"WithDecryption"`
}

// ServeHTTP answers one awsJson1_1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case Down:
		awsfake.Drop(w)
		return
	case Throttle:
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case Unavailable:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	}
	if !awsfake.CheckJSON11(w, r, http.StatusBadRequest) {
		return
	}
	if t := r.Header.Get("X-Amz-Target"); t != TargetGetParameter {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation "+t)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	var in getParameterInput
	if err := json.Unmarshal(body, &in); err != nil || in.Name == "" {
		writeError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint")
		return
	}
	s.mu.Lock()
	p := s.params[in.Name]
	var out map[string]any
	if p != nil {
		out = map[string]any{"Parameter": map[string]any{
			"ARN":              "arn:aws:ssm:us-east-1:123456789012:parameter" + in.Name,
			"DataType":         "text",
			"LastModifiedDate": float64(p.modified.UnixMilli()) / 1000,
			"Name":             in.Name,
			"Type":             "String",
			"Value":            p.value,
			"Version":          p.version,
		}}
	}
	s.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusBadRequest, "ParameterNotFound", "")
		return
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
