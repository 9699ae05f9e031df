// Package otlp is a local OTLP/HTTP trace receiver for tests: it accepts
// POST /v1/traces with an ExportTraceServiceRequest in the OTLP/JSON
// encoding and checks it as a collector would: the content type, unknown
// fields, trace and span ids as 32 and 16 lower-case hex digits (not
// base64), 64-bit integers as decimal strings, enums as numbers, and a
// span's end not before its start. A request that breaks a rule gets 400
// and is recorded in Errors, so a test sees why.
//
// The wire shapes are written here from the specification
// (opentelemetry-proto, docs/specification.md "JSON Protobuf Encoding"),
// not shared with the exporter, so the two cannot agree on a mistake.
package otlp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
)

// Span is one received span, flattened: attributes as Go values (string,
// int64, float64 or bool), ids in hex.
type Span struct {
	// TraceID, SpanID and ParentSpanID are hex ids; ParentSpanID is ""
	// for a root span.
	TraceID, SpanID, ParentSpanID string
	// Name and Kind are the span's name and SpanKind number (2 = server).
	Name string
	Kind int
	// Start and End are Unix nanoseconds.
	Start, End int64
	// Attributes are the span's attributes by key.
	Attributes map[string]any
	// StatusCode is 0 unset, 1 ok, 2 error; StatusMessage its description.
	StatusCode    int
	StatusMessage string
	// Resource are the resource's attributes by key.
	Resource map[string]any
	// Header is the export request's HTTP header.
	Header http.Header
}

// Receiver is a running receiver. Close it when done.
type Receiver struct {
	srv *httptest.Server
	got chan struct{}

	mu     sync.Mutex
	spans  []Span
	errors []error
}

// New starts a receiver on 127.0.0.1.
func New() *Receiver {
	r := &Receiver{got: make(chan struct{}, 1024)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is the receiver's base URL (no /v1/traces), as
// OTEL_EXPORTER_OTLP_ENDPOINT takes it.
func (r *Receiver) URL() string { return r.srv.URL }

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// Exports is signalled once per accepted export request.
func (r *Receiver) Exports() <-chan struct{} { return r.got }

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Errors returns why requests were refused.
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errors...)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	spans, err := decode(req)
	r.mu.Lock()
	if err != nil {
		r.errors = append(r.errors, err)
	} else {
		r.spans = append(r.spans, spans...)
	}
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
	select {
	case r.got <- struct{}{}:
	default:
	}
}

type (
	exportRequest struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	resourceSpans struct {
		Resource   resource     `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
		SchemaURL  string       `json:"schemaUrl"`
	}
	resource struct {
		Attributes []keyValue `json:"attributes"`
	}
	scopeSpans struct {
		Scope struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"scope"`
		Spans     []span `json:"spans"`
		SchemaURL string `json:"schemaUrl"`
	}
	span struct {
		TraceID           string     `json:"traceId"`
		SpanID            string     `json:"spanId"`
		TraceState        string     `json:"traceState"`
		ParentSpanID      string     `json:"parentSpanId"`
		Flags             uint32     `json:"flags"`
		Name              string     `json:"name"`
		Kind              int        `json:"kind"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		EndTimeUnixNano   string     `json:"endTimeUnixNano"`
		Attributes        []keyValue `json:"attributes"`
		Status            *struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"status"`
	}
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	anyValue struct {
		StringValue *string  `json:"stringValue"`
		IntValue    *string  `json:"intValue"`
		DoubleValue *float64 `json:"doubleValue"`
		BoolValue   *bool    `json:"boolValue"`
	}
)

func decode(req *http.Request) ([]Span, error) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		return nil, fmt.Errorf("otlp: %s %s: want POST /v1/traces", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		return nil, fmt.Errorf("otlp: Content-Type %q: this receiver takes application/json", ct)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("otlp: read body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var er exportRequest
	if err := dec.Decode(&er); err != nil {
		return nil, fmt.Errorf("otlp: decode ExportTraceServiceRequest: %w", err)
	}
	var out []Span
	for _, rs := range er.ResourceSpans {
		res, err := attributes(rs.Resource.Attributes)
		if err != nil {
			return nil, fmt.Errorf("otlp: resource: %w", err)
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp, err := convert(s)
				if err != nil {
					return nil, fmt.Errorf("otlp: span %q: %w", s.Name, err)
				}
				sp.Resource, sp.Header = res, req.Header.Clone()
				out = append(out, sp)
			}
		}
	}
	return out, nil
}

func convert(s span) (Span, error) {
	if err := hexID(s.TraceID, 16); err != nil {
		return Span{}, fmt.Errorf("traceId: %w", err)
	}
	if err := hexID(s.SpanID, 8); err != nil {
		return Span{}, fmt.Errorf("spanId: %w", err)
	}
	if s.ParentSpanID != "" {
		if err := hexID(s.ParentSpanID, 8); err != nil {
			return Span{}, fmt.Errorf("parentSpanId: %w", err)
		}
	}
	start, err := strconv.ParseInt(s.StartTimeUnixNano, 10, 64)
	if err != nil {
		return Span{}, fmt.Errorf("startTimeUnixNano: %w", err)
	}
	end, err := strconv.ParseInt(s.EndTimeUnixNano, 10, 64)
	if err != nil {
		return Span{}, fmt.Errorf("endTimeUnixNano: %w", err)
	}
	if end < start {
		return Span{}, fmt.Errorf("ends (%d) before it starts (%d)", end, start)
	}
	if s.Kind < 0 || s.Kind > 5 {
		return Span{}, fmt.Errorf("kind %d is not a SpanKind", s.Kind)
	}
	attrs, err := attributes(s.Attributes)
	if err != nil {
		return Span{}, err
	}
	sp := Span{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Name: s.Name, Kind: s.Kind,
		Start: start, End: end, Attributes: attrs}
	if s.Status != nil {
		if s.Status.Code < 0 || s.Status.Code > 2 {
			return Span{}, fmt.Errorf("status code %d is not a StatusCode", s.Status.Code)
		}
		sp.StatusCode, sp.StatusMessage = s.Status.Code, s.Status.Message
	}
	return sp, nil
}

func hexID(s string, n int) error {
	if len(s) != 2*n {
		return fmt.Errorf("%q is not %d hex digits", s, 2*n)
	}
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return fmt.Errorf("%q is not lower-case hex", s)
	}
	if bytes.Equal(b, make([]byte, n)) {
		return fmt.Errorf("%q is all zero", s)
	}
	return nil
}

func attributes(kvs []keyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if kv.Key == "" {
			return nil, fmt.Errorf("attribute with an empty key")
		}
		if _, dup := m[kv.Key]; dup {
			return nil, fmt.Errorf("attribute %s twice", kv.Key)
		}
		v := kv.Value
		n := 0
		for _, set := range []bool{v.StringValue != nil, v.IntValue != nil, v.DoubleValue != nil, v.BoolValue != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("attribute %s has %d values, want 1", kv.Key, n)
		}
		switch {
		case v.StringValue != nil:
			m[kv.Key] = *v.StringValue
		case v.IntValue != nil:
			i, err := strconv.ParseInt(*v.IntValue, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: intValue: %w", kv.Key, err)
			}
			m[kv.Key] = i
		case v.DoubleValue != nil:
			m[kv.Key] = *v.DoubleValue
		default:
			m[kv.Key] = *v.BoolValue
		}
	}
	return m, nil
}
