// Package awsfake holds what the local fakes of AWS services share: a
// loopback HTTP listener and the environment that points the AWS SDK at
// one, with static credentials and nothing read from the machine.
package awsfake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Listener serves a fake's handler on a TCP address.
type Listener struct {
	ln  net.Listener
	srv *http.Server
}

// Listen serves h on addr (e.g. "127.0.0.1:0"); what names the fake in
// errors.
func Listen(what, addr string, h http.Handler) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake %s: listen on %s: %w", what, addr, err)
	}
	l := &Listener{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// URL returns the endpoint URL, e.g. http://127.0.0.1:41234.
func (l *Listener) URL() string { return "http://" + l.ln.Addr().String() }

// Close stops the server. A nil Listener (a fake used as a handler only)
// has nothing to close.
func (l *Listener) Close() error {
	if l == nil {
		return nil
	}
	return l.srv.Close()
}

// SDKEnv is the environment that points the AWS SDK at a fake at
// endpoint through endpointVar (e.g. AWS_ENDPOINT_URL_SSM), in us-east-1,
// with static credentials and no shared config files or instance
// metadata.
func SDKEnv(endpointVar, endpoint string) map[string]string {
	return map[string]string{
		endpointVar:                   endpoint,
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// JSON11 is the Content-Type of the awsJson1_1 protocol.
const JSON11 = "application/x-amz-json-1.1"

// Drop ends the request by closing its connection without an answer, as
// a service that is down (or a network that drops it) would.
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// WriteJSON11Error answers with an awsJson1_1 error: its code in __type
// and X-Amzn-ErrorType, and its message.
func WriteJSON11Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", JSON11)
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	_, _ = w.Write(b)
}

// CheckJSON11 checks what every awsJson1_1 request is: POST / with the
// protocol's Content-Type and a SigV4 Authorization. It answers a request
// that is not with the error the service would send (authStatus for a
// missing signature) and reports false.
func CheckJSON11(w http.ResponseWriter, r *http.Request, authStatus int) bool {
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		WriteJSON11Error(w, http.StatusNotFound, "UnknownOperationException", "expected POST /")
	case r.Header.Get("Content-Type") != JSON11:
		WriteJSON11Error(w, http.StatusBadRequest, "SerializationException", "expected Content-Type "+JSON11+", got "+r.Header.Get("Content-Type"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		WriteJSON11Error(w, authStatus, "MissingAuthenticationTokenException", "Missing Authentication Token")
	default:
		return true
	}
	return false
}
