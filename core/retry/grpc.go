package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// GRPCCode is a gRPC status code (the value of the grpc-status trailer),
// as listed in grpc/doc/statuscodes.md. It is defined here so that the
// retry package does not depend on grpc-go.
type GRPCCode uint32

// The gRPC status codes.
const (
	CodeOK                 GRPCCode = 0
	CodeCanceled           GRPCCode = 1
	CodeUnknown            GRPCCode = 2
	CodeInvalidArgument    GRPCCode = 3
	CodeDeadlineExceeded   GRPCCode = 4
	CodeNotFound           GRPCCode = 5
	CodeAlreadyExists      GRPCCode = 6
	CodePermissionDenied   GRPCCode = 7
	CodeResourceExhausted  GRPCCode = 8
	CodeFailedPrecondition GRPCCode = 9
	CodeAborted            GRPCCode = 10
	CodeOutOfRange         GRPCCode = 11
	CodeUnimplemented      GRPCCode = 12
	CodeInternal           GRPCCode = 13
	CodeUnavailable        GRPCCode = 14
	CodeDataLoss           GRPCCode = 15
	CodeUnauthenticated    GRPCCode = 16

	maxGRPCCode = CodeUnauthenticated
)

// String returns the code's name as the gRPC spec spells it, e.g.
// "UNAVAILABLE", or "Code(17)" for a code the spec does not define.
func (c GRPCCode) String() string {
	switch c {
	case CodeOK:
		return "OK"
	case CodeCanceled:
		return "CANCELLED"
	case CodeUnknown:
		return "UNKNOWN"
	case CodeInvalidArgument:
		return "INVALID_ARGUMENT"
	case CodeDeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case CodeNotFound:
		return "NOT_FOUND"
	case CodeAlreadyExists:
		return "ALREADY_EXISTS"
	case CodePermissionDenied:
		return "PERMISSION_DENIED"
	case CodeResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case CodeFailedPrecondition:
		return "FAILED_PRECONDITION"
	case CodeAborted:
		return "ABORTED"
	case CodeOutOfRange:
		return "OUT_OF_RANGE"
	case CodeUnimplemented:
		return "UNIMPLEMENTED"
	case CodeInternal:
		return "INTERNAL"
	case CodeUnavailable:
		return "UNAVAILABLE"
	case CodeDataLoss:
		return "DATA_LOSS"
	case CodeUnauthenticated:
		return "UNAUTHENTICATED"
	default:
		return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
	}
}

// ParseGRPCCodes parses a comma-separated list of gRPC status codes, each
// a number (14) or a name matched case-insensitively (UNAVAILABLE;
// CANCELED is accepted for CANCELLED). Spaces around items are ignored.
// OK and codes above 16 are rejected: only a defined failure code can be
// retryable. The error says which item is wrong and what is allowed.
func ParseGRPCCodes(s string) ([]GRPCCode, error) {
	var codes []GRPCCode
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		c, err := parseGRPCCode(item)
		if err != nil {
			return nil, fmt.Errorf("retry: grpc codes %q: %w", s, err)
		}
		codes = append(codes, c)
	}
	return codes, nil
}

// parseGRPCCode parses one retryable code, by number or name.
func parseGRPCCode(item string) (GRPCCode, error) {
	if item == "" {
		return 0, errors.New("empty code (want a number 1-16 or a name such as UNAVAILABLE)")
	}
	if n, err := strconv.ParseUint(item, 10, 32); err == nil {
		c := GRPCCode(n)
		if c == CodeOK || c > maxGRPCCode {
			return 0, fmt.Errorf("code %d is not a failure code (want 1-16)", n)
		}
		return c, nil
	}
	if strings.EqualFold(item, "CANCELED") {
		return CodeCanceled, nil
	}
	for c := CodeCanceled; c <= maxGRPCCode; c++ {
		if strings.EqualFold(item, c.String()) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown code %q (want a number 1-16 or one of CANCELLED, UNKNOWN, INVALID_ARGUMENT, "+
		"DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, "+
		"ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED)", item)
}

// GRPCClassifier classifies gRPC responses by their status code: OK is a
// success, any other code a failure, retryable when the code is in the
// classifier's set. It is a bit set (bit n set: code n is retryable), so
// it is a comparable value; the zero value retries nothing
// ([GRPCNeverRetryable]).
//
// The code is read from the grpc-status trailer, or from the headers for a
// trailers-only response (trailers win when both carry one). A malformed
// value counts as UNKNOWN. Without grpc-status, the HTTP status maps as
// gRPC clients map it (doc/http-grpc-status-mapping.md): 400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
// 429/502/503/504 UNAVAILABLE, other non-200 UNKNOWN; a 200 without
// grpc-status means the stream ended without a status: INTERNAL. So the
// classifier must see the final trailers (the body read to EOF).
//
// A transport error counts as UNAVAILABLE, an attempt deadline
// (context.DeadlineExceeded) as DEADLINE_EXCEEDED, as grpc-go reports
// them; a cancelled request (context.Canceled) is a failure that is never
// retried, whatever the set. gRPC requests are all POSTs, so the method
// is ignored: the service owner vouches that the listed codes are safe
// to retry, as in gRPC's own retry policy. A failure whose code is not in
// the set is still retryable when the response carries l5d-retryable:
// true.
type GRPCClassifier uint32

const (
	// GRPCDefault retries UNAVAILABLE only, like linkerd's
	// io.l5d.h2.grpc.default. Named "grpc".
	GRPCDefault GRPCClassifier = 1 << CodeUnavailable
	// GRPCNeverRetryable retries no code. Named "grpcNeverRetryable".
	GRPCNeverRetryable GRPCClassifier = 0
	// GRPCAlwaysRetryable retries every failure code (1-16). Named
	// "grpcAlwaysRetryable".
	GRPCAlwaysRetryable GRPCClassifier = 1<<(maxGRPCCode+1) - 2
)

// Classifier names of the gRPC classifiers.
const (
	nameGRPC       = "grpc"
	nameGRPCAlways = "grpcAlwaysRetryable"
	nameGRPCNever  = "grpcNeverRetryable"
)

// NewGRPCClassifier returns a gRPC classifier that retries the given
// codes; with none, it retries nothing. OK and undefined codes are
// rejected.
func NewGRPCClassifier(retryable ...GRPCCode) (GRPCClassifier, error) {
	var c GRPCClassifier
	for _, code := range retryable {
		if code == CodeOK || code > maxGRPCCode {
			return 0, fmt.Errorf("retry: grpc classifier: code %d is not a failure code (want 1-16)", uint32(code))
		}
		c |= 1 << code
	}
	return c, nil
}

// Retryable reports whether c retries code.
func (c GRPCClassifier) Retryable(code GRPCCode) bool {
	return code <= maxGRPCCode && c&(1<<code) != 0
}

// Codes returns the retryable codes in ascending order.
func (c GRPCClassifier) Codes() []GRPCCode {
	var codes []GRPCCode
	for code := CodeCanceled; code <= maxGRPCCode; code++ {
		if c.Retryable(code) {
			codes = append(codes, code)
		}
	}
	return codes
}

// String returns the canonical name [Lookup] accepts: "grpc",
// "grpcNeverRetryable", "grpcAlwaysRetryable", or "grpc:" and the codes
// as ascending numbers, e.g. "grpc:8,14".
func (c GRPCClassifier) String() string {
	switch c {
	case GRPCDefault:
		return nameGRPC
	case GRPCNeverRetryable:
		return nameGRPCNever
	case GRPCAlwaysRetryable:
		return nameGRPCAlways
	}
	var b strings.Builder
	b.WriteString(nameGRPC)
	sep := byte(':')
	for _, code := range c.Codes() {
		b.WriteByte(sep)
		b.WriteString(strconv.FormatUint(uint64(code), 10))
		sep = ','
	}
	return b.String()
}

// Classify returns the class of r; see [GRPCClassifier].
func (c GRPCClassifier) Classify(r Response) Class {
	if r.Err != nil && errors.Is(r.Err, context.Canceled) {
		return Failure
	}
	code := GRPCStatus(r)
	switch {
	case code == CodeOK:
		return Success
	case c.Retryable(code):
		return RetryableFailure
	default:
		return markedRetryable(r.Header)
	}
}

// GRPCStatus returns the gRPC status code of r as [GRPCClassifier] reads
// it: from the grpc-status trailer or header, else mapped from the
// transport error or the HTTP status.
func GRPCStatus(r Response) GRPCCode {
	if r.Err != nil {
		if errors.Is(r.Err, context.DeadlineExceeded) {
			return CodeDeadlineExceeded
		}
		return CodeUnavailable
	}
	if v, ok := grpcStatusValue(r.Trailer); ok {
		return parseGRPCStatus(v)
	}
	if v, ok := grpcStatusValue(r.Header); ok {
		return parseGRPCStatus(v)
	}
	switch r.Status {
	case http.StatusOK:
		return CodeInternal
	case http.StatusBadRequest:
		return CodeInternal
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusNotFound:
		return CodeUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return CodeUnavailable
	default:
		return CodeUnknown
	}
}

// grpcStatusValue returns the first grpc-status value in h, by canonical
// or lower-case key, without allocating.
func grpcStatusValue(h http.Header) (string, bool) {
	v := h["Grpc-Status"]
	if len(v) == 0 {
		//lint:ignore SA1008 a hand-built header map may use the lower-case key
		v = h["grpc-status"]
	}
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// parseGRPCStatus parses a grpc-status value: ASCII digits, at most ten
// of them; anything else is UNKNOWN. It does not allocate.
func parseGRPCStatus(s string) GRPCCode {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		return CodeUnknown
	}
	var n uint64
	for i := range len(s) {
		d := s[i]
		if d < '0' || d > '9' {
			return CodeUnknown
		}
		n = n*10 + uint64(d-'0')
	}
	if n > 1<<32-1 {
		return CodeUnknown
	}
	return GRPCCode(n)
}

var (
	_ Classifier   = GRPCClassifier(0)
	_ fmt.Stringer = GRPCClassifier(0)
	_ fmt.Stringer = GRPCCode(0)
)
