package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/iamcredentials"
	fakemetadata "github.com/slinkerd/slinkerd/test/fakes/metadata"
	"github.com/slinkerd/slinkerd/test/fakes/oauth2"
)

// TestCloudRunTokensOffGoogle: off Google Cloud, the built binary gets
// Cloud Run ID tokens through cloud.google.com/go/auth from a service
// account key file (GOOGLE_APPLICATION_CREDENTIALS, its token_uri a local
// fake), impersonating another account through IAM Credentials'
// generateIdToken (a local fake), and sends them as
// X-Serverless-Authorization, so the app's own Authorization reaches the
// service untouched.
func TestCloudRunTokensOffGoogle(t *testing.T) {
	o, err := oauth2.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	key, err := o.WriteKeyFile(t.TempDir())
	require.NoError(t, err)
	iam, err := iamcredentials.Start("127.0.0.1:0", o.ValidAccessToken)
	require.NoError(t, err)
	t.Cleanup(func() { _ = iam.Close() })

	// A Cloud Run service that echoes what it got.
	users := &runService{started: make(chan string, 16), release: make(chan struct{})}
	users.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]string{"authorization": r.Header.Get("Authorization")}
		if tok, ok := strings.CutPrefix(r.Header.Get("X-Serverless-Authorization"), "Bearer "); ok {
			if c, err := fakemetadata.ParseToken(tok); err == nil {
				seen["audience"], seen["email"] = c.Aud, c.Email
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
	}))
	users.srv.StartTLS()
	t.Cleanup(users.srv.Close)
	users.url = users.srv.URL

	const target = "frontend-caller@proj.iam.gserviceaccount.com"
	p, md := startSidecar(t, users, map[string]string{
		"GOOGLE_APPLICATION_CREDENTIALS": key,
		"SLINKERD_ID_TOKEN_HEADER":       "x-serverless-authorization",
		"SLINKERD_ID_TOKEN_IMPERSONATE":  target,
		"SLINKERD_ID_TOKEN_IAM_ENDPOINT": iam.URL(),
	})

	req, err := http.NewRequest(http.MethodGet, p.URL()+"/profile", nil)
	require.NoError(t, err)
	req.Host = "users"
	req.Header.Set("Authorization", "Bearer the-apps-own")
	resp, err := newH1Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Header.Get("l5d-err"))
	var seen map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
	assert.Equal(t, "Bearer the-apps-own", seen["authorization"], "the app's Authorization passes through")
	assert.Equal(t, users.url, seen["audience"])
	assert.Equal(t, target, seen["email"], "the impersonated account's token")
	assert.Equal(t, []iamcredentials.Call{{Account: target, Audience: users.url, IncludeEmail: true}}, iam.Calls())
	assert.Zero(t, md.Fetches(users.url), "the key file comes before the metadata server")
}
