package idtoken_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// setup starts the fake metadata server on the same fake clock as the
// Source and points GCE_METADATA_HOST at it, so the real metadata client
// is used.
func setup(t *testing.T, lifetime time.Duration) (*metadata.Server, *clock.Fake, *idtoken.Source) {
	t.Helper()
	md, err := metadata.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = md.Close() })
	clk := clock.NewFake(t0)
	md.SetNow(clk.Now)
	md.SetLifetime(lifetime)
	t.Setenv("GCE_METADATA_HOST", md.Addr())
	s, err := idtoken.New(idtoken.Config{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return md, clk, s
}

func token(t *testing.T, s *idtoken.Source, aud string) metadata.Claims {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := s.Token(ctx, aud)
	require.NoError(t, err)
	c, err := metadata.ParseToken(tok)
	require.NoError(t, err)
	assert.Equal(t, aud, c.Aud)
	return c
}

// settle waits for the background fetch that a Token call started.
func settle(t *testing.T, s *idtoken.Source, aud string) {
	t.Helper()
	select {
	case <-s.Idle(aud):
	case <-time.After(10 * time.Second):
		t.Fatalf("the fetch for %s did not end", aud)
	}
}

func TestOneFetchPerAudienceUnderConcurrency(t *testing.T) {
	md, _, s := setup(t, time.Hour)
	auds := []string{"https://a-xyz.a.run.app", "https://b-xyz.a.run.app"}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token(t, s, auds[i%2])
		}()
	}
	wg.Wait()
	for _, a := range auds {
		assert.Equal(t, 1, md.Fetches(a), a)
	}
	st := s.State()
	require.Len(t, st, 2)
	assert.Equal(t, t0.Add(time.Hour).Unix(), st[0].Expires.Unix())
	assert.Equal(t, t0.Add(55*time.Minute).Unix(), st[0].RefreshAt.Unix())
}

func TestRefreshBeforeExpiry(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		fresh    time.Duration // still cached without a fetch
		margin   time.Duration // lifetime - refresh time
	}{
		{name: "an hour: 5 minutes early", lifetime: time.Hour, fresh: 54 * time.Minute, margin: 5 * time.Minute},
		{name: "short-lived: a quarter early", lifetime: 4 * time.Minute, fresh: 2 * time.Minute, margin: time.Minute},
		{name: "seconds-lived: a quarter early", lifetime: 4 * time.Second, fresh: 2 * time.Second, margin: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, clk, s := setup(t, tt.lifetime)
			aud := "https://svc-xyz.a.run.app"
			first := token(t, s, aud)
			clk.Advance(tt.fresh)
			assert.Equal(t, first, token(t, s, aud))
			assert.Equal(t, 1, md.Fetches(aud))

			// Within the margin: the old token is served while one
			// background fetch replaces it.
			clk.Set(t0.Add(tt.lifetime - tt.margin))
			assert.Equal(t, first, token(t, s, aud))
			settle(t, s, aud)
			second := token(t, s, aud)
			assert.NotEqual(t, first.Iat, second.Iat)
			assert.Equal(t, 2, md.Fetches(aud))

			// Long past expiry: the caller waits for a fresh token.
			clk.Advance(3 * tt.lifetime)
			third := token(t, s, aud)
			assert.Equal(t, clk.Now().Unix(), third.Iat)
			assert.Equal(t, 3, md.Fetches(aud))
		})
	}
}

func TestFetchErrorsAreRememberedBriefly(t *testing.T) {
	md, clk, s := setup(t, time.Hour)
	aud := "https://svc-xyz.a.run.app"
	md.FailWith(http.StatusNotFound) // not retried by the metadata client
	ctx := context.Background()
	_, err := s.Token(ctx, aud)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "idtoken: fetch a token for "+aud)
	for range 100 {
		_, err = s.Token(ctx, aud)
		require.Error(t, err)
	}
	assert.Equal(t, 1, md.Fetches(aud), "errors are remembered for ErrorTTL")

	md.FailWith(0)
	clk.Advance(time.Second)
	token(t, s, aud)
	assert.Equal(t, 2, md.Fetches(aud))
	assert.Empty(t, s.State()[0].LastError)
}

func TestRejectsExpiredTokens(t *testing.T) {
	now := time.Now()
	tok := metadata.Token(metadata.Claims{Aud: "aud", Iat: now.Add(-2 * time.Hour).Unix(), Exp: now.Add(-time.Hour).Unix()})
	s, err := idtoken.New(idtoken.Config{Fetcher: staticFetcher(tok), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = s.Token(context.Background(), "aud")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
}

type staticFetcher string

func (f staticFetcher) FetchIDToken(context.Context, string) (string, error) { return string(f), nil }

func TestRejectsMalformedTokens(t *testing.T) {
	for _, tok := range []string{"not-a-jwt", "a.b.c", metadata.Token(metadata.Claims{Aud: "x"})[:10] + ".e30.sig"} {
		t.Run(tok, func(t *testing.T) {
			s, err := idtoken.New(idtoken.Config{Fetcher: staticFetcher(tok), Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			_, err = s.Token(context.Background(), "aud")
			require.Error(t, err)
		})
	}
}

func TestEmptyAudience(t *testing.T) {
	s, err := idtoken.New(idtoken.Config{})
	require.NoError(t, err)
	_, err = s.Token(context.Background(), "")
	require.Error(t, err)
}

func TestHeader(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		err            bool
	}{
		{"default", "", "Authorization", false},
		{"authorization, any case", "authorization", "Authorization", false},
		{"x-serverless-authorization", "x-serverless-authorization", "X-Serverless-Authorization", false},
		{"anything else", "X-Token", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := idtoken.New(idtoken.Config{Header: tt.in})
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.TokenHeader())
		})
	}
}
