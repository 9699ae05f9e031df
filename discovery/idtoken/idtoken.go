// Package idtoken supplies Google ID tokens for outgoing calls, from the
// metadata server (GCE, Cloud Run, GKE with Workload Identity):
// /computeMetadata/v1/instance/service-accounts/default/identity?audience=…
// with Metadata-Flavor: Google, through cloud.google.com/go/compute/metadata,
// which honours GCE_METADATA_HOST.
//
// Tokens come from a Fetcher: MetadataFetcher by default; the googleauth
// subpackage fetches through cloud.google.com/go/auth (application default
// credentials, the metadata server, impersonation), off Google Cloud too.
//
// Source implements the proxy's TokenSource: the proxy asks for a token
// for every endpoint whose Meta has an "audience" (io.l5d.cloudrun sets it
// on Cloud Run endpoints; any https endpoint with an audience gets one).
// Tokens are cached per audience until Margin (5 minutes) before they
// expire, read from the JWT's exp claim. Within the margin the cached token
// is still returned while one background fetch replaces it; only a caller
// with no usable token waits, and concurrent callers for the same audience
// share one fetch. So under any load there is one metadata fetch per
// audience per token lifetime.
package idtoken

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// Defaults for Config.
const (
	// DefaultMargin is how long before expiry a token is replaced.
	DefaultMargin = 5 * time.Minute
	// DefaultErrorTTL is how long a failed fetch is remembered, so that
	// a broken metadata server is not asked on every request.
	DefaultErrorTTL = time.Second
	// DefaultTimeout bounds one fetch.
	DefaultTimeout = 10 * time.Second
)

// Fetcher fetches an ID token for an audience. *metadata.Client adapted
// by MetadataFetcher implements it.
type Fetcher interface {
	// FetchIDToken returns a JWT for audience.
	FetchIDToken(ctx context.Context, audience string) (string, error)
}

// MetadataFetcher fetches tokens from the metadata server.
type MetadataFetcher struct {
	// Client is the metadata client. If nil, one is built with a 10s
	// timeout HTTP client.
	Client *metadata.Client
}

// FetchIDToken asks the metadata server for a token (format=full, so
// that it carries the service account's email).
func (f MetadataFetcher) FetchIDToken(ctx context.Context, audience string) (string, error) {
	c := f.Client
	if c == nil {
		c = metadata.NewClient(&http.Client{Timeout: DefaultTimeout})
	}
	tok, err := c.GetWithContext(ctx, "instance/service-accounts/default/identity?audience="+url.QueryEscape(audience)+"&format=full")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(tok), nil
}

// Config configures a Source. The zero value is ready to use.
type Config struct {
	// Fetcher fetches tokens. Defaults to MetadataFetcher with a metadata
	// client built on first use.
	Fetcher Fetcher
	// Margin is how long before its expiry a token is replaced; for
	// tokens that live less than 4×Margin, a quarter of their lifetime is
	// used instead. Defaults to 5m.
	Margin time.Duration
	// ErrorTTL is how long a failed fetch is remembered before the next
	// request for that audience tries again. Defaults to 1s.
	ErrorTTL time.Duration
	// Timeout bounds one fetch. Defaults to 10s.
	Timeout time.Duration
	// Clock tells the time. Defaults to the system clock.
	Clock clock.Clock
	// Logger receives fetch failures. Defaults to slog.Default().
	Logger *slog.Logger
	// Header is the request header the proxy sends tokens in:
	// "Authorization" or "X-Serverless-Authorization" (any case), which
	// Cloud Run also accepts (checking it alone when both are present), leaving the caller's own
	// Authorization to the application. With X-Serverless-Authorization
	// the proxy owns that header (a caller's value is removed). Defaults
	// to Authorization.
	Header string
}

// Token headers for Config.Header.
const (
	HeaderAuthorization           = "Authorization"
	HeaderServerlessAuthorization = "X-Serverless-Authorization"
)

// Source caches ID tokens per audience. It is safe for concurrent use.
type Source struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	mu    sync.Mutex
	byAud map[string]*entry
}

type entry struct {
	tok         string
	exp         time.Time // token expiry (from its exp claim)
	refreshAt   time.Time // when to replace it (in the background)
	usableUntil time.Time // when it is too close to expiry to send at all
	fetched     time.Time
	fetches     int
	err         error     // last fetch error
	errUntil    time.Time // until when err is returned without a new fetch
	inflight    chan struct{}
}

// New returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.Margin < 0 || cfg.ErrorTTL < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("idtoken: Margin %s, ErrorTTL %s and Timeout %s must not be negative", cfg.Margin, cfg.ErrorTTL, cfg.Timeout)
	}
	cfg.Margin = cmp.Or(cfg.Margin, DefaultMargin)
	cfg.ErrorTTL = cmp.Or(cfg.ErrorTTL, DefaultErrorTTL)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	switch {
	case cfg.Header == "" || strings.EqualFold(cfg.Header, HeaderAuthorization):
		cfg.Header = HeaderAuthorization
	case strings.EqualFold(cfg.Header, HeaderServerlessAuthorization):
		cfg.Header = HeaderServerlessAuthorization
	default:
		return nil, fmt.Errorf("idtoken: header %q: want %s or %s", cfg.Header, HeaderAuthorization, HeaderServerlessAuthorization)
	}
	if cfg.Fetcher == nil {
		cfg.Fetcher = &lazyMetadata{}
	}
	s := &Source{cfg: cfg, clk: clock.Or(cfg.Clock), log: cfg.Logger, byAud: map[string]*entry{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// lazyMetadata builds the metadata client on first use.
type lazyMetadata struct {
	once sync.Once
	f    MetadataFetcher
}

func (l *lazyMetadata) FetchIDToken(ctx context.Context, audience string) (string, error) {
	l.once.Do(func() { l.f.Client = metadata.NewClient(&http.Client{Timeout: DefaultTimeout}) })
	return l.f.FetchIDToken(ctx, audience)
}

// TokenHeader returns the header tokens go in (Config.Header), for the
// proxy.
func (s *Source) TokenHeader() string { return s.cfg.Header }

// Token returns an ID token for audience: the cached one while it is
// fresh; past its refresh time the cached one while one background fetch
// replaces it; otherwise it waits for a fetch (shared by all callers of
// the audience) or for ctx.
func (s *Source) Token(ctx context.Context, audience string) (string, error) {
	if audience == "" {
		return "", errors.New("idtoken: empty audience")
	}
	for {
		now := s.clk.Now()
		s.mu.Lock()
		e := s.byAud[audience]
		if e == nil {
			e = &entry{}
			s.byAud[audience] = e
		}
		usable := e.tok != "" && now.Before(e.usableUntil)
		if usable && now.Before(e.refreshAt) {
			tok := e.tok
			s.mu.Unlock()
			return tok, nil
		}
		if e.err != nil && now.Before(e.errUntil) && !usable {
			err := e.err
			s.mu.Unlock()
			return "", err
		}
		ch := e.inflight
		if ch == nil && (e.err == nil || !now.Before(e.errUntil)) {
			ch = make(chan struct{})
			e.inflight = ch
			go s.fetch(audience, e, ch)
		}
		if usable {
			// Serve the current token while the new one is fetched.
			tok := e.tok
			s.mu.Unlock()
			return tok, nil
		}
		s.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("idtoken: waiting for a token for %s: %w", audience, ctx.Err())
		}
		s.mu.Lock()
		tok, err, ok := e.tok, e.err, e.tok != "" && s.clk.Now().Before(e.usableUntil)
		s.mu.Unlock()
		if ok {
			return tok, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// fetch gets a token for audience into e, then closes done.
func (s *Source) fetch(audience string, e *entry, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	tok, err := s.cfg.Fetcher.FetchIDToken(ctx, audience)
	var exp, iat time.Time
	if err == nil {
		exp, iat, err = expiry(tok)
	}
	now := s.clk.Now()
	if err == nil && !now.Before(exp) {
		err = fmt.Errorf("the token expired at %s", exp.Format(time.RFC3339))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.fetches++
	e.inflight = nil
	defer close(done)
	if err != nil {
		e.err = fmt.Errorf("idtoken: fetch a token for %s: %w", audience, err)
		e.errUntil = now.Add(s.cfg.ErrorTTL)
		s.log.Warn("idtoken: fetch failed", "audience", audience, "error", err)
		return
	}
	if iat.IsZero() || iat.After(now) {
		iat = now
	}
	// Replace the token Margin before it expires (a quarter of its life
	// for short-lived tokens); stop sending it shortly before it expires,
	// so that it does not expire in flight.
	margin := min(s.cfg.Margin, exp.Sub(iat)/4)
	e.tok, e.exp, e.fetched, e.err = tok, exp, now, nil
	e.refreshAt = exp.Add(-margin)
	e.usableUntil = exp.Add(-min(5*time.Second, margin/2))
}

// expiry reads the exp and iat claims of a JWT (without checking its
// signature: the token came from the metadata server).
func expiry(tok string) (exp, iat time.Time, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, time.Time{}, fmt.Errorf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("JWT payload: %w", err)
	}
	var c struct {
		Exp *json.Number `json:"exp"`
		Iat *json.Number `json:"iat"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("JWT payload: %w", err)
	}
	if c.Exp == nil {
		return time.Time{}, time.Time{}, errors.New("JWT has no exp claim")
	}
	e, err := c.Exp.Float64()
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("JWT exp: %w", err)
	}
	exp = time.Unix(int64(e), 0)
	if c.Iat != nil {
		if i, err := c.Iat.Float64(); err == nil {
			iat = time.Unix(int64(i), 0)
		}
	}
	return exp, iat, nil
}

// TokenState is one audience's cache state, for /admin/discovery.json.
// It never holds the token itself.
type TokenState struct {
	// Audience is the token audience.
	Audience string `json:"audience"`
	// Expires is the cached token's expiry; zero when none is cached.
	Expires time.Time `json:"expires,omitzero"`
	// RefreshAt is when the cached token is replaced.
	RefreshAt time.Time `json:"refreshAt,omitzero"`
	// LastFetch is when the cached token was fetched.
	LastFetch time.Time `json:"lastFetch,omitzero"`
	// Fetches counts fetches (successful or not) since start.
	Fetches int `json:"fetches"`
	// LastError is the last fetch's error; empty if it succeeded.
	LastError string `json:"lastError,omitempty"`
}

// State returns every audience's state, sorted by audience.
func (s *Source) State() []TokenState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TokenState, 0, len(s.byAud))
	for aud, e := range s.byAud {
		st := TokenState{Audience: aud, Expires: e.exp, RefreshAt: e.refreshAt, LastFetch: e.fetched, Fetches: e.fetches}
		if e.err != nil {
			st.LastError = e.err.Error()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b TokenState) int { return cmp.Compare(a.Audience, b.Audience) })
	return out
}

var (
	_ proxy.TokenSource   = (*Source)(nil)
	_ proxy.TokenHeaderer = (*Source)(nil)
	_ Fetcher             = MetadataFetcher{}
	_ Fetcher             = (*lazyMetadata)(nil)
)
