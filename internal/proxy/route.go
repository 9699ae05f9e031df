package proxy

import (
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// route is one request's routing state, carried in its context from
// ServeHTTP to the transport. What release clears is in routeState;
// the buffers a pooled route keeps are beside it, so that a request
// without a body never writes them.
type route struct {
	routeState

	// hdr is the outgoing header map of the direct path, kept across the
	// route's uses.
	hdr http.Header

	// replaySmall is room for a small request body in the replay buffer
	// (transport.send). It is written before it is read and never cleared.
	replaySmall [1024]byte
}

// routeState is a route's per-request state, cleared for each request.
type routeState struct {
	service  name.Path
	svcStr   string
	res      bind.Result
	policy   *Policy
	deadline time.Time // zero if none
	// totalDeadline: deadline is the service's total timeout's, not the
	// caller's (l5d-ctx-deadline, grpc-timeout).
	totalDeadline bool
	start         time.Time
	inProto       int  // caller's HTTP major version
	h1ok          bool // h1Eligible: the synchronous HTTP/1.1 client may send it
	fast          bool // !DisableFastPath: h2c endpoints get slinkerd's own HTTP/2 client
	grpc          bool
	body          *callerBody // nil when the request has no body
	// reqBody is the HTTP/2 server's own request body, unwrapped: closing
	// it ends a Read in flight at once. Nil on HTTP/1.
	reqBody io.Closer

	// out and outURL are the outgoing request on the direct path, and w
	// the caller's ResponseWriter there, for 1xx responses.
	out    http.Request
	outURL url.URL
	w      http.ResponseWriter

	// vals backs header values the proxy sets on attempt 0, so that
	// setting one does not allocate its []string (see setHeader).
	vals  [16]string
	nvals int

	// done wraps the final response's body (one a request).
	done doneBody

	// replay is the request body's replay buffer (transport.send).
	replay replayBody

	// auth is the caller's Authorization header, and hasAuth whether it
	// had one: each attempt starts from it (an ID token is per attempt).
	auth    []string
	hasAuth bool

	// lent: an attempt handed the request body to a transport that may
	// still read it, or the request, after its RoundTrip returned.
	lent bool

	// Filled in by the transport for the observer and error handler.
	client   string
	endpoint string
	retries  int
	requeues int
	failed   bool
}

type routeKey struct{}

// routes recycles the routes of the direct path (serveDirect), with the
// outgoing header map and the response body wrapper they carry. Routes
// of the ReverseProxy path are never put back: they live in a context
// that other goroutines may hold.
var routes = sync.Pool{New: func() any { return new(route) }}

func newRoute() *route { return routes.Get().(*route) }

// release clears rt and returns it to the pool, keeping its header map
// (emptied) and its body buffer.
func (rt *route) release() {
	clear(rt.hdr)
	rt.routeState = routeState{}
	routes.Put(rt)
}
