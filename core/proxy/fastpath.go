package proxy

import (
	"net/http"
	"time"

	"github.com/slinkerd/slinkerd/core/h1client"
)

// The fast path's HTTP/1.1 client lives in core/h1client; these are the
// names of it that the proxy uses.

// maxInformational bounds the interim (1xx) responses read before the
// final one, on every path.
const maxInformational = h1client.MaxInformational

// errTooManyInformational is an endpoint's answer of more than
// maxInformational interim responses.
var errTooManyInformational = h1client.ErrTooManyInformational

// informer receives the interim responses the fast path's client reads.
type informer = h1client.Informer

func checkStatus(code int) error      { return h1client.CheckStatus(code) }
func hasBody(r *http.Request) bool    { return h1client.HasBody(r) }
func h1Eligible(r *http.Request) bool { return h1client.Eligible(r) }

// aLongTimeAgo is a deadline that has passed: setting it makes blocked
// reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)
