package metadata_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

func TestIdentity(t *testing.T) {
	md, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer md.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	md.SetNow(func() time.Time { return now })
	md.SetLifetime(10 * time.Minute)
	base := "http://" + md.Addr() + "/computeMetadata/v1/instance/service-accounts/default/identity"
	tests := []struct {
		name   string
		query  string
		flavor bool
		status int
	}{
		{name: "token", query: "?audience=https://x.run.app&format=full", flavor: true, status: 200},
		{name: "no flavor header", query: "?audience=https://x.run.app", status: 403},
		{name: "no audience", query: "", flavor: true, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tt.query, nil)
			if tt.flavor {
				req.Header.Set("Metadata-Flavor", "Google")
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, tt.status, resp.StatusCode, string(b))
			assert.Equal(t, "Google", resp.Header.Get("Metadata-Flavor"))
			if tt.status != 200 {
				return
			}
			c, err := metadata.ParseToken(string(b))
			require.NoError(t, err)
			assert.Equal(t, metadata.Claims{
				Aud: "https://x.run.app", Azp: c.Azp, Sub: c.Sub, Email: md.Email, EmailVerified: true,
				Iat: now.Unix(), Exp: now.Add(10 * time.Minute).Unix(), Iss: "https://accounts.google.com",
			}, c)
		})
	}
	assert.Equal(t, 1, md.Fetches("https://x.run.app"), "only requests with the header count")
}
