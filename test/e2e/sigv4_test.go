package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/sigv4origin"
)

// TestSigV4FromEnvironment: the built binary signs requests to the
// services whose SLINKERD_SVC_POLICY entry has sign:<service>, with the
// credentials of the default chain (here AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) and AWS_REGION; an origin
// recomputes each signature with the same credentials. A retried request
// verifies on each attempt (that it is signed afresh, with its own
// X-Amz-Date, is discovery/sigv4's TestRetriesResign), and a service without sign gets no credentials.
func TestSigV4FromEnvironment(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIAE2ETEST", SecretAccessKey: "e2e-secret-key", SessionToken: "e2e-session-token"}
	var lambdaCalls atomic.Int64
	lambda := &sigv4origin.Origin{Creds: creds, Service: "lambda", Region: "eu-west-1", Status: func(n int) int {
		if lambdaCalls.Add(1) == 1 {
			return http.StatusServiceUnavailable // the first attempt is retried
		}
		return http.StatusOK
	}}
	api := &sigv4origin.Origin{Creds: creds, Service: "execute-api", Region: "eu-west-1"}
	lattice := &sigv4origin.Origin{Creds: creds, Service: "vpc-lattice-svcs", Region: "us-east-2", AllowUnsigned: true}
	addrs := map[string]string{}
	for svc, o := range map[string]*sigv4origin.Origin{"orders": lambda, "api": api, "lattice": lattice} {
		addr, err := o.Start()
		require.NoError(t, err)
		t.Cleanup(func() { _ = o.Close() })
		addrs[svc] = addr
	}
	var plainHdr atomic.Pointer[http.Header]
	plain := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		plainHdr.Store(&h)
		_, _ = io.Copy(io.Discard, r.Body)
	}))

	var dtab []string
	for svc, addr := range addrs {
		port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
		dtab = append(dtab, inetDtab(svc, port))
	}
	dtab = append(dtab, inetDtab("plain", plain.Port))
	home := t.TempDir()
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB": strings.Join(dtab, ";"),
		"SLINKERD_SVC_POLICY": "/svc/orders=sign:lambda,classifier:retryableAll5XX,retry-min-backoff:0,retry-max-backoff:0;" +
			"/svc/api=sign:execute-api; /svc/lattice=sign:vpc-lattice-svcs:us-east-2",
		"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey, "AWS_SESSION_TOKEN": creds.SessionToken,
		"AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
	})
	client := newH1Client(t)
	send := func(host, method, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.URL()+"/v1/items?q=1", strings.NewReader(body))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Authorization", "Bearer callers-own")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b) + " " + resp.Header.Get("l5d-err")
	}

	for _, tt := range []struct {
		name, host, method, body string
		o                        *sigv4origin.Origin
		attempts                 int
	}{
		{"lambda POST, retried once", "orders", "POST", `{"order":42}`, lambda, 2},
		{"execute-api GET", "api", "GET", "", api, 1},
		{"vpc-lattice-svcs POST, own region", "lattice", "POST", strings.Repeat("x", 100<<10), lattice, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := send(tt.host, tt.method, tt.body)
			require.Equal(t, http.StatusOK, code, msg)
			reqs := tt.o.Requests()
			require.Len(t, reqs, tt.attempts)
			for _, r := range reqs {
				require.NoError(t, r.Err)
				assert.Equal(t, tt.body, string(r.Body))
				assert.Equal(t, creds.SessionToken, r.Header.Get("X-Amz-Security-Token"))
			}
		})
	}

	code, msg := send("plain", "POST", "hello")
	require.Equal(t, http.StatusOK, code, msg)
	h := *plainHdr.Load()
	assert.Equal(t, "Bearer callers-own", h.Get("Authorization"), "an unsigned service gets the caller's own Authorization")
	for _, k := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		assert.Empty(t, h.Get(k), k)
	}
}
