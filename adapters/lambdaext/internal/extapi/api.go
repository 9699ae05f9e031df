// Package extapi is a client of the AWS Lambda Extensions API (version
// 2020-01-01) and of the Telemetry API's subscription: what the slinkerd
// extension (adapters/lambdaext) registers, waits for events and reports
// errors with.
package extapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The Extensions API, version 2020-01-01.
const (
	apiVersion = "2020-01-01"

	hdrExtensionName       = "Lambda-Extension-Name"
	hdrExtensionIdentifier = "Lambda-Extension-Identifier"
	hdrFunctionErrorType   = "Lambda-Extension-Function-Error-Type"
)

// EventType is the type of an event from event/next.
type EventType string

// The event types an extension can register for. slinkerd registers for
// both.
const (
	// Invoke is sent when the function is invoked.
	Invoke EventType = "INVOKE"
	// Shutdown is sent before the execution environment goes away; the
	// extension must exit by the event's deadline.
	Shutdown EventType = "SHUTDOWN"
)

// Event is one event from event/next: INVOKE or SHUTDOWN.
type Event struct {
	// EventType is INVOKE or SHUTDOWN.
	EventType EventType `json:"eventType"`
	// DeadlineMs is the deadline in milliseconds since the Unix epoch: of
	// the invocation for INVOKE, of the extension's exit for SHUTDOWN.
	DeadlineMs int64 `json:"deadlineMs"`
	// RequestID is the invocation's request ID (INVOKE only).
	RequestID string `json:"requestId,omitempty"`
	// InvokedFunctionArn is the ARN the function was invoked with
	// (INVOKE only).
	InvokedFunctionArn string `json:"invokedFunctionArn,omitempty"`
	// Tracing carries the invocation's X-Ray trace header (INVOKE only,
	// when tracing is on).
	Tracing *Tracing `json:"tracing,omitempty"`
	// ShutdownReason is spindown, timeout or failure (SHUTDOWN only).
	ShutdownReason string `json:"shutdownReason,omitempty"`
}

// Deadline returns DeadlineMs as a time; zero when DeadlineMs is 0.
func (e *Event) Deadline() time.Time {
	if e.DeadlineMs <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(e.DeadlineMs)
}

// TraceHeader returns the invocation's X-Amzn-Trace-Id value, or "".
func (e *Event) TraceHeader() string {
	if e.Tracing == nil || !strings.EqualFold(e.Tracing.Type, "X-Amzn-Trace-Id") {
		return ""
	}
	return e.Tracing.Value
}

// Tracing is the tracing part of an INVOKE event.
type Tracing struct {
	// Type is "X-Amzn-Trace-Id".
	Type string `json:"type"`
	// Value is the header's value, e.g. "Root=1-…;Parent=…;Sampled=1".
	Value string `json:"value"`
}

// Registration is the answer to register.
type Registration struct {
	// ID is the Lambda-Extension-Identifier that every later call sends.
	ID string
	// FunctionName, FunctionVersion and Handler describe the function.
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion"`
	Handler         string `json:"handler"`
}

// Client calls the Lambda Extensions API at $AWS_LAMBDA_RUNTIME_API. It
// is a plain net/http client: aws-lambda-go covers the Runtime API only.
type Client struct {
	host string // host:port of the Extensions and Telemetry APIs
	base string
	hc   *http.Client
	id   string
}

// NewClient returns a Client for the API at hostPort (the value of
// AWS_LAMBDA_RUNTIME_API). hc nil means a client without a timeout, which
// event/next needs: it blocks while the environment is idle or frozen.
func NewClient(hostPort string, hc *http.Client) (*Client, error) {
	if hostPort == "" {
		return nil, errors.New("lambda: AWS_LAMBDA_RUNTIME_API is not set")
	}
	if strings.Contains(hostPort, "/") {
		return nil, fmt.Errorf("lambda: AWS_LAMBDA_RUNTIME_API %q: want host:port", hostPort)
	}
	if hc == nil {
		// A transport of its own, so nothing else (in-function code,
		// proxy pools) shares or closes its one connection.
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	}
	return &Client{host: hostPort, base: "http://" + hostPort + "/" + apiVersion + "/extension", hc: hc}, nil
}

// CloseIdleConnections closes the client's idle connection to the API.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// ID returns the identifier from Register, or "" before it.
func (c *Client) ID() string { return c.id }

// Register registers the extension under name, which must be its file
// name in /opt/extensions, for events.
func (c *Client) Register(ctx context.Context, name string, events ...EventType) (*Registration, error) {
	body, err := json.Marshal(map[string][]EventType{"events": events})
	if err != nil {
		return nil, fmt.Errorf("lambda: register: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/register", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambda: register: %w", err)
	}
	req.Header.Set(hdrExtensionName, name)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req, "register")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	reg := &Registration{ID: resp.Header.Get(hdrExtensionIdentifier)}
	if reg.ID == "" {
		return nil, fmt.Errorf("lambda: register: no %s header in the answer", hdrExtensionIdentifier)
	}
	// The body is informational; a malformed one does not fail start-up.
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(reg)
	c.id = reg.ID
	return reg, nil
}

// Next blocks until the next event. The environment may be frozen while
// it waits.
func (c *Client) Next(ctx context.Context) (*Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/event/next", nil)
	if err != nil {
		return nil, fmt.Errorf("lambda: event/next: %w", err)
	}
	req.Header.Set(hdrExtensionIdentifier, c.id)
	resp, err := c.do(req, "event/next")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ev Event
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ev); err != nil {
		return nil, fmt.Errorf("lambda: event/next: decode event: %w", err)
	}
	return &ev, nil
}

// ErrorReport is the JSON body of init/error and exit/error.
type ErrorReport struct {
	// ErrorMessage says what went wrong.
	ErrorMessage string `json:"errorMessage"`
	// ErrorType is the same as the error-type header, e.g.
	// Extension.ConfigInvalid.
	ErrorType string `json:"errorType"`
	// StackTrace is empty: a Go error carries none.
	StackTrace []string `json:"stackTrace"`
}

// InitError reports that the extension failed to initialise; Lambda
// then fails the init phase with errorType (which must start with
// "Extension."). The extension should exit afterwards.
func (c *Client) InitError(ctx context.Context, errorType string, cause error) error {
	return c.reportError(ctx, "init/error", errorType, cause)
}

// ExitError reports that the extension is about to exit with an error
// after init; Lambda resets the execution environment.
func (c *Client) ExitError(ctx context.Context, errorType string, cause error) error {
	return c.reportError(ctx, "exit/error", errorType, cause)
}

func (c *Client) reportError(ctx context.Context, path, errorType string, cause error) error {
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	body, err := json.Marshal(ErrorReport{ErrorMessage: msg, ErrorType: errorType, StackTrace: []string{}})
	if err != nil {
		return fmt.Errorf("lambda: %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("lambda: %s: %w", path, err)
	}
	req.Header.Set(hdrExtensionIdentifier, c.id)
	req.Header.Set(hdrFunctionErrorType, errorType)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req, path)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	return nil
}

// do sends req and fails on any status but 2xx, quoting the API's answer.
func (c *Client) do(req *http.Request, what string) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lambda: %s: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		return nil, &APIError{Op: what, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	return resp, nil
}

// APIError is an answer of the Extensions API other than 2xx.
type APIError struct {
	// Op is the call: register, event/next, init/error or exit/error.
	Op string
	// Status is the HTTP status.
	Status int
	// Body is the start of the answer, usually JSON with errorType and
	// errorMessage.
	Body string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("lambda: %s: status %d: %s", e.Op, e.Status, e.Body)
}
