// Package admin serves slinkerd's admin endpoints: health (/admin/ping,
// /ready), the effective configuration (/config.json), the delegation
// playground API (/delegator.json), metrics and the dashboard. It listens
// on loopback by default and offers no shutdown or mutation endpoint.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// Config configures the admin server.
type Config struct {
	// Addr is the listen address. Defaults to 127.0.0.1:9990.
	Addr string
	// Interpreter answers /delegator.json. Required.
	Interpreter *bind.Interpreter
	// ConfigJSON renders /config.json (secrets redacted). May be nil.
	ConfigJSON func() ([]byte, error)
	// Handlers adds more endpoints by ServeMux pattern, e.g. the
	// telemetry's "GET /metrics" and "GET /admin/metrics.json". The
	// dashboard (/, /delegator, /ui/) is always served; it reads
	// /admin/metrics.json.
	Handlers map[string]http.Handler
	// Logger receives server errors. Defaults to slog.Default().
	Logger *slog.Logger
	// DtabSource, when set, reports SLINKERD_DTAB_SOURCE's state (which
	// version of the dtab is in force), added to /config.json and
	// /delegator.json as "dtabSource". May be nil.
	DtabSource func() any
}

// Server is the admin HTTP server.
type Server struct {
	cfg   Config
	srv   *http.Server
	ln    net.Listener
	ready atomic.Bool
}

// Listen binds the admin address and prepares the routes.
func Listen(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9990"
	}
	if cfg.Interpreter == nil {
		return nil, errors.New("admin: Config.Interpreter is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "pong") })
	mux.HandleFunc("GET /ready", s.handleReady)
	mux.HandleFunc("GET /config.json", s.handleConfig)
	mux.HandleFunc("GET /delegator.json", s.handleDelegate)
	for p, h := range uiHandlers() {
		mux.Handle(p, h)
	}
	for p, h := range cfg.Handlers {
		mux.Handle(p, h)
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetReady flips /ready between 200 and 503.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) handleConfig(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.ConfigJSON == nil {
		writeJSON(w, http.StatusOK, map[string]string{})
		return
	}
	b, err := s.cfg.ConfigJSON()
	if err == nil && s.cfg.DtabSource != nil {
		b, err = withKey(b, "dtabSource", s.cfg.DtabSource())
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// handleDelegate answers /delegator.json?path=/svc/x[&dtab=…] with the
// same JSON as `slinkerd delegate`. A dtab given here replaces the base
// dtab for this one delegation only; nothing is changed.
func (s *Server) handleDelegate(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out, status := Delegate(ctx, s.cfg.Interpreter, r.URL.Query().Get("dtab"), r.URL.Query().Has("dtab"), r.URL.Query().Get("path"))
	if s.cfg.DtabSource != nil && !r.URL.Query().Has("dtab") {
		out.DtabSource = s.cfg.DtabSource()
	}
	writeJSON(w, status, out)
}

// withKey adds "key": v as the last member of the JSON object obj.
func withKey(obj []byte, key string, v any) ([]byte, error) {
	obj = bytes.TrimRight(obj, " \t\r\n")
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("admin: add %q to the configuration: not a JSON object", key)
	}
	val, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("admin: add %q to the configuration: %w", key, err)
	}
	k, _ := json.Marshal(key)
	out := append([]byte(nil), obj[:len(obj)-1]...)
	if len(bytes.TrimSpace(out)) > 1 {
		out = append(out, ',')
	}
	out = append(append(append(append(out, k...), ':'), val...), '}', '\n')
	return out, nil
}

// DelegateOutput is the JSON of a delegation, shared by /delegator.json,
// the playground and `slinkerd delegate`.
type DelegateOutput struct {
	// Path is the delegated path.
	Path string `json:"path"`
	// Dtab is the dtab used, in compact form.
	Dtab string `json:"dtab"`
	// Result is "bound" when at least one bound name has endpoints (the
	// proxy can route), "neg", "fail", "empty" (bound to no endpoints:
	// an empty set, a negative or failed address set, or no answer yet)
	// or "error".
	Result string `json:"result"`
	// Bound lists the bound names traffic would go to, with shares.
	Bound []BoundOutput `json:"bound"`
	// Tree is the step-by-step delegation.
	Tree *name.Step `json:"tree,omitempty"`
	// DtabSource is SLINKERD_DTAB_SOURCE's state, when one is set and
	// the base dtab was used: which version of the dtab is in force.
	DtabSource any `json:"dtabSource,omitempty"`
	// Error says why Result is not "bound": for "empty", each bound name
	// with its state and its namer's last error, e.g.
	// "/$/inet/nosuch.invalid/80 (neg): inet: resolve …: no such host".
	Error string `json:"error,omitempty"`
}

// BoundOutput is one bound name in a DelegateOutput.
type BoundOutput struct {
	// Share is the name's share of traffic (0..1).
	Share float64 `json:"share"`
	*name.StepBound
}

// Delegate runs one traced delegation. With hasDtab, dtabText replaces
// the base dtab. The status is 200 for a completed delegation (whatever
// its result) and 400 for bad input.
func Delegate(ctx context.Context, in *bind.Interpreter, dtabText string, hasDtab bool, pathText string) (DelegateOutput, int) {
	out := DelegateOutput{Path: pathText, Bound: []BoundOutput{}}
	path, err := name.ParsePath(pathText)
	if err != nil {
		out.Result, out.Error = "error", err.Error()
		return out, http.StatusBadRequest
	}
	dtab := in.Dtab()
	if hasDtab {
		if dtab, err = name.ParseDtab(dtabText); err != nil {
			out.Result, out.Error = "error", err.Error()
			return out, http.StatusBadRequest
		}
	}
	out.Dtab = dtab.String()
	res, step, err := in.Delegate(ctx, dtab, path)
	out.Tree = step
	if err != nil {
		out.Result, out.Error = "error", err.Error()
		return out, http.StatusOK
	}
	for _, b := range res.Bounds {
		if b.Value.Addr != nil {
			// Give namers a moment to answer so the output shows addresses.
			_, _ = b.Value.Addr.Wait(ctx)
		}
		out.Bound = append(out.Bound, BoundOutput{Share: b.Weight, StepBound: name.NewStepBound(b.Value)})
	}
	switch {
	case res.Kind == name.Neg:
		out.Result, out.Error = "neg", pathText+" is negative: no dtab entry or namer binds it"
	case res.Kind == name.Fail:
		out.Result, out.Error = "fail", pathText+": delegation failed (!)"
	case len(res.Bounds) == 0:
		out.Result, out.Error = "empty", pathText+" binds to an empty set"
	case !hasEndpoints(out.Bound):
		// The proxy would answer 502: say why, with each namer's error.
		out.Result, out.Error = "empty", pathText+" binds to no endpoints: "+explainBounds(out.Bound)
	default:
		out.Result = "bound"
	}
	return out, http.StatusOK
}

// hasEndpoints reports whether any bound name has an address to send to.
func hasEndpoints(bound []BoundOutput) bool {
	for _, b := range bound {
		if len(b.Addresses) > 0 {
			return true
		}
	}
	return false
}

// explainBounds says, for each bound name, why it has no endpoints:
// "/#/io.l5d.fs/x (bound, no endpoints); /$/inet/h/80 (neg): <error>".
func explainBounds(bound []BoundOutput) string {
	var sb strings.Builder
	for i, b := range bound {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(b.ID)
		switch {
		case b.Error != "":
			sb.WriteString(" (" + b.State + "): " + b.Error)
		case b.State == name.AddrPending.String():
			sb.WriteString(" (pending: the namer has not answered yet)")
		default:
			sb.WriteString(" (" + b.State + ", no endpoints)")
		}
	}
	return sb.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
