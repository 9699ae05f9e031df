// Package lambdafn makes AWS Lambda functions endpoints of the proxy:
// the namers /#/io.l5d.lambda/<function>[/<qualifier>] and
// /#/io.l5d.lambda.stream/<function>[/<qualifier>] bind a function to one
// endpoint, and [Transport] calls it through the Lambda Invoke API
// (InvokeWithResponseStream for the .stream namer), turning the HTTP
// request into a Function URL event (payload format 2.0) and the
// function's answer back into an HTTP response.
//
// The endpoint is an ordinary name.Address — balancing, retries, budgets,
// failure accrual, metrics and tracing treat it like any other — whose
// Meta["transport"] is [TransportKind], so that the proxy sends its
// attempts through [Transport] instead of a connection pool, and whose
// host names the function in a reserved form ([Address]) that the
// Transport reads back from the attempt's URL.
//
// # Experimental
//
// The host form and the namer options may change.
package lambdafn

import (
	"context"
	"fmt"
	"strings"

	"github.com/slinkerd/slinkerd/core/name"
)

// The namers' prefixes, as registered by the app.
const (
	// Prefix is the namer of buffered invocations (Invoke).
	Prefix = "/#/io.l5d.lambda"
	// StreamPrefix is the namer of response-streaming invocations
	// (InvokeWithResponseStream).
	StreamPrefix = "/#/io.l5d.lambda.stream"
)

// TransportKind is the value of name.Address.Meta["transport"] for Lambda
// endpoints; the proxy's TransportConfig.ByKind maps it to a [Transport].
const TransportKind = "lambda"

// The reserved host forms: <function>[.<qualifier>]<suffix>. .invalid is
// reserved (RFC 6761) and never resolves, so a Lambda endpoint that
// reached a connection pool by mistake fails to dial instead of reaching
// a stranger. Function names and qualifiers hold no dots.
const (
	hostSuffix       = ".lambda.invalid"
	streamHostSuffix = ".lambda-stream.invalid"
	hostPort         = 443
)

// validFunction says whether s is a Lambda function name: the API's
// pattern without the ARN forms, whose colons a host cannot carry
// ([a-zA-Z0-9_-]{1,64}). (Checked by hand: a regexp with those counted
// repetitions costs thousands of allocations at every process start.)
func validFunction(s string) bool { return len(s) <= 64 && nameChars(s) }

// validQualifier says whether s is a version, an alias or $LATEST.
func validQualifier(s string) bool { return s == "$LATEST" || (len(s) <= 128 && nameChars(s)) }

// nameChars says whether s is one or more of [a-zA-Z0-9_-].
func nameChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Namer binds <function>[/<qualifier>] under [Prefix] or [StreamPrefix].
// Its zero value is the buffered namer. It holds no state: every name is
// bound at once, to one endpoint that never changes.
type Namer struct {
	// Stream marks the namer of response-streaming functions.
	Stream bool
}

// Lookup binds path: its first segment is the function's name, the second,
// if any, its qualifier (a version, an alias or $LATEST); the rest is the
// residual. A segment that cannot be a
// function name or qualifier is an error that says so.
func (n Namer) Lookup(_ context.Context, path name.Path) (name.Tree[name.Bound], error) {
	prefix := Prefix
	if n.Stream {
		prefix = StreamPrefix
	}
	if len(path) == 0 {
		return name.Tree[name.Bound]{}, fmt.Errorf("lambdafn: %s: expected /<function>[/<qualifier>]", prefix)
	}
	fn, qual := path[0], ""
	if !validFunction(fn) {
		return name.Tree[name.Bound]{}, fmt.Errorf("lambdafn: %s%s: %q is not a function name (1-64 of a-z A-Z 0-9 - _)", prefix, path, fn)
	}
	id := name.MustParsePath(prefix).Concat(path[:1])
	rest := path[1:]
	if len(rest) > 0 {
		qual = rest[0]
		if !validQualifier(qual) {
			return name.Tree[name.Bound]{}, fmt.Errorf("lambdafn: %s%s: %q is not a qualifier (a version, an alias or $LATEST)", prefix, path, qual)
		}
		id = id.Concat(rest[:1])
		rest = rest[1:]
	}
	b := name.Bound{
		ID:       id,
		Residual: name.Path(nil).Concat(rest),
		Addr:     name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{Address(fn, qual, n.Stream)}}, nil),
	}
	return name.NewLeaf(b), nil
}

// Address returns the endpoint of function fn with qualifier qual ("" for
// none), streamed or not: host <fn>[.<qual>].lambda.invalid (or
// .lambda-stream.invalid), port 443, Meta["transport"] = [TransportKind].
func Address(fn, qual string, stream bool) name.Address {
	suffix := hostSuffix
	if stream {
		suffix = streamHostSuffix
	}
	host := fn
	if qual != "" {
		host += "." + qual
	}
	return name.Address{Host: host + suffix, Port: hostPort, Meta: map[string]string{"transport": TransportKind}}
}

// target is a function to invoke, as an endpoint's host names it.
type target struct {
	fn, qual string
	stream   bool
}

// parseHost reads back what [Address] wrote: host may carry the port.
func parseHost(host string) (target, error) {
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	var t target
	switch {
	case strings.HasSuffix(host, streamHostSuffix):
		t.stream = true
		host = strings.TrimSuffix(host, streamHostSuffix)
	case strings.HasSuffix(host, hostSuffix):
		host = strings.TrimSuffix(host, hostSuffix)
	default:
		return t, fmt.Errorf("lambdafn: endpoint %q is not a Lambda function (want <function>[.<qualifier>]%s)", host, hostSuffix)
	}
	t.fn, t.qual, _ = strings.Cut(host, ".")
	if !validFunction(t.fn) || (t.qual != "" && !validQualifier(t.qual)) {
		return t, fmt.Errorf("lambdafn: endpoint %q does not name a function and qualifier", host)
	}
	return t, nil
}

var _ name.Namer = Namer{}
