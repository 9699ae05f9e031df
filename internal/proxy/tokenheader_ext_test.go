package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/balance"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// serverlessTokens mints "tok-<audience>" for X-Serverless-Authorization.
type serverlessTokens struct{}

func (serverlessTokens) Token(_ context.Context, aud string) (string, error) {
	return "tok-" + aud, nil
}
func (serverlessTokens) TokenHeader() string { return "X-Serverless-Authorization" }

// With the token in X-Serverless-Authorization, the caller's own
// Authorization reaches every endpoint untouched; an endpoint with an
// audience gets its own token in X-Serverless-Authorization, and no other
// endpoint gets one: not the token of an endpoint tried before (retries
// and requeues), nor a caller-supplied X-Serverless-Authorization.
func TestServerlessAuthorizationHeader(t *testing.T) {
	type seen struct{ endpoint, auth, xsa string }
	var mu sync.Mutex
	var got []seen
	origin := func(label string, status int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			got = append(got, seen{label, r.Header.Get("Authorization"), r.Header.Get("X-Serverless-Authorization")})
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(s.Close)
		return s
	}
	failing := origin("failing", http.StatusServiceUnavailable) // audience a: retried away from
	plain := origin("plain", http.StatusOK)                     // no audience
	other := origin("other", http.StatusOK)                     // audience c
	names := metaNamer{"x": {
		addrOf(t, hostport(failing.URL), map[string]string{"audience": "a"}),
		addrOf(t, hostport(plain.URL), nil),
		addrOf(t, hostport(other.URL), map[string]string{"audience": "c"}),
	}}
	addr, _ := startMetaProxy(t, names, func(c *proxy.Config) {
		c.Tokens = serverlessTokens{}
		c.Balancer = balance.Config{Kind: "roundrobin"}
		c.Policy = func(name.Path) (*proxy.Policy, error) {
			return &proxy.Policy{Classifier: retry.RetryableAll5XX}, nil
		}
	})

	for i := range 48 {
		method := []string{"GET", "POST"}[i%2] // the direct path and the ReverseProxy's
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		req, err := http.NewRequest(method, "http://"+addr+"/", body)
		require.NoError(t, err)
		req.Host = "x"
		req.Header.Set("Authorization", "Bearer app-token")
		if i%4 >= 2 {
			req.Header.Set("X-Serverless-Authorization", "Bearer forged")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	mu.Lock()
	defer mu.Unlock()
	counts := map[string]int{}
	for _, s := range got {
		counts[s.endpoint]++
		assert.Equal(t, "Bearer app-token", s.auth, "the caller's Authorization passes through untouched")
		switch s.endpoint {
		case "failing":
			assert.Equal(t, "Bearer tok-a", s.xsa)
		case "other":
			assert.Equal(t, "Bearer tok-c", s.xsa)
		case "plain":
			assert.Empty(t, s.xsa, "an endpoint with no audience got a token")
		}
	}
	assert.NotZero(t, counts["plain"])
	assert.NotZero(t, counts["other"])
	assert.NotZero(t, counts["failing"])
}
