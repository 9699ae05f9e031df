// Package dtabsource reads a base dtab from a managed store, so routing
// for a fleet changes without a redeploy (the role namerd played for
// linkerd 1): AWS Systems Manager Parameter Store (ssm:/path), AWS
// AppConfig (appconfig:app/env/profile), any https URL polled with
// If-None-Match (optionally with a Google access token), or a file.
//
// A Source answers one Fetch at a time; slinkerd decides when to fetch
// (at most once per SLINKERD_DTAB_SOURCE_TTL, lazily on use and
// optionally in the background), checks what it fetched (it must parse,
// and must not make negative a name a request used in the last minute)
// and swaps it in, keeping the last good one. RegisterScheme adds a kind
// of store.
package dtabsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Fetched is one answer of a Source.
type Fetched struct {
	// Dtab is the dtab's text; set only when Changed.
	Dtab string
	// Version names what was fetched: the parameter's version, the
	// AppConfig version label, the ETag, the file's mtime and hash.
	Version string
	// Changed is false when the store says the version is still the one
	// passed to Fetch (304, an empty AppConfig answer, same version).
	Changed bool
	// NextPoll is the store's own poll interval (AppConfig's
	// NextPollIntervalInSeconds); 0 when it has none.
	NextPoll time.Duration
}

// Source fetches a dtab from one store. Fetch is never called
// concurrently with itself.
type Source interface {
	// Fetch fetches the dtab, or says it is unchanged since prevVersion
	// ("" before the first fetch).
	Fetch(ctx context.Context, prevVersion string) (Fetched, error)
	// String names the source, as SLINKERD_DTAB_SOURCE spells it.
	String() string
}

// ErrThrottled marks a fetch the store refused for its rate (HTTP 429,
// ThrottlingException): the refresher backs off.
var ErrThrottled = errors.New("dtabsource: the store throttled the call")

// Options are what Parse's sources need beyond the spec. The zero value
// reads the environment as the SDKs do.
type Options struct {
	// Auth is SLINKERD_DTAB_SOURCE_AUTH: "" (none) or "gcp" (an https
	// source sends the metadata server's access token).
	Auth string
	// HTTPClient makes https and AppConfig calls. Defaults to a client
	// with a 10s timeout.
	HTTPClient *http.Client
	// MetadataHost is the GCE metadata server's host:port. Defaults to
	// GCE_METADATA_HOST, else metadata.google.internal.
	MetadataHost string
	// AWSConfig, if not nil, gives the AWS configuration of the ssm and
	// appconfig sources (static credentials and an endpoint in tests).
	// Defaults to the AWS SDK's default chain.
	AWSConfig func(context.Context) (aws.Config, error)
	// Logger receives the sources' warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

// MaxDtabBytes caps a fetched dtab.
const MaxDtabBytes = 1 << 20

// SchemeFactory builds a source from the part of its spec after the
// scheme and its colon ("/slinkerd/dtab" of "ssm:/slinkerd/dtab").
type SchemeFactory func(rest string, opts Options) (Source, error)

var (
	schemesMu sync.Mutex
	schemes   = map[string]SchemeFactory{}
)

// RegisterScheme adds a kind of store to SLINKERD_DTAB_SOURCE, as
// scheme:… (discovery/dtabsource/awsstore adds ssm and appconfig). It is
// called from init functions and panics if the scheme is taken.
func RegisterScheme(scheme string, f SchemeFactory) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if _, ok := schemes[scheme]; ok || scheme == "https" || scheme == "http" || scheme == "file" {
		panic("dtabsource: scheme " + scheme + " registered twice")
	}
	schemes[scheme] = f
}

// knownSchemes are the schemes of sources that packages outside this one
// provide, for the error when one is used but not linked in.
var knownSchemes = map[string]string{
	"ssm":       "github.com/slinkerd/slinkerd/discovery/dtabsource/awsstore",
	"appconfig": "github.com/slinkerd/slinkerd/discovery/dtabsource/awsstore",
}

// Parse builds the source SLINKERD_DTAB_SOURCE names: ssm:/path,
// appconfig:application/environment/profile, https://… (or http:// to
// 127.0.0.1/localhost, for tests) or file:/path.
func Parse(spec string, opts Options) (Source, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch opts.Auth {
	case "", "gcp":
	default:
		return nil, fmt.Errorf("dtabsource: auth %q: want \"\" or \"gcp\"", opts.Auth)
	}
	scheme, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("dtabsource: source %q: want ssm:/path, appconfig:app/env/profile, https://… or file:/path", spec)
	}
	if opts.Auth == "gcp" && scheme != "https" && scheme != "http" {
		return nil, fmt.Errorf("dtabsource: auth gcp applies to https sources, not %q", spec)
	}
	switch scheme {
	case "https", "http":
		return newHTTPS(spec, opts)
	case "file":
		return newFile(rest)
	}
	schemesMu.Lock()
	f, ok := schemes[scheme]
	schemesMu.Unlock()
	if ok {
		return f(rest, opts)
	}
	if pkg, ok := knownSchemes[scheme]; ok {
		return nil, fmt.Errorf("dtabsource: source %q: %s sources are not in this build of slinkerd (a Go program reads them once it imports %s)", spec, scheme, pkg)
	}
	return nil, fmt.Errorf("dtabsource: source %q: unknown scheme %q (want ssm, appconfig, https or file)", spec, scheme)
}
