// Package googleauth fetches Google ID tokens through
// cloud.google.com/go/auth, so that Cloud Run calls work on and off
// Google Cloud: from application default credentials (a service account
// key file or impersonated_service_account file named by
// GOOGLE_APPLICATION_CREDENTIALS, or gcloud's), else from the metadata
// server (GCE, Cloud Run, GKE; GCE_METADATA_HOST is honoured), and
// optionally by impersonating another service account through the IAM
// Credentials API's generateIdToken.
//
// A Fetcher only fetches: discovery/idtoken's Source caches the tokens per
// audience, refreshes them in the background and shares one fetch among
// concurrent callers, so every FetchIDToken builds fresh credentials and
// its token is never one the library cached.
package googleauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/auth/credentials/impersonate"
	"cloud.google.com/go/auth/httptransport"

	slidtoken "github.com/slinkerd/slinkerd/discovery/idtoken"
)

// DefaultIAMCredentialsHost is the IAM Credentials API's host.
const DefaultIAMCredentialsHost = "iamcredentials.googleapis.com"

// cloudPlatform is the scope of the base credentials that impersonate.
const cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// Config configures a Fetcher. The zero value uses application default
// credentials, then the metadata server.
type Config struct {
	// ImpersonateServiceAccount is the email of a service account whose
	// ID tokens are minted, through the IAM Credentials API, by the
	// principal of the default credentials (which needs
	// roles/iam.serviceAccountOpenIdTokenCreator on it). Empty means the
	// default credentials' own identity.
	ImpersonateServiceAccount string
	// IAMCredentialsEndpoint replaces https://iamcredentials.googleapis.com
	// (a Private Service Connect endpoint, or a fake in tests), as a base
	// URL such as https://iamcredentials-myendpoint.p.googleapis.com.
	// Empty means the public endpoint.
	IAMCredentialsEndpoint string
	// Client makes the token requests. Defaults to a client with a 10s
	// timeout.
	Client *http.Client
}

// Fetcher fetches ID tokens with cloud.google.com/go/auth. It is safe for
// concurrent use.
type Fetcher struct {
	cfg    Config
	client *http.Client

	baseOnce   sync.Once
	base       *auth.Credentials // the impersonating principal's
	baseClient *http.Client      // authenticated with base
	baseErr    error
}

// New returns a Fetcher. Credentials are looked up on the first fetch.
func New(cfg Config) (*Fetcher, error) {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: slidtoken.DefaultTimeout}
	}
	if ep := cfg.IAMCredentialsEndpoint; ep != "" {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("googleauth: IAM Credentials endpoint %q: want a base URL such as https://host", ep)
		}
		rt := client.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		c := *client
		c.Transport = &redirectHost{host: DefaultIAMCredentialsHost, to: u, next: rt}
		client = &c
	}
	if sa := cfg.ImpersonateServiceAccount; sa != "" && !strings.Contains(sa, "@") {
		return nil, fmt.Errorf("googleauth: service account %q to impersonate is not an email", sa)
	}
	return &Fetcher{cfg: cfg, client: client}, nil
}

// FetchIDToken returns a new ID token for audience, with the email claim.
func (f *Fetcher) FetchIDToken(ctx context.Context, audience string) (string, error) {
	var creds *auth.Credentials
	var err error
	if sa := f.cfg.ImpersonateServiceAccount; sa != "" {
		f.baseOnce.Do(f.loadBase)
		if f.baseErr != nil {
			return "", fmt.Errorf("googleauth: default credentials to impersonate %s: %w", sa, f.baseErr)
		}
		creds, err = impersonate.NewIDTokenCredentials(&impersonate.IDTokenOptions{
			Audience: audience, TargetPrincipal: sa, IncludeEmail: true, Credentials: f.base, Client: f.baseClient,
		})
		if err != nil {
			return "", fmt.Errorf("googleauth: impersonate %s: %w", sa, err)
		}
	} else {
		creds, err = idtoken.NewCredentials(&idtoken.Options{
			Audience: audience, ComputeTokenFormat: idtoken.ComputeTokenFormatFull, Client: f.client,
		})
		if err != nil {
			return "", fmt.Errorf("googleauth: ID token credentials: %w", err)
		}
	}
	tok, err := creds.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("googleauth: fetch an ID token: %w", err)
	}
	return tok.Value, nil
}

// loadBase finds the default credentials that impersonate, and an HTTP
// client that authenticates with their access token (cached and
// refreshed by the library).
func (f *Fetcher) loadBase() {
	f.base, f.baseErr = credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{cloudPlatform}, Client: f.client})
	if f.baseErr != nil {
		return
	}
	rt := f.client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c, err := httptransport.NewClient(&httptransport.Options{Credentials: f.base, BaseRoundTripper: rt, DisableTelemetry: true})
	if err != nil {
		f.baseErr = err
		return
	}
	c.Timeout = f.client.Timeout
	f.baseClient = c
}

// redirectHost sends requests for host to another base URL.
type redirectHost struct {
	host string
	to   *url.URL
	next http.RoundTripper
}

func (r *redirectHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != r.host {
		return r.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = r.to.Scheme, r.to.Host, ""
	return r.next.RoundTrip(out)
}

var (
	_ slidtoken.Fetcher = (*Fetcher)(nil)
	_ http.RoundTripper = (*redirectHost)(nil)
)
