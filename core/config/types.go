package config

import (
	"log/slog"
	"strconv"
)

// Mode is how slinkerd runs (SLINKERD_MODE).
type Mode string

// The run modes.
const (
	// ModeAuto picks one of the others from the environment; see
	// Config.ResolveMode.
	ModeAuto Mode = "auto"
	// ModeContainer is a plain long-lived process.
	ModeContainer Mode = "container"
	// ModeLambda is an AWS Lambda extension.
	ModeLambda Mode = "lambda"
	// ModeCloudRun is a Google Cloud Run sidecar.
	ModeCloudRun Mode = "cloudrun"
)

// Environment variables that ModeAuto looks at.
const (
	// EnvLambdaRuntimeAPI is set by AWS Lambda in every execution
	// environment.
	EnvLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"
	// EnvCloudRunService is set by Google Cloud Run (and Knative) in every
	// container of a service.
	EnvCloudRunService = "K_SERVICE"
)

// ResolveMode returns c.Mode, or for ModeAuto the mode that environ points
// to: ModeLambda when AWS_LAMBDA_RUNTIME_API is set (non-empty), else
// ModeCloudRun when K_SERVICE is set, else ModeContainer. environ is the
// same environment that Load read; nil means an empty one.
func (c *Config) ResolveMode(environ map[string]string) Mode {
	if c.Mode != ModeAuto && c.Mode != "" {
		return c.Mode
	}
	switch {
	case environ[EnvLambdaRuntimeAPI] != "":
		return ModeLambda
	case environ[EnvCloudRunService] != "":
		return ModeCloudRun
	default:
		return ModeContainer
	}
}

// Balancer names a load balancer (SLINKERD_BALANCER).
type Balancer string

// The load balancers.
const (
	// BalancerEWMA is power of two choices over peak-EWMA latency × load.
	BalancerEWMA Balancer = "ewma"
	// BalancerP2C is power of two choices over outstanding requests.
	BalancerP2C Balancer = "p2c"
	// BalancerRoundRobin cycles through the endpoints.
	BalancerRoundRobin Balancer = "roundrobin"
)

// Classifier names a response classifier (SLINKERD_CLASSIFIER).
type Classifier string

// The response classifiers, with linkerd 1's names.
const (
	// ClassifierNonRetryable5XX treats 5xx as failures and never retries.
	ClassifierNonRetryable5XX Classifier = "nonRetryable5XX"
	// ClassifierRetryableRead5XX also retries 5xx to GET, HEAD, OPTIONS
	// and TRACE.
	ClassifierRetryableRead5XX Classifier = "retryableRead5XX"
	// ClassifierRetryableIdempotent5XX also retries 5xx to PUT and DELETE.
	ClassifierRetryableIdempotent5XX Classifier = "retryableIdempotent5XX"
	// ClassifierRetryableAll5XX retries 5xx to every method.
	ClassifierRetryableAll5XX Classifier = "retryableAll5XX"
	// ClassifierAllSuccessful treats every response as a success.
	ClassifierAllSuccessful Classifier = "allSuccessful"
	// ClassifierGRPC classifies by grpc-status in the trailers.
	ClassifierGRPC Classifier = "grpc"
)

// DtabOverride says whether per-request dtabs are honoured
// (SLINKERD_DTAB_OVERRIDE).
type DtabOverride string

// The per-request dtab settings.
const (
	// DtabOverrideOff strips and ignores l5d-dtab and l5d-ctx-dtab.
	DtabOverrideOff DtabOverride = "off"
	// DtabOverrideOn appends l5d-ctx-dtab and l5d-dtab after the base dtab.
	DtabOverrideOn DtabOverride = "on"
)

// Enabled reports whether per-request dtabs are honoured.
func (d DtabOverride) Enabled() bool { return d == DtabOverrideOn }

// OnOff is a setting that is on or off.
type OnOff string

// The OnOff values.
const (
	// On is on.
	On OnOff = "on"
	// Off is off.
	Off OnOff = "off"
)

// Enabled reports whether the setting is on (anything but "off").
func (o OnOff) Enabled() bool { return o != Off }

// FastPath says whether slinkerd's own HTTP/1.1 and HTTP/2 data path is
// used (SLINKERD_FAST_PATH).
type FastPath string

// The fast path settings.
const (
	// FastPathOn serves cleartext HTTP/1.x and h2c callers with
	// slinkerd's own servers, and sends through its own HTTP/1.1 and
	// h2c clients.
	FastPathOn FastPath = "on"
	// FastPathOff serves and sends every request with net/http.
	FastPathOff FastPath = "off"
)

// Enabled reports whether the fast path is on.
func (f FastPath) Enabled() bool { return f != FastPathOff }

// AutoBool is a boolean whose default depends on the run mode.
type AutoBool string

// The AutoBool values.
const (
	// AutoBoolAuto lets the run mode decide.
	AutoBoolAuto AutoBool = "auto"
	// AutoBoolTrue is on.
	AutoBoolTrue AutoBool = "true"
	// AutoBoolFalse is off.
	AutoBoolFalse AutoBool = "false"
)

// BackgroundRefresh reports whether namers refresh in the background in the
// given (resolved) mode: SLINKERD_DISCOVERY_BACKGROUND if it is true or
// false, otherwise true in container mode only.
func (d DiscoveryConfig) BackgroundRefresh(mode Mode) bool {
	switch d.Background {
	case AutoBoolTrue:
		return true
	case AutoBoolFalse:
		return false
	default:
		return mode == ModeContainer
	}
}

// MaxLambdaConcurrency is the largest AWS_LAMBDA_MAX_CONCURRENCY that
// Lambda Managed Instances allows per execution environment.
const MaxLambdaConcurrency = 1600

// LambdaManagedInstances tells whether slinkerd, run in mode, runs on
// Lambda Managed Instances (SLINKERD_LAMBDA_MANAGED), and with how many
// invocations at most at once per execution environment: the value of
// AWS_LAMBDA_MAX_CONCURRENCY, capped at MaxLambdaConcurrency, or 0 when
// it is unset or not a positive integer. Outside lambda mode it is never
// on.
func (c *Config) LambdaManagedInstances(mode Mode) (maxConcurrency int, on bool) {
	if mode != ModeLambda {
		return 0, false
	}
	p := c.platform
	if n, err := strconv.Atoi(p.LambdaMaxConcurrency); err == nil && n > 0 {
		maxConcurrency = min(n, MaxLambdaConcurrency)
	}
	switch c.Run.LambdaManaged {
	case AutoBoolTrue:
		return maxConcurrency, true
	case AutoBoolFalse:
		return maxConcurrency, false
	default:
		return maxConcurrency, p.LambdaInitializationType == "lambda-managed-instances" || p.LambdaMaxConcurrency != ""
	}
}

// LogLevel is the least severe level that is logged (SLINKERD_LOG_LEVEL).
type LogLevel string

// The log levels.
const (
	LogLevelDebug LogLevel = "debug" // slog.LevelDebug
	LogLevelInfo  LogLevel = "info"  // slog.LevelInfo
	LogLevelWarn  LogLevel = "warn"  // slog.LevelWarn
	LogLevelError LogLevel = "error" // slog.LevelError
)

// Level returns the slog level; an unknown value is slog.LevelInfo.
func (l LogLevel) Level() slog.Level {
	switch l {
	case LogLevelDebug:
		return slog.LevelDebug
	case LogLevelWarn:
		return slog.LevelWarn
	case LogLevelError:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// LogFormat is the log line format (SLINKERD_LOG_FORMAT).
type LogFormat string

// The log formats.
const (
	// LogFormatAuto is JSON in lambda and cloudrun modes and when stderr is
	// not a terminal, text on a terminal.
	LogFormatAuto LogFormat = "auto"
	// LogFormatJSON is JSON lines (with Cloud Logging's severity and
	// message fields).
	LogFormatJSON LogFormat = "json"
	// LogFormatText is slog's text format.
	LogFormatText LogFormat = "text"
)

// Secret is a string that must not leak: it prints as Redacted wherever it
// is formatted (fmt verbs including %#v, encoding/json, log/slog, Print and
// JSON). Reveal returns the value itself, for the one place that uses it.
type Secret string

// Redacted is what a non-empty Secret prints as. An empty Secret prints as
// the empty string, so that "unset" stays visible.
const Redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns Redacted, or "" for an empty Secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes the redacted form (used by encoding/xml, TOML, YAML
// and map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Interface guards.
var (
	_ slog.LogValuer = Secret("")
)
