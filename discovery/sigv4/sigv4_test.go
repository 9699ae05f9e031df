package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery/sigv4"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/test/fakes/sigv4origin"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session-token"}

// tickClock advances a second every time it is read, so every signature
// has its own X-Amz-Date.
type tickClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// namer binds every name to one endpoint.
type namer struct{ hostport string }

func (n namer) Lookup(_ context.Context, p name.Path) (name.Tree[name.Bound], error) {
	h, port, _ := net.SplitHostPort(n.hostport)
	pn, _ := strconv.Atoi(port)
	v := name.NewVar(name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: h, Port: pn}}}, nil)
	return name.NewLeaf(name.Bound{ID: name.Path{"#", "one"}, Residual: p, Addr: v}), nil
}

// startProxy serves /svc/* through one proxy to origin, with the policy
// entries of SLINKERD_SVC_POLICY syntax in policies; it returns the
// proxy's address.
func startProxy(t *testing.T, origin, policies string, fast bool) string {
	t.Helper()
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/one", namer{origin}))
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/#/one"), Namers: ns})
	require.NoError(t, err)
	entries, err := retry.ParsePolicies(policies)
	require.NoError(t, err)
	signers := sigv4.New(sigv4.Config{Credentials: credentials.StaticCredentialsProvider{Value: testCreds}, Region: "us-east-1",
		Clock: &tickClock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}})
	global := retry.DefaultPolicy()
	global.BackoffMin, global.BackoffMax = 0, 0
	p, err := proxy.New(proxy.Config{Interpreter: in, DisableFastPath: !fast, Policy: func(svc name.Path) (*proxy.Policy, error) {
		rp := retry.Resolve(global, entries, svc.String())
		pol, err := proxy.NewPolicy(rp, nil)
		if err != nil {
			return nil, err
		}
		pol.Signer = signers.Signer(rp.Sign)
		return pol, nil
	}})
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	srv, err := proxy.Listen(proxy.ServerConfig{Addr: "127.0.0.1:0"}, p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return srv.Addr().String()
}

func startOrigin(t *testing.T, service string, allowUnsigned bool, status func(int) int) (*sigv4origin.Origin, string) {
	t.Helper()
	o := &sigv4origin.Origin{Creds: testCreds, Service: service, Region: "us-east-1", AllowUnsigned: allowUnsigned, Status: status}
	addr, err := o.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	return o, addr
}

// send sends method host/path with body and header through the proxy.
func send(t *testing.T, proxyAddr, method, host, body string, hdr http.Header) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+proxyAddr+"/orders/42?x=a%20b&y=1", rd)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b) + resp.Header.Get("l5d-err")
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestSignedThroughProxy: for each service, requests through the proxy
// arrive with a signature the origin recomputes from what it received;
// the caller's own Authorization and X-Amz-* security headers are
// replaced; the payload is hashed, or UNSIGNED-PAYLOAD for VPC Lattice.
func TestSignedThroughProxy(t *testing.T) {
	big := strings.Repeat("b", 5000) // past the 1 KiB of the route's small buffer
	tests := []struct {
		name     string
		service  string
		unsigned bool
		method   string
		body     string
		fast     bool
	}{
		{"lambda GET, fast path", "lambda", false, "GET", "", true},
		{"lambda POST, fast path", "lambda", false, "POST", `{"id":42}`, true},
		{"lambda POST 5000 bytes, net/http path", "lambda", false, "POST", big, false},
		{"execute-api PUT", "execute-api", false, "PUT", "hello", true},
		{"execute-api GET, net/http path", "execute-api", false, "GET", "", false},
		{"vpc-lattice-svcs POST streams unsigned", "vpc-lattice-svcs", true, "POST", big, true},
		{"vpc-lattice-svcs GET, net/http path", "vpc-lattice-svcs", true, "GET", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, addr := startOrigin(t, tt.service, tt.unsigned, nil)
			px := startProxy(t, addr, "/svc/orders=sign:"+tt.service, tt.fast)
			hdr := http.Header{
				"Authorization":        {"Bearer callers-own"},
				"X-Amz-Security-Token": {"callers-token"},
				"X-Amz-Date":           {"20000101T000000Z"},
				"X-Custom":             {"v"},
			}
			code, msg := send(t, px, tt.method, "orders", tt.body, hdr)
			require.Equal(t, http.StatusOK, code, msg)
			reqs := o.Requests()
			require.Len(t, reqs, 1)
			require.NoError(t, reqs[0].Err)
			assert.Equal(t, tt.body, string(reqs[0].Body))
			h := reqs[0].Header
			assert.Equal(t, testCreds.SessionToken, h.Get("X-Amz-Security-Token"))
			assert.Contains(t, h.Get("Authorization"), "/us-east-1/"+tt.service+"/aws4_request")
			if tt.unsigned {
				assert.Equal(t, sigv4.UnsignedPayload, h.Get("X-Amz-Content-Sha256"))
			} else {
				assert.Equal(t, sha(tt.body), h.Get("X-Amz-Content-Sha256"))
			}
		})
	}
}

// TestVerifierRejectsTamperedBody: the origin is not a rubber stamp.
func TestVerifierRejectsTamperedBody(t *testing.T) {
	req, err := http.NewRequest("POST", "http://orders/x", strings.NewReader("abc"))
	require.NoError(t, err)
	g := sigv4.New(sigv4.Config{Credentials: credentials.StaticCredentialsProvider{Value: testCreds}, Region: "us-east-1"}).
		Signer(retry.SignSpec{Service: "lambda"})
	require.NoError(t, g.Sign(context.Background(), req, []byte("abc"), true))
	req.Host = "orders"
	assert.ErrorContains(t, sigv4origin.Verify(req, []byte("abd"), testCreds, "lambda", "us-east-1", false), "body hash")
	assert.ErrorContains(t, sigv4origin.Verify(req, []byte("abc"), testCreds, "execute-api", "us-east-1", false), "scope")
	req.Header.Set("X-Custom", "added after signing")
	req.Header.Set("X-Amz-Content-Sha256", sha("abc"))
	assert.NoError(t, sigv4origin.Verify(req, []byte("abc"), testCreds, "lambda", "us-east-1", false), "an unsigned header does not matter")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	assert.Error(t, sigv4origin.Verify(req, []byte("abc"), testCreds, "lambda", "us-east-1", false))
}

// TestUnsignedServiceGetsNoCredentials: a service without sign in its
// policy is called with the caller's headers only: no signature, no
// X-Amz-Date, no session token, even next to a signed service.
func TestUnsignedServiceGetsNoCredentials(t *testing.T) {
	var got http.Header
	seen := make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		seen <- struct{}{}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, fast := range []bool{true, false} {
		px := startProxy(t, ln.Addr().String(), "/svc/orders=sign:lambda; /svc/orders/public=sign:none", fast)
		code, msg := send(t, px, "POST", "users", "x", nil)
		require.Equal(t, http.StatusOK, code, msg)
		<-seen
		assert.Empty(t, got.Get("Authorization"))
		assert.Empty(t, got.Get("X-Amz-Date"))
		assert.Empty(t, got.Get("X-Amz-Security-Token"))
		assert.Empty(t, got.Get("X-Amz-Content-Sha256"))
	}
}

// TestRetriesResign: a retried request is signed again, with its own
// X-Amz-Date, and each attempt verifies.
func TestRetriesResign(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run("fast="+strconv.FormatBool(fast), func(t *testing.T) {
			o, addr := startOrigin(t, "lambda", false, func(n int) int {
				if n == 1 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			px := startProxy(t, addr, "/svc/orders=sign:lambda,classifier:retryableAll5XX", fast)
			code, msg := send(t, px, "POST", "orders", "pay", nil)
			require.Equal(t, http.StatusOK, code, msg)
			reqs := o.Requests()
			require.Len(t, reqs, 2)
			for _, r := range reqs {
				require.NoError(t, r.Err)
				assert.Equal(t, "pay", string(r.Body))
			}
			assert.NotEqual(t, reqs[0].Header.Get("X-Amz-Date"), reqs[1].Header.Get("X-Amz-Date"))
			assert.NotEqual(t, reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization"))
		})
	}
}

// TestBodyPastReplayBuffer: lambda needs the body's hash, so a body
// longer than the replay buffer is refused with 413 before anything is
// sent; another service gets it as UNSIGNED-PAYLOAD, streamed.
func TestBodyPastReplayBuffer(t *testing.T) {
	body := strings.Repeat("z", 3000)
	t.Run("lambda", func(t *testing.T) {
		o, addr := startOrigin(t, "lambda", false, nil)
		px := startProxy(t, addr, "/svc/orders=sign:lambda,replay-buffer:2KiB", false)
		code, msg := send(t, px, "POST", "orders", body, nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code, msg)
		assert.Contains(t, msg, "replay-buffer")
		assert.Empty(t, o.Requests())
	})
	t.Run("other service", func(t *testing.T) {
		o, addr := startOrigin(t, "s3", true, nil)
		px := startProxy(t, addr, "/svc/orders=sign:s3,replay-buffer:2KiB", false)
		code, msg := send(t, px, "POST", "orders", body, nil)
		require.Equal(t, http.StatusOK, code, msg)
		reqs := o.Requests()
		require.Len(t, reqs, 1)
		require.NoError(t, reqs[0].Err)
		assert.Equal(t, sigv4.UnsignedPayload, reqs[0].Header.Get("X-Amz-Content-Sha256"))
		assert.Equal(t, body, string(reqs[0].Body))
	})
}
