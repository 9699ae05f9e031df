package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrors checks the errors slinkerd itself makes: the documented
// status, an l5d-err header saying why, and l5d-retryable: true exactly
// when the request never reached a server.
func TestErrors(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		_, _ = io.WriteString(w, "late")
	}))
	t.Cleanup(func() { close(release) }) // before the backend stops
	dead := closedPort(t)
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": strings.Join([]string{
		inetDtab("dead", dead),
		inetDtab("slow", slow.Port),
		"/svc/failing=>!",
		"/svc/empty=>$",
	}, ";")})
	h1, h2 := newH1Client(t), newH2CClient(t)

	deadline := func(d time.Duration) string {
		now := time.Now()
		return strconv.FormatInt(now.UnixNano(), 10) + " " + strconv.FormatInt(now.Add(d).UnixNano(), 10)
	}
	tests := []struct {
		name          string
		client        *http.Client
		method, host  string
		body          string
		header        map[string]string
		wantStatus    int
		wantErr       []string // substrings of l5d-err
		wantRetryable bool
	}{
		{name: "unknown service", client: h1, method: "GET", host: "nosuch", wantStatus: 502, wantErr: []string{"/svc/nosuch"}, wantRetryable: true},
		{name: "unknown service over h2c", client: h2, method: "GET", host: "nosuch", wantStatus: 502, wantErr: []string{"/svc/nosuch"}, wantRetryable: true},
		{name: "failing name (!)", client: h1, method: "GET", host: "failing", wantStatus: 502, wantErr: []string{"/svc/failing"}, wantRetryable: true},
		{name: "empty name ($)", client: h1, method: "GET", host: "empty", wantStatus: 502, wantErr: []string{"/svc/empty"}, wantRetryable: true},
		{name: "dead endpoint", client: h1, method: "GET", host: "dead", wantStatus: 502,
			wantErr: []string{fmt.Sprintf("127.0.0.1:%d", dead)}, wantRetryable: true},
		{name: "dead endpoint, POST with a body", client: h1, method: "POST", host: "dead", body: "payload", wantStatus: 502,
			wantErr: []string{fmt.Sprintf("127.0.0.1:%d", dead)}, wantRetryable: true},
		{name: "dead endpoint over h2c", client: h2, method: "GET", host: "dead", wantStatus: 502,
			wantErr: []string{fmt.Sprintf("127.0.0.1:%d", dead)}, wantRetryable: true},
		{name: "caller's l5d-ctx-deadline passes", client: h1, method: "GET", host: "slow",
			header: map[string]string{"l5d-ctx-deadline": deadline(300 * time.Millisecond)}, wantStatus: 504, wantErr: []string{"timed out"}},
		{name: "malformed l5d-ctx-deadline", client: h1, method: "GET", host: "slow",
			header: map[string]string{"l5d-ctx-deadline": "soon"}, wantStatus: 400, wantErr: []string{"l5d-ctx-deadline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := newRequest(t, tc.method, p.URL()+"/x", tc.host, body)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := tc.client.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.wantStatus, resp.StatusCode, "body %q", b)
			l5dErr := resp.Header.Get("l5d-err")
			require.NotEmpty(t, l5dErr, "an error the proxy makes carries l5d-err")
			for _, s := range tc.wantErr {
				assert.Contains(t, l5dErr, s)
			}
			if tc.wantRetryable {
				assert.Equal(t, "true", resp.Header.Get("l5d-retryable"))
			} else {
				assert.Empty(t, resp.Header.Get("l5d-retryable"))
			}
		})
	}

	raw := []struct {
		name       string
		request    string
		wantStatus int
		wantErr    string
	}{
		{name: "HTTP/1.0 without Host", request: rawRequest("GET / HTTP/1.0"), wantStatus: 400, wantErr: "identify"},
		{name: "absolute-form target", request: rawRequest("GET http://dead/ HTTP/1.1", "Host: dead"), wantStatus: 400, wantErr: "absolute-form"},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRoundTrip(t, p.ProxyAddr, tc.request)
			assert.Equal(t, tc.wantStatus, resp.StatusCode, "body %q", body)
			assert.Contains(t, resp.Header.Get("l5d-err"), tc.wantErr)
		})
	}
}
