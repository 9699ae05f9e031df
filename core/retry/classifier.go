// Package retry decides whether and when a proxied request may be sent
// again: response classifiers (is this a success, a failure, a retryable
// failure?), the retry budget that bounds how many retries a client adds
// on top of its traffic (Finagle's RetryBudget), backoff between
// application retries (decorrelated jitter), the requeue test for
// transport errors that prove a request never reached a server, and the
// per-service policy that sets all of these by service-name prefix
// (SLINKERD_SVC_POLICY).
//
// The package is a pure library: it starts no goroutines and does no I/O.
// Time comes from an injected [clock.Clock] and randomness from an
// injected function, so tests advance time and seed randomness instead of
// sleeping.
//
// How the pieces fit, per request (the proxy drives them):
//
//  1. Budget.Deposit once for the request (not per attempt), as Finagle's
//     RequeueFilter does.
//  2. Send. On a transport error, if [Requeueable] says the request never
//     reached a server and Budget.TryWithdraw allows it, send it again at
//     once ([NoWait]) — for every method, since nothing was processed.
//  3. Otherwise classify the outcome with the service's [Classifier]. On
//     [RetryableFailure], when the body fits the replay buffer, time
//     remains and Budget.TryWithdraw allows it, wait [Backoff.Next] and
//     send again.
package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Class is the outcome of one attempt as a [Classifier] sees it.
type Class uint8

const (
	// Success is a good answer; it is not retried.
	Success Class = iota
	// Failure is a bad answer that must not be sent again (it counts as a
	// failure for failure accrual and metrics).
	Failure
	// RetryableFailure is a bad answer that may be sent again, budget and
	// time permitting.
	RetryableFailure
)

// String returns "success", "failure" or "retryable-failure".
func (c Class) String() string {
	switch c {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case RetryableFailure:
		return "retryable-failure"
	default:
		return fmt.Sprintf("Class(%d)", uint8(c))
	}
}

// IsFailure reports whether c is Failure or RetryableFailure.
func (c Class) IsFailure() bool { return c == Failure || c == RetryableFailure }

// Response is what a [Classifier] looks at: the request method and either
// the transport error or the response status, headers and trailers. It is
// a small value passed by value so that classifying allocates nothing.
type Response struct {
	// Method is the request method, e.g. "GET" (HTTP methods are
	// case-sensitive; "get" is not GET).
	Method string
	// Status is the HTTP response status code; ignored when Err is set.
	Status int
	// Header holds the response headers (for a gRPC trailers-only
	// response, grpc-status is here). May be nil.
	Header http.Header
	// Trailer holds the response trailers, complete (the body has been
	// read to EOF). May be nil.
	Trailer http.Header
	// Err is the transport error, or the attempt's context error, when no
	// response arrived. Nil when a response arrived.
	Err error
}

// Classifier decides the [Class] of one attempt. Implementations must be
// safe for concurrent use and should not allocate.
type Classifier interface {
	// Classify returns the class of r.
	Classify(r Response) Class
}

// ClassifierFunc adapts a function to a [Classifier].
type ClassifierFunc func(Response) Class

// Classify returns f(r).
func (f ClassifierFunc) Classify(r Response) Class { return f(r) }

// HeaderRetryable is the response header with which a backend (often
// another slinkerd or linkerd) marks a failure as safe to retry: with the
// value "true" it turns a [Failure] into a [RetryableFailure]. It never
// turns a success into a failure.
const HeaderRetryable = "l5d-retryable"

// canonicalHeaderRetryable is HeaderRetryable in http.Header's canonical
// form, so that looking it up needs no canonicalisation (and no
// allocation).
const canonicalHeaderRetryable = "L5d-Retryable"

// HTTPClassifier is a built-in HTTP classifier: 5xx responses are
// failures, everything else is a success; the constant decides for which
// methods a 5xx or a transport error is retryable. Its zero value is
// NonRetryable5XX.
//
// A transport error (no response) counts as a failure, retryable like a
// 5xx for the methods the classifier retries, except a cancelled request
// (context.Canceled: the caller is gone), which is never retryable. A
// status outside 100–599 is treated like a 5xx. AllSuccessful classifies
// every response as a success but a transport error as a failure.
type HTTPClassifier uint8

const (
	// NonRetryable5XX makes 5xx and transport errors failures, never
	// retried. The default classifier; named "nonRetryable5XX".
	NonRetryable5XX HTTPClassifier = iota
	// RetryableRead5XX retries 5xx and transport errors for GET, HEAD,
	// OPTIONS and TRACE. Named "retryableRead5XX".
	RetryableRead5XX
	// RetryableIdempotent5XX retries 5xx and transport errors for the
	// read methods plus PUT and DELETE. Named "retryableIdempotent5XX".
	RetryableIdempotent5XX
	// RetryableAll5XX retries 5xx and transport errors for every method.
	// Named "retryableAll5XX".
	RetryableAll5XX
	// AllSuccessful treats every response as a success, whatever its
	// status; a transport error is still a failure. Named "allSuccessful".
	AllSuccessful
	numHTTPClassifiers
)

// String returns the classifier's name as [Lookup] accepts it.
func (c HTTPClassifier) String() string {
	switch c {
	case NonRetryable5XX:
		return "nonRetryable5XX"
	case RetryableRead5XX:
		return "retryableRead5XX"
	case RetryableIdempotent5XX:
		return "retryableIdempotent5XX"
	case RetryableAll5XX:
		return "retryableAll5XX"
	case AllSuccessful:
		return "allSuccessful"
	default:
		return fmt.Sprintf("HTTPClassifier(%d)", uint8(c))
	}
}

// Classify returns the class of r; see [HTTPClassifier].
func (c HTTPClassifier) Classify(r Response) Class {
	if r.Err != nil {
		if c == AllSuccessful || errors.Is(r.Err, context.Canceled) || !c.retries(r.Method) {
			return Failure
		}
		return RetryableFailure
	}
	if c == AllSuccessful || !serverError(r.Status) {
		return Success
	}
	if c.retries(r.Method) {
		return RetryableFailure
	}
	return markedRetryable(r.Header)
}

// retries reports whether c retries failures of requests with method m.
func (c HTTPClassifier) retries(m string) bool {
	switch c {
	case RetryableRead5XX:
		return readMethod(m)
	case RetryableIdempotent5XX:
		return readMethod(m) || m == http.MethodPut || m == http.MethodDelete
	case RetryableAll5XX:
		return true
	default:
		return false
	}
}

// readMethod reports whether m is safe per RFC 9110 §9.2.1 and commonly
// retried: GET, HEAD, OPTIONS, TRACE.
func readMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// serverError reports whether status is a 5xx or not a valid status.
func serverError(status int) bool { return status >= 500 || status < 100 }

// markedRetryable returns RetryableFailure when h carries
// "l5d-retryable: true" (case-insensitive value), else Failure. It reads
// the canonical key, then the lower-case one that a hand-built header map
// may use, without allocating.
func markedRetryable(h http.Header) Class {
	v := h[canonicalHeaderRetryable]
	if v == nil {
		//lint:ignore SA1008 a hand-built header map may use the lower-case key
		v = h[HeaderRetryable]
	}
	for _, s := range v {
		if strings.EqualFold(strings.TrimSpace(s), "true") {
			return RetryableFailure
		}
	}
	return Failure
}

// ErrUnknownClassifier is wrapped by [Lookup] for a name it does not know.
var ErrUnknownClassifier = errors.New("unknown classifier")

// ClassifierNames lists the names [Lookup] accepts, for help texts and
// error messages.
func ClassifierNames() []string {
	names := make([]string, 0, int(numHTTPClassifiers)+4)
	for c := range numHTTPClassifiers {
		names = append(names, c.String())
	}
	names = append(names, nameGRPC, nameGRPC+":<codes>", nameGRPCAlways, nameGRPCNever)
	classifiersMu.RLock()
	defer classifiersMu.RUnlock()
	return append(names, classifierOrder...)
}

var (
	classifiersMu   sync.RWMutex
	classifiers     = map[string]Classifier{} // by lower-case name
	classifierOrder []string                  // registered names, as given
)

// RegisterClassifier adds a classifier that SLINKERD_CLASSIFIER and
// SLINKERD_SVC_POLICY's classifier key can name (matched
// case-insensitively), as grpc-go's balancer.Register does for
// balancers: call it from an init function. c must be safe for
// concurrent use. It panics if the name is empty, contains a separator
// of SLINKERD_SVC_POLICY (space, ",", ";", "=" or ":"), is a built-in
// name, or is registered already.
func RegisterClassifier(name string, c Classifier) {
	if name == "" || c == nil || strings.ContainsAny(name, " \t,;=:") {
		panic(fmt.Sprintf("retry: RegisterClassifier(%q): empty or holding a separator", name))
	}
	if _, err := lookupBuiltin(name); err == nil {
		panic(fmt.Sprintf("retry: RegisterClassifier(%q): a built-in classifier", name))
	}
	classifiersMu.Lock()
	defer classifiersMu.Unlock()
	k := strings.ToLower(name)
	if _, ok := classifiers[k]; ok {
		panic(fmt.Sprintf("retry: RegisterClassifier(%q): registered twice", name))
	}
	classifiers[k] = c
	classifierOrder = append(classifierOrder, name)
}

// Lookup returns the classifier with the given name, matched
// case-insensitively:
//
//   - nonRetryable5XX (the default), retryableRead5XX,
//     retryableIdempotent5XX, retryableAll5XX, allSuccessful: see
//     [HTTPClassifier];
//   - grpc (UNAVAILABLE retryable), grpc:<codes> (the listed codes
//     retryable, comma-separated numbers or names, e.g. grpc:14,8 or
//     grpc:UNAVAILABLE,RESOURCE_EXHAUSTED), grpcAlwaysRetryable,
//     grpcNeverRetryable: see [GRPCClassifier].
//
// The classifier returned implements fmt.Stringer, whose String is the
// canonical spelling of the name. An unknown name gives an error that
// wraps [ErrUnknownClassifier] and lists the allowed names.
func Lookup(name string) (Classifier, error) {
	c, err := lookupBuiltin(name)
	if errors.Is(err, ErrUnknownClassifier) {
		classifiersMu.RLock()
		rc, ok := classifiers[strings.ToLower(name)]
		classifiersMu.RUnlock()
		if ok {
			return rc, nil
		}
	}
	return c, err
}

// lookupBuiltin is Lookup of the built-in classifiers.
func lookupBuiltin(name string) (Classifier, error) {
	for c := range numHTTPClassifiers {
		if strings.EqualFold(name, c.String()) {
			return c, nil
		}
	}
	switch {
	case strings.EqualFold(name, nameGRPC):
		return GRPCDefault, nil
	case strings.EqualFold(name, nameGRPCAlways):
		return GRPCAlwaysRetryable, nil
	case strings.EqualFold(name, nameGRPCNever):
		return GRPCNeverRetryable, nil
	case len(name) > len(nameGRPC) && strings.EqualFold(name[:len(nameGRPC)+1], nameGRPC+":"):
		codes, err := ParseGRPCCodes(name[len(nameGRPC)+1:])
		if err != nil {
			return nil, fmt.Errorf("retry: classifier %q: %w", name, err)
		}
		return NewGRPCClassifier(codes...)
	}
	return nil, fmt.Errorf("retry: classifier %q: %w (allowed: %s)",
		name, ErrUnknownClassifier, strings.Join(ClassifierNames(), ", "))
}

var (
	_ Classifier   = HTTPClassifier(0)
	_ Classifier   = ClassifierFunc(nil)
	_ fmt.Stringer = HTTPClassifier(0)
	_ fmt.Stringer = Class(0)
)
