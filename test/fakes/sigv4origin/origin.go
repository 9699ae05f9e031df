// Package sigv4origin is an HTTP origin that verifies AWS SigV4 request
// signatures the way an IAM-authenticated AWS front end does, for tests:
// it recomputes the signature of each request it receives with the AWS
// SDK's signer and the same static credentials, checks the credential
// scope's service and region, and checks the body against
// X-Amz-Content-Sha256. A request that fails answers 403 with the reason.
package sigv4origin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Request is what the origin saw of one request.
type Request struct {
	// Header is the request's header.
	Header http.Header
	// Body is the request's body.
	Body []byte
	// Err is why verification failed; nil if it passed.
	Err error
}

// Origin is a verifying origin listening on 127.0.0.1.
type Origin struct {
	// Creds are the credentials signatures are checked with.
	Creds aws.Credentials
	// Service and Region are the credential scope a request must carry.
	Service, Region string
	// AllowUnsigned accepts X-Amz-Content-Sha256: UNSIGNED-PAYLOAD.
	AllowUnsigned bool
	// Status, if set, answers verified requests with it (e.g. 503 to
	// make the proxy retry). Defaults to 200.
	Status func(n int) int

	srv *http.Server
	ln  net.Listener

	mu   sync.Mutex
	reqs []Request
}

// Start starts o on 127.0.0.1 and returns its host:port.
func (o *Origin) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sigv4origin: listen: %w", err)
	}
	o.ln = ln
	o.srv = &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Close stops the origin.
func (o *Origin) Close() error { return o.srv.Close() }

// Requests returns the requests seen so far.
func (o *Origin) Requests() []Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Request(nil), o.reqs...)
}

// ServeHTTP verifies r and answers 200 (or Status), or 403 with the
// reason.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = Verify(r, body, o.Creds, o.Service, o.Region, o.AllowUnsigned)
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, Request{Header: r.Header.Clone(), Body: body, Err: err})
	n := len(o.reqs)
	o.mu.Unlock()
	if err != nil {
		http.Error(w, "signature: "+err.Error(), http.StatusForbidden)
		return
	}
	status := http.StatusOK
	if o.Status != nil {
		status = o.Status(n)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "verified "+r.Method+" "+r.URL.Path)
}

// Verify checks r's SigV4 signature: the Authorization header's access
// key, service and region, the body against X-Amz-Content-Sha256 (or
// UNSIGNED-PAYLOAD when allowUnsigned), and the signature itself,
// recomputed with the SDK's signer from the signed headers as received.
func Verify(r *http.Request, body []byte, creds aws.Credentials, service, region string, allowUnsigned bool) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("Authorization %q is not AWS4-HMAC-SHA256", auth)
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return fmt.Errorf("credential %q is not key/date/region/service/aws4_request", fields["Credential"])
	}
	if scope[0] != creds.AccessKeyID {
		return fmt.Errorf("access key %q, want %q", scope[0], creds.AccessKeyID)
	}
	if scope[2] != region || scope[3] != service {
		return fmt.Errorf("scope region %q service %q, want %q %q", scope[2], scope[3], region, service)
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	sum := sha256.Sum256(body)
	switch {
	case hash == "UNSIGNED-PAYLOAD" && !allowUnsigned:
		return errors.New("UNSIGNED-PAYLOAD not accepted")
	case hash == "UNSIGNED-PAYLOAD":
	case hash != hex.EncodeToString(sum[:]):
		return fmt.Errorf("body hash %s does not match X-Amz-Content-Sha256 %q", hex.EncodeToString(sum[:]), hash)
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if at.Format("20060102") != scope[1] {
		return fmt.Errorf("scope date %s is not X-Amz-Date's", scope[1])
	}

	// Rebuild the request from what was signed, as received.
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return fmt.Errorf("rebuild the request: %w", err)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, k := range signed {
		switch k {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			vs, ok := r.Header[http.CanonicalHeaderKey(k)]
			if !ok {
				return fmt.Errorf("signed header %q missing", k)
			}
			again.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != creds.SessionToken {
		return fmt.Errorf("X-Amz-Security-Token %q, want the session token %q", tok, creds.SessionToken)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hash, service, region, at); err != nil {
		return fmt.Errorf("recompute the signature: %w", err)
	}
	if got, want := auth, again.Header.Get("Authorization"); got != want {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", got, want)
	}
	return nil
}

var _ http.Handler = (*Origin)(nil)
