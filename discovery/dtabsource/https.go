package dtabsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// httpsSource polls a URL with If-None-Match; its version is the ETag
// (or a hash of the body when the server sends none).
type httpsSource struct {
	url    string
	client *http.Client
	gcp    *gcpToken // nil unless Auth is gcp
}

func newHTTPS(raw string, opts Options) (*httpsSource, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("dtabsource: source %q: %w", raw, err)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("dtabsource: source %q: plain http only to a loopback address; use https", raw)
	}
	s := &httpsSource{url: raw, client: opts.HTTPClient}
	if opts.Auth == "gcp" {
		host := opts.MetadataHost
		if host == "" {
			host = os.Getenv("GCE_METADATA_HOST")
		}
		if host == "" {
			host = "metadata.google.internal"
		}
		s.gcp = &gcpToken{host: host, client: opts.HTTPClient}
	}
	return s, nil
}

func isLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (s *httpsSource) String() string { return s.url }

func (s *httpsSource) Fetch(ctx context.Context, prev string) (Fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: %w", s.url, err)
	}
	if prev != "" {
		req.Header.Set("If-None-Match", prev)
	}
	if s.gcp != nil {
		tok, err := s.gcp.get(ctx)
		if err != nil {
			return Fetched{}, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return Fetched{Version: prev}, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: %s: %w", s.url, resp.Status, ErrThrottled)
	case resp.StatusCode == http.StatusUnauthorized && s.gcp != nil:
		s.gcp.reset()
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: %s", s.url, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: %s", s.url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDtabBytes+1))
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: read body: %w", s.url, err)
	}
	if len(b) > MaxDtabBytes {
		return Fetched{}, fmt.Errorf("dtabsource: GET %s: body larger than %d bytes", s.url, MaxDtabBytes)
	}
	v := resp.Header.Get("ETag")
	if v == "" {
		sum := sha256.Sum256(b)
		v = "sha256:" + hex.EncodeToString(sum[:6])
	}
	if v == prev {
		return Fetched{Version: v}, nil
	}
	return Fetched{Dtab: string(b), Version: v, Changed: true}, nil
}

// gcpToken caches the metadata server's access token for the default
// service account until a minute before it expires.
type gcpToken struct {
	host   string
	client *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (g *gcpToken) reset() {
	g.mu.Lock()
	g.token = ""
	g.mu.Unlock()
}

func (g *gcpToken) get(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token != "" && time.Now().Before(g.expires) {
		return g.token, nil
	}
	u := "http://" + g.host + "/computeMetadata/v1/instance/service-accounts/default/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("dtabsource: gcp access token: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := g.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("dtabsource: gcp access token from %s: %w", g.host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("dtabsource: gcp access token from %s: %s", g.host, resp.Status)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return "", fmt.Errorf("dtabsource: gcp access token from %s: %w", g.host, err)
	}
	if out.AccessToken == "" {
		return "", errors.New("dtabsource: gcp access token: the metadata server sent none")
	}
	g.token, g.expires = out.AccessToken, time.Now().Add(time.Duration(out.ExpiresIn)*time.Second-time.Minute)
	return g.token, nil
}

var _ Source = (*httpsSource)(nil)
