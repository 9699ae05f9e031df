package googleauth_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/discovery/idtoken/googleauth"
	"github.com/slinkerd/slinkerd/test/fakes/iamcredentials"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
	"github.com/slinkerd/slinkerd/test/fakes/oauth2"
)

const aud = "https://orders-xyz-ew.a.run.app"

// source returns an idtoken.Source over a googleauth.Fetcher with cfg.
func source(t *testing.T, cfg googleauth.Config) *idtoken.Source {
	t.Helper()
	f, err := googleauth.New(cfg)
	require.NoError(t, err)
	s, err := idtoken.New(idtoken.Config{Fetcher: f, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return s
}

// tokens asks s for aud from 50 goroutines and returns the claims of the
// (one) token they got.
func tokens(t *testing.T, s *idtoken.Source) metadata.Claims {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	toks := make([]string, 50)
	errs := make([]error, 50)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = s.Token(ctx, aud)
		}()
	}
	wg.Wait()
	for i := range toks {
		require.NoError(t, errs[i])
		require.Equal(t, toks[0], toks[i])
	}
	c, err := metadata.ParseToken(toks[0])
	require.NoError(t, err)
	assert.Equal(t, aud, c.Aud)
	return c
}

func startOAuth2(t *testing.T) (*oauth2.Server, string) {
	t.Helper()
	o, err := oauth2.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	key, err := o.WriteKeyFile(t.TempDir())
	require.NoError(t, err)
	return o, key
}

// On Google Cloud (here the fake metadata server), tokens come from the
// metadata server, one fetch for any number of concurrent callers.
func TestMetadataServer(t *testing.T) {
	md, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = md.Close() })
	md.Email = "runner@fake-project.iam.gserviceaccount.com"
	t.Setenv("GCE_METADATA_HOST", md.Addr())
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	c := tokens(t, source(t, googleauth.Config{}))
	assert.Equal(t, md.Email, c.Email, "format=full")
	assert.Equal(t, 1, md.Fetches(aud))
}

// Off Google Cloud, a service account key file
// (GOOGLE_APPLICATION_CREDENTIALS) signs a JWT that its token_uri
// exchanges for an ID token.
func TestServiceAccountKeyFile(t *testing.T) {
	o, key := startOAuth2(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", key)
	t.Setenv("GCE_METADATA_HOST", "")
	c := tokens(t, source(t, googleauth.Config{}))
	assert.Equal(t, o.Email, c.Email)
	assert.Equal(t, 1, o.Fetches(aud))
}

// With ImpersonateServiceAccount, the key file's account gets an access
// token and asks IAM Credentials' generateIdToken (a local fake, through
// IAMCredentialsEndpoint) for the impersonated account's ID token.
func TestImpersonation(t *testing.T) {
	o, key := startOAuth2(t)
	iam, err := iamcredentials.Start("127.0.0.1:0", o.ValidAccessToken)
	require.NoError(t, err)
	t.Cleanup(func() { _ = iam.Close() })
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", key)
	t.Setenv("GCE_METADATA_HOST", "")
	const target = "orders-caller@other-project.iam.gserviceaccount.com"
	c := tokens(t, source(t, googleauth.Config{ImpersonateServiceAccount: target, IAMCredentialsEndpoint: iam.URL()}))
	assert.Equal(t, target, c.Email)
	assert.Equal(t, []iamcredentials.Call{{Account: target, Audience: aud, IncludeEmail: true}}, iam.Calls())
	assert.Zero(t, o.Fetches(aud), "the base account's own ID token is not used")
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  googleauth.Config
	}{
		{"endpoint without scheme", googleauth.Config{IAMCredentialsEndpoint: "iam.example"}},
		{"endpoint with a path", googleauth.Config{IAMCredentialsEndpoint: "https://iam.example/v1"}},
		{"account not an email", googleauth.Config{ImpersonateServiceAccount: "orders"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := googleauth.New(tt.cfg)
			assert.Error(t, err)
		})
	}
}
