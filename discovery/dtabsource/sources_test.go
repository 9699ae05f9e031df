package dtabsource_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/slinkerd/slinkerd/discovery/dtabsource/awsstore"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/test/fakes/appconfig"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
	"github.com/slinkerd/slinkerd/test/fakes/ssm"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// awsOptions point the real SDK at a fake, with static credentials.
func awsOptions(endpoint string) dtabsource.Options {
	return dtabsource.Options{AWSConfig: func(ctx context.Context) (aws.Config, error) {
		return awsconfig.LoadDefaultConfig(ctx,
			awsconfig.WithRegion("us-east-1"),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
			awsconfig.WithSharedConfigFiles([]string{}),
			awsconfig.WithSharedCredentialsFiles([]string{}),
			awsconfig.WithBaseEndpoint(endpoint))
	}}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, spec, auth, err string
	}{
		{name: "ssm", spec: "ssm:/slinkerd/dtab"},
		{name: "appconfig", spec: "appconfig:app/prod/dtab"},
		{name: "https", spec: "https://storage.googleapis.com/b/dtab", auth: "gcp"},
		{name: "file", spec: "file:/etc/dtab"},
		{name: "appconfig needs three parts", spec: "appconfig:app/prod", err: "application/environment/profile"},
		{name: "plain http to a remote host", spec: "http://example.com/dtab", err: "loopback"},
		{name: "unknown scheme", spec: "s3:bucket/key", err: "unknown scheme"},
		{name: "no scheme", spec: "/etc/dtab", err: "want ssm:"},
		{name: "gcp auth on ssm", spec: "ssm:/x", auth: "gcp", err: "auth gcp applies to https"},
		{name: "unknown auth", spec: "https://x/y", auth: "aws", err: "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dtabsource.Parse(tt.spec, dtabsource.Options{Auth: tt.auth})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.spec, s.String())
		})
	}
}

func TestFileSource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dtab")
	require.NoError(t, os.WriteFile(p, []byte("/svc=>/#/t/a"), 0o600))
	s, err := dtabsource.Parse("file:"+p, dtabsource.Options{})
	require.NoError(t, err)
	f, err := s.Fetch(ctx(t), "")
	require.NoError(t, err)
	require.True(t, f.Changed)
	require.Equal(t, "/svc=>/#/t/a", f.Dtab)
	g, err := s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.False(t, g.Changed)
	require.NoError(t, os.WriteFile(p, []byte("/svc=>/#/t/b"), 0o600))
	h, err := s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.True(t, h.Changed, "new content, new version (even within the same mtime second)")
	require.Equal(t, "/svc=>/#/t/b", h.Dtab)
	require.NoError(t, os.Remove(p))
	_, err = s.Fetch(ctx(t), h.Version)
	require.ErrorContains(t, err, "read "+p)
}

func TestHTTPSSource(t *testing.T) {
	md, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer md.Close()
	var mu sync.Mutex
	body, etag, status := "/svc=>/#/t/a", `"v1"`, 0
	var auth, inm string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth, inm = r.Header.Get("Authorization"), r.Header.Get("If-None-Match")
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	s, err := dtabsource.Parse(srv.URL+"/dtab", dtabsource.Options{Auth: "gcp", MetadataHost: md.Addr()})
	require.NoError(t, err)

	f, err := s.Fetch(ctx(t), "")
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Dtab: "/svc=>/#/t/a", Version: `"v1"`, Changed: true}, f)
	require.Equal(t, "Bearer fake-access-token", auth)
	require.Empty(t, inm)

	f, err = s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.False(t, f.Changed)
	require.Equal(t, `"v1"`, inm)

	mu.Lock()
	body, etag = "/svc=>/#/t/b", `"v2"`
	mu.Unlock()
	f, err = s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Dtab: "/svc=>/#/t/b", Version: `"v2"`, Changed: true}, f)

	mu.Lock()
	status = http.StatusTooManyRequests
	mu.Unlock()
	_, err = s.Fetch(ctx(t), f.Version)
	require.ErrorIs(t, err, dtabsource.ErrThrottled)
	mu.Lock()
	status = http.StatusForbidden
	mu.Unlock()
	_, err = s.Fetch(ctx(t), f.Version)
	require.ErrorContains(t, err, "403")
	require.NotErrorIs(t, err, dtabsource.ErrThrottled)
}

func TestSSMSource(t *testing.T) {
	fake, err := ssm.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer fake.Close()
	fake.Put("/slinkerd/dtab", "/svc=>/#/t/a")
	s, err := dtabsource.Parse("ssm:/slinkerd/dtab", awsOptions(fake.URL()))
	require.NoError(t, err)

	f, err := s.Fetch(ctx(t), "")
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Dtab: "/svc=>/#/t/a", Version: "1", Changed: true}, f)
	f, err = s.Fetch(ctx(t), "1")
	require.NoError(t, err)
	require.False(t, f.Changed)
	require.Equal(t, int64(2), fake.Put("/slinkerd/dtab", "/svc=>/#/t/b"))
	f, err = s.Fetch(ctx(t), "1")
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Dtab: "/svc=>/#/t/b", Version: "2", Changed: true}, f)

	fake.SetMode(ssm.Throttle)
	_, err = s.Fetch(ctx(t), "2")
	require.ErrorIs(t, err, dtabsource.ErrThrottled)
	require.ErrorContains(t, err, "ThrottlingException")
	fake.SetMode(ssm.Down)
	_, err = s.Fetch(ctx(t), "2")
	require.Error(t, err)
	require.NotErrorIs(t, err, dtabsource.ErrThrottled)
	fake.SetMode(ssm.Normal)

	missing, err := dtabsource.Parse("ssm:/nosuch", awsOptions(fake.URL()))
	require.NoError(t, err)
	_, err = missing.Fetch(ctx(t), "")
	require.ErrorContains(t, err, "ParameterNotFound")
	require.Equal(t, 6, fake.Calls(), "one call per Fetch: the SDK's retries are off")
}

func TestAppConfigSource(t *testing.T) {
	fake, err := appconfig.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer fake.Close()
	fake.SetPollInterval(45)
	fake.Deploy("app", "prod", "dtab", "text/plain", "v1", []byte("/svc=>/#/t/a"))
	s, err := dtabsource.Parse("appconfig:app/prod/dtab", awsOptions(fake.URL()))
	require.NoError(t, err)

	f, err := s.Fetch(ctx(t), "")
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Dtab: "/svc=>/#/t/a", Version: "v1", Changed: true, NextPoll: 45 * time.Second}, f)
	f, err = s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.Equal(t, dtabsource.Fetched{Version: "v1", NextPoll: 45 * time.Second}, f, "an empty answer: unchanged")

	fake.Deploy("app", "prod", "dtab", "application/json", "", []byte(`{"dtab": "/svc=>/#/t/b"}`))
	f, err = s.Fetch(ctx(t), f.Version)
	require.NoError(t, err)
	require.True(t, f.Changed)
	require.Equal(t, "/svc=>/#/t/b", f.Dtab)
	require.Contains(t, f.Version, "sha256:", "no Version-Label: a hash of the content")
	require.Equal(t, 1, fake.Calls("StartConfigurationSession"), "one session, then its tokens")
	require.Equal(t, 3, fake.Calls("GetLatestConfiguration"))

	fake.SetMode(appconfig.Throttle)
	_, err = s.Fetch(ctx(t), f.Version)
	require.ErrorIs(t, err, dtabsource.ErrThrottled)
	fake.SetMode(appconfig.Normal)
	g, err := s.Fetch(ctx(t), f.Version)
	require.NoError(t, err, "the token survives a throttled call")
	require.False(t, g.Changed)

	missing, err := dtabsource.Parse("appconfig:app/prod/nosuch", awsOptions(fake.URL()))
	require.NoError(t, err)
	_, err = missing.Fetch(ctx(t), "")
	require.ErrorContains(t, err, "ResourceNotFoundException")
}
