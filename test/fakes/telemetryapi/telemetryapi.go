// Package telemetryapi is a local fake of the AWS Lambda Telemetry API,
// speaking its wire format: an extension subscribes with
// PUT /2022-07-01/telemetry (header Lambda-Extension-Identifier, a JSON
// body of schemaVersion, types, destination {protocol HTTP, URI} and
// optional buffering {maxItems, maxBytes, timeoutMs}), validated with
// Lambda's rules and answered 200 "OK"; the test then makes the fake
// deliver events, as Lambda does, by POSTing a JSON array of
// {time, type, record} objects to the subscriber's URI.
//
// The Telemetry API shares its host and port with the Extensions API
// (AWS_LAMBDA_RUNTIME_API), so the fake is a handler that serves the
// telemetry path and hands every other request to the Extensions API's
// handler (Wrap). Set Unsupported to answer as the AWS Lambda Runtime
// Interface Emulator does, which has no Telemetry API: 202 with
// errorType Telemetry.NotSupported.
package telemetryapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Path is the subscription path.
const Path = "/2022-07-01/telemetry"

// Subscription is one accepted subscription request.
type Subscription struct {
	// ExtensionID is the Lambda-Extension-Identifier header.
	ExtensionID string
	// SchemaVersion is the request's schemaVersion.
	SchemaVersion string `json:"schemaVersion"`
	// Types are the telemetry types: platform, function, extension.
	Types []string `json:"types"`
	// Destination is where events go.
	Destination struct {
		Protocol string `json:"protocol"`
		URI      string `json:"URI"`
	} `json:"destination"`
	// Buffering is the requested buffering, nil when absent.
	Buffering *struct {
		MaxItems  int `json:"maxItems"`
		MaxBytes  int `json:"maxBytes"`
		TimeoutMs int `json:"timeoutMs"`
	} `json:"buffering"`
}

// Event is one Telemetry API event as Lambda sends it.
type Event struct {
	// Time is when the event happened, ISO 8601 with milliseconds.
	Time string `json:"time"`
	// Type is e.g. platform.runtimeDone.
	Type string `json:"type"`
	// Record is the event's record; its shape depends on Type.
	Record any `json:"record"`
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// Unsupported answers subscriptions as the emulator's stub does.
	Unsupported bool

	mu   sync.Mutex
	subs []Subscription
	// Subscribed receives every accepted subscription.
	Subscribed chan Subscription
	hc         *http.Client
}

// New returns a fake; serve it with Wrap.
func New() *Server {
	return &Server{Subscribed: make(chan Subscription, 8), hc: &http.Client{Timeout: 10 * time.Second}}
}

// Wrap returns a handler that serves the Telemetry API and sends every
// other request to next (the Extensions API).
func (s *Server) Wrap(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("PUT "+Path, s.subscribe)
	return mux
}

// Close closes the connections the fake opened to subscribers.
func (s *Server) Close() { s.hc.CloseIdleConnections() }

// Subscriptions returns the accepted subscriptions.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if s.Unsupported {
		// The emulator's stub: 202 and an error body.
		apiError(w, http.StatusAccepted, "Telemetry.NotSupported", "Telemetry API is not supported")
		return
	}
	id := r.Header.Get("Lambda-Extension-Identifier")
	if id == "" {
		apiError(w, http.StatusForbidden, "Extension.MissingExtensionIdentifier", "missing Lambda-Extension-Identifier")
		return
	}
	var sub Subscription
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(b, &sub)
	}
	if err == nil {
		err = validate(&sub)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, "ValidationError", err.Error())
		return
	}
	sub.ExtensionID = id
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	select {
	case s.Subscribed <- sub:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `"OK"`)
}

// validate applies the rules of the Telemetry API reference.
func validate(s *Subscription) error {
	if !slices.Contains([]string{"2022-07-01", "2022-12-13", "2025-01-29"}, s.SchemaVersion) {
		return fmt.Errorf("schemaVersion %q is not 2022-07-01, 2022-12-13 or 2025-01-29", s.SchemaVersion)
	}
	if len(s.Types) == 0 {
		return errors.New("types is empty")
	}
	for _, t := range s.Types {
		if !slices.Contains([]string{"platform", "function", "extension"}, t) {
			return fmt.Errorf("type %q is not platform, function or extension", t)
		}
	}
	if s.Destination.Protocol != "HTTP" || s.Destination.URI == "" {
		return errors.New("destination needs protocol HTTP and a URI")
	}
	if b := s.Buffering; b != nil {
		if b.MaxItems != 0 && (b.MaxItems < 1000 || b.MaxItems > 10000) {
			return fmt.Errorf("buffering.maxItems %d is outside 1000 to 10000", b.MaxItems)
		}
		if b.MaxBytes != 0 && (b.MaxBytes < 262144 || b.MaxBytes > 1048576) {
			return fmt.Errorf("buffering.maxBytes %d is outside 262144 to 1048576", b.MaxBytes)
		}
		if b.TimeoutMs != 0 && (b.TimeoutMs < 25 || b.TimeoutMs > 30000) {
			return fmt.Errorf("buffering.timeoutMs %d is outside 25 to 30000", b.TimeoutMs)
		}
	}
	return nil
}

// Send POSTs events as one batch to every subscriber, as Lambda does,
// and returns the first delivery error.
func (s *Server) Send(ctx context.Context, events ...Event) error {
	body, err := json.Marshal(events)
	if err != nil {
		return fmt.Errorf("telemetryapi: encode events: %w", err)
	}
	for _, sub := range s.Subscriptions() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Destination.URI, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("telemetryapi: deliver to %s: %w", sub.Destination.URI, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.hc.Do(req)
		if err != nil {
			return fmt.Errorf("telemetryapi: deliver to %s: %w", sub.Destination.URI, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("telemetryapi: deliver to %s: status %d", sub.Destination.URI, resp.StatusCode)
		}
	}
	return nil
}

// RuntimeDone returns the platform.runtimeDone event of an invocation
// that ended at at with status (success, error, failure or timeout).
func RuntimeDone(requestID, status string, at time.Time, duration time.Duration) Event {
	return Event{
		Time: at.UTC().Format("2006-01-02T15:04:05.000Z"),
		Type: "platform.runtimeDone",
		Record: map[string]any{
			"requestId": requestID,
			"status":    status,
			"metrics":   map[string]any{"durationMs": float64(duration.Microseconds()) / 1000, "producedBytes": 0},
		},
	}
}

// Start returns the platform.start event of an invocation.
func Start(requestID string, at time.Time) Event {
	return Event{Time: at.UTC().Format("2006-01-02T15:04:05.000Z"), Type: "platform.start",
		Record: map[string]any{"requestId": requestID, "version": "$LATEST"}}
}
