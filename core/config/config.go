package config

import (
	"strings"
	"time"
)

// Prefix starts the name of every variable that Config reads.
const Prefix = "SLINKERD_"

// Config is slinkerd's whole configuration. Each leaf field is one
// SLINKERD_* environment variable; the groups only organise the Go API and
// the reference table, they do not change the variable names.
//
// Build a Config with Load, LoadFromProcess or Default. A zero Config is
// not valid: Validate rejects it.
//
// Struct tags: env and envDefault are read by github.com/caarlos0/env/v11
// (envDefault is the one place where defaults live); oneof, min, max and
// check are the validation rules that Validate applies and that the
// reference table shows. Each field's doc comment is its description in
// docs/config.md and states its default and unit.
type Config struct {
	// Mode is how slinkerd runs: auto, container, lambda or cloudrun.
	// auto picks lambda when AWS_LAMBDA_RUNTIME_API is set, cloudrun when
	// K_SERVICE is set, and container otherwise (see Config.ResolveMode).
	// Defaults to auto.
	Mode Mode `env:"MODE" envDefault:"auto" oneof:"auto container lambda cloudrun"`
	// StrictEnv decides what an unknown SLINKERD_* variable (a typo, or a
	// setting of another version) does: on refuses to start and names it;
	// off starts anyway and logs a warning for each. On Lambda a refused
	// start fails the whole function's init, so an operator may prefer
	// off there. Defaults to on.
	StrictEnv OnOff `env:"STRICT_ENV" envDefault:"on" oneof:"on off"`

	// Proxy configures the proxy listener and the limits that protect it.
	Proxy ProxyConfig
	// Admin configures the admin server.
	Admin AdminConfig `envPrefix:"ADMIN_"`
	// Routing configures how a request becomes a name and how that name is
	// delegated.
	Routing RoutingConfig
	// Balancer configures how an endpoint is picked.
	Balancer BalancerConfig
	// Accrual configures failure accrual, which marks failing endpoints dead.
	Accrual AccrualConfig `envPrefix:"ACCRUAL_"`
	// Retry configures response classification, retries and timeouts.
	Retry RetryConfig
	// Discovery configures the namers and how they refresh.
	Discovery DiscoveryConfig
	// Telemetry configures logs, metrics and traces.
	Telemetry TelemetryConfig
	// Run configures what is particular to one run mode: the Lambda
	// extension and the Cloud Run sidecar.
	Run RunConfig
	// Ingress configures the optional ingress proxy in front of the app
	// (cloudrun mode).
	Ingress IngressConfig `envPrefix:"INGRESS_"`

	// validators are the hooks Load was given; Validate uses them.
	validators validators
	// ignored are the unknown SLINKERD_* variables Load let through
	// (StrictEnv off).
	ignored []string
	// platform are the platform's and OpenTelemetry's variables that Load
	// read beside the SLINKERD_* ones.
	platform PlatformEnv
}

// Platform returns the variables that slinkerd reads but does not own
// (OTEL_*, AWS_LAMBDA_*, GOOGLE_CLOUD_PROJECT), as Load found them.
func (c *Config) Platform() PlatformEnv { return c.platform }

// IgnoredVariables returns the unknown SLINKERD_* variables that Load
// ignored because SLINKERD_STRICT_ENV is off, sorted; the caller warns
// about each.
func (c *Config) IgnoredVariables() []string { return c.ignored }

// ProxyConfig is the proxy listener: where it listens, TLS, and the limits
// that are on by default.
type ProxyConfig struct {
	// Listen is the proxy's listen address, host:port; an empty host means
	// every interface. It serves HTTP/1.1 and cleartext HTTP/2 on the same
	// port. Defaults to 127.0.0.1:4140.
	Listen string `env:"LISTEN" envDefault:"127.0.0.1:4140" check:"listen"`
	// TLSCert is the path of a PEM certificate file for the proxy listener.
	// Set both TLSCert and TLSKey to serve TLS (with ALPN h2), or neither.
	// Defaults to empty (plain text).
	TLSCert string `env:"TLS_CERT" check:"file"`
	// TLSKey is the path of the PEM private key file for TLSCert. The path
	// is not secret; the file's contents are never read into Config.
	// Defaults to empty (plain text).
	TLSKey string `env:"TLS_KEY" check:"file"`
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris protection); 0 means no limit. Go duration.
	// Defaults to 10s.
	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"10s" min:"0s"`
	// BodyReadTimeout is the longest a client may pause while sending a
	// request body, between two reads (nginx's client_body_timeout); a
	// client that sends nothing for this long gets 408 and its connection
	// is closed. gRPC requests are exempt. 0 means no limit. Go duration.
	// Defaults to 60s.
	BodyReadTimeout time.Duration `env:"BODY_READ_TIMEOUT" envDefault:"60s" min:"0s"`
	// IdleTimeout closes a client connection that has been idle this long;
	// 0 means never. Go duration. Defaults to 60s.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT" envDefault:"60s" min:"0s"`
	// MaxHeaderBytes caps the size of a request's header block, in bytes;
	// larger requests get 431. Defaults to 65536 (64 KiB).
	MaxHeaderBytes int `env:"MAX_HEADER_BYTES" envDefault:"65536" min:"1024"`
	// MaxRequestBodyBytes caps a request body, in bytes; a larger body gets
	// 413. Bodies are streamed, never buffered whole, so the default 0 means
	// no limit. Defaults to 0.
	MaxRequestBodyBytes int64 `env:"MAX_REQUEST_BODY_BYTES" envDefault:"0" min:"0"`
	// MaxCallDepth is the most Via hops a request may carry before the
	// proxy refuses it as a routing loop, in hops. Defaults to 10.
	MaxCallDepth int `env:"MAX_CALL_DEPTH" envDefault:"10" min:"1" max:"255"`
	// DrainTimeout is how long a graceful shutdown (SIGTERM, Lambda
	// SHUTDOWN) lets in-flight requests finish before closing them. Go
	// duration. Defaults to 10s.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT" envDefault:"10s" min:"0s"`
	// TrustL5DHeaders keeps l5d-* request headers that a client sends
	// (other than l5d-dtab and l5d-ctx-dtab, see SLINKERD_DTAB_OVERRIDE).
	// When false they are stripped: set it only behind another slinkerd.
	// Defaults to false.
	TrustL5DHeaders bool `env:"TRUST_L5D_HEADERS" envDefault:"false"`
	// TrustForwarded keeps the client's Forwarded and X-Forwarded-For
	// headers and appends to them. When false they are replaced by what
	// the proxy saw itself. Defaults to false.
	TrustForwarded bool `env:"TRUST_FORWARDED" envDefault:"false"`
	// AllowAbsoluteForm accepts HTTP/1.1 absolute-form request targets
	// ("GET http://host/path HTTP/1.1"), naming the request by the URL's
	// host. When false such requests get 400, so a client cannot steer
	// the proxy with a URL. Defaults to false.
	AllowAbsoluteForm bool `env:"ALLOW_ABSOLUTE_FORM" envDefault:"false"`
	// ResponseHeaderTimeout bounds the wait for an endpoint's response
	// head once the request, body included, has been sent: an endpoint
	// that never answers, or drips its head, gets the caller a 504. A
	// response body that streams for longer is not affected, and gRPC
	// requests are exempt (their deadline, grpc-timeout, bounds them).
	// slinkerd's own HTTP/1.1 and h2c clients time a head out between 7/8
	// and all of this value (their timers are coarse to cost less). 0
	// means no limit. Go duration. Defaults to 60s (nginx's
	// proxy_read_timeout).
	ResponseHeaderTimeout time.Duration `env:"RESPONSE_HEADER_TIMEOUT" envDefault:"60s" min:"0s"`
	// FastPath selects the data path: on serves cleartext HTTP/1.x
	// callers with slinkerd's own connection loop (internal/h1) and h2c
	// callers with its own frame-level HTTP/2 server (internal/h2),
	// sends requests without a body, or with a small one of known
	// length, to HTTP/1.1 endpoints through its own HTTP/1.1 client on
	// the calling goroutine, and every request to an h2c endpoint
	// through its own HTTP/2 client (internal/h2client); off uses Go's
	// net/http server and clients for everything. TLS callers that
	// choose h2 and https endpoints use net/http either way. Both hold
	// the same safety rules (docs/security.md); off is for comparing
	// them. Defaults to on.
	FastPath FastPath `env:"FAST_PATH" envDefault:"on" oneof:"on off"`
	// BackendCAFile is the path of a PEM file of CA certificates that the
	// proxy trusts, in addition to the system roots, when it calls https
	// endpoints (such as Cloud Run services, or a local test backend with
	// a self-signed certificate). Defaults to empty (system roots only).
	BackendCAFile string `env:"BACKEND_CA_FILE" check:"file"`
}

// AdminConfig is the admin server: dashboard, metrics, delegator, /ready.
type AdminConfig struct {
	// Listen is the admin server's listen address, host:port; an empty
	// host means every interface. Keep it on loopback unless it is
	// protected. Defaults to 127.0.0.1:9990.
	Listen string `env:"LISTEN" envDefault:"127.0.0.1:9990" check:"listen"`
}

// RoutingConfig turns a request into a logical name and delegates it.
type RoutingConfig struct {
	// Dtab is the base delegation table, e.g.
	// "/svc=>/#/io.l5d.fs;/svc/api=>/$/inet/127.0.0.1/8080". Defaults to
	// empty (no dentries: every name is negative).
	Dtab string `env:"DTAB" check:"dtab"`
	// DtabOverride turns per-request dtabs off or on: off strips and
	// ignores l5d-dtab and l5d-ctx-dtab; on appends them after the base
	// dtab, so they win. Turn it on only where every client is trusted.
	// Defaults to off.
	DtabOverride DtabOverride `env:"DTAB_OVERRIDE" envDefault:"off" oneof:"off on"`
	// DstPrefix is the path prefix of the logical names that the identifier
	// builds, e.g. /svc gives /svc/users. Defaults to /svc.
	DstPrefix string `env:"DST_PREFIX" envDefault:"/svc" check:"path"`
	// Identifier is how a request becomes a logical name: header (the Host
	// header, or :authority on HTTP/2, port stripped, as one segment),
	// path:N (the first N path segments), method-host (method, then host),
	// or header:NAME (the named header carries a whole path, e.g.
	// header:l5d-name). Defaults to header.
	Identifier string `env:"IDENTIFIER" envDefault:"header" check:"identifier"`
	// IdentifierConsume, with Identifier path:N, removes the N segments
	// from the request path before it is forwarded. Defaults to false.
	IdentifierConsume bool `env:"IDENTIFIER_CONSUME" envDefault:"false"`
	// SvcPolicy is the per-service-prefix policy (classifier, retries,
	// timeouts, replay buffer and AWS SigV4 signing, e.g.
	// /svc/orders=sign:lambda, by name prefix; later entries win; see
	// docs/iam-targets.md). core/config only
	// carries it; its syntax belongs to the retry package, which validates
	// it at start. Defaults to empty (global settings everywhere).
	SvcPolicy string `env:"SVC_POLICY" check:"policy"`
	// DtabSource is where more of the base dtab comes from, appended after
	// Dtab and refreshed while slinkerd runs: ssm:/parameter/name (AWS
	// Systems Manager Parameter Store), appconfig:application/environment/profile
	// (AWS AppConfig), an https:// URL (polled with If-None-Match) or
	// file:/path. A fetched dtab that does not parse, or that makes
	// negative a name used in the last minute, is rejected and the
	// previous one kept. Defaults to empty (SLINKERD_DTAB only).
	DtabSource string `env:"DTAB_SOURCE" check:"dtabsource"`
	// DtabSourceTTL is the least time between two calls to
	// SLINKERD_DTAB_SOURCE: a change is in force within it (lazily, at
	// the first request after it, on Lambda). AppConfig's own poll
	// interval wins when longer; failures back off from it. Defaults to
	// 30s.
	DtabSourceTTL time.Duration `env:"DTAB_SOURCE_TTL" envDefault:"30s" min:"1s"`
	// DtabSourceAuth is how an https SLINKERD_DTAB_SOURCE authenticates:
	// empty (no credentials) or gcp (the metadata server's access token
	// for the service account, e.g. for a Cloud Storage object). Defaults
	// to empty.
	DtabSourceAuth string `env:"DTAB_SOURCE_AUTH" oneof:"gcp"`
}

// BalancerConfig picks an endpoint among a name's endpoints.
type BalancerConfig struct {
	// Kind is the load balancer: ewma (power of two choices, peak EWMA
	// latency), p2c (power of two choices, least outstanding requests),
	// roundrobin, or a kind a Go program registered with balance.Register.
	// Defaults to ewma.
	Kind Balancer `env:"BALANCER" envDefault:"ewma" oneof:"ewma p2c roundrobin"`
	// EWMADecay is the peak-EWMA decay time constant τ: older latency
	// samples weigh exp(-age/τ). Go duration. Defaults to 10s.
	EWMADecay time.Duration `env:"EWMA_DECAY" envDefault:"10s" min:"1ms"`
	// MaxEffort is how many times P2C picks again to find an open endpoint
	// before it sends to a closed one anyway, in attempts. Defaults to 5.
	MaxEffort int `env:"MAX_EFFORT" envDefault:"5" min:"1" max:"100"`
	// Zone is the zone this slinkerd runs in (e.g. us-east-1a), for
	// zone-aware routing; it wins over the zone learned from the platform
	// (the ECS task metadata, the GCE metadata server). Lambda and Cloud
	// Run report no zone: set it there to route zone-aware. Defaults to
	// empty (learned).
	Zone string `env:"ZONE" check:"word"`
	// ZoneAware turns zone-aware routing on or off: auto prefers
	// endpoints in this slinkerd's zone (endpoints carry their zone from
	// Cloud Map's AVAILABILITY_ZONE attribute or the fs namer's zone=)
	// whenever the zone is known, by Envoy's rules (docs/routing.md);
	// off balances over all endpoints alike. Defaults to auto.
	ZoneAware string `env:"ZONE_AWARE" envDefault:"auto" oneof:"auto off"`
}

// AccrualConfig marks endpoints dead after failures and probes them back.
type AccrualConfig struct {
	// ConsecutiveFailures marks an endpoint dead after this many failures
	// in a row, in requests; 0 turns the consecutive-failure policy off.
	// Defaults to 5.
	ConsecutiveFailures int `env:"CONSECUTIVE_FAILURES" envDefault:"5" min:"0"`
	// SuccessRate marks an endpoint dead when its success rate over
	// SuccessRateWindow falls below it, as a fraction 0 to 1; 0 turns the
	// success-rate policy off (Finagle's usual value is 0.8). Defaults to 0.
	SuccessRate float64 `env:"SUCCESS_RATE" envDefault:"0" min:"0" max:"1"`
	// SuccessRateWindow is the window over which SuccessRate is measured.
	// Go duration. Defaults to 30s.
	SuccessRateWindow time.Duration `env:"SUCCESS_RATE_WINDOW" envDefault:"30s" min:"1s"`
	// SuccessRateMinRequests is how many requests the window must hold
	// before SuccessRate can mark an endpoint dead, in requests. Defaults
	// to 5.
	SuccessRateMinRequests int `env:"SUCCESS_RATE_MIN_REQUESTS" envDefault:"5" min:"1"`
	// BackoffMin is the first dead period (equal jitter), doubled after
	// each failed probe. Go duration. Defaults to 5s.
	BackoffMin time.Duration `env:"BACKOFF_MIN" envDefault:"5s" min:"1ms"`
	// BackoffMax caps the dead period; it must be at least BackoffMin. Go
	// duration. Defaults to 300s.
	BackoffMax time.Duration `env:"BACKOFF_MAX" envDefault:"300s" min:"1ms"`
}

// RetryConfig classifies responses and bounds retries and time.
type RetryConfig struct {
	// Classifier is the global response classifier: nonRetryable5XX (5xx
	// are failures, never retried), retryableRead5XX (also retry GET, HEAD,
	// OPTIONS and TRACE), retryableIdempotent5XX (also PUT and DELETE),
	// retryableAll5XX (every method), allSuccessful (every response is a
	// success), grpc (by grpc-status; SLINKERD_GRPC_RETRYABLE_CODES are
	// retryable), or a name a Go program registered with
	// retry.RegisterClassifier. Defaults to nonRetryable5XX.
	Classifier Classifier `env:"CLASSIFIER" envDefault:"nonRetryable5XX" oneof:"nonRetryable5XX retryableRead5XX retryableIdempotent5XX retryableAll5XX allSuccessful grpc"`
	// GRPCRetryableCodes lists the grpc-status codes that the grpc
	// classifier retries, comma-separated names (UNAVAILABLE) or numbers
	// (14). Defaults to UNAVAILABLE.
	GRPCRetryableCodes string `env:"GRPC_RETRYABLE_CODES" envDefault:"UNAVAILABLE" check:"grpccodes"`
	// TimeoutTotal bounds a request over all its attempts and backoffs,
	// and is propagated as l5d-ctx-deadline and grpc-timeout; 0 means no
	// total timeout. Go duration. Defaults to 0.
	TimeoutTotal time.Duration `env:"TIMEOUT_TOTAL" envDefault:"0" min:"0s"`
	// TimeoutAttempt bounds each attempt; 0 means no per-attempt timeout.
	// Go duration. Defaults to 0.
	TimeoutAttempt time.Duration `env:"TIMEOUT_ATTEMPT" envDefault:"0" min:"0s"`
	// BufferBytes is the replay buffer: a request body up to this many
	// bytes can be retried; a longer or streaming body is not retried once
	// sent. 0 means bodies are never replayed. Defaults to 65536 (64 KiB).
	BufferBytes int `env:"RETRY_BUFFER_BYTES" envDefault:"65536" min:"0"`
	// BudgetTTL is the retry budget's window: retries within it may not
	// exceed MinPerSec × BudgetTTL plus Percent of the successes. Go
	// duration, 1s to 60s as in Finagle. Defaults to 10s.
	BudgetTTL time.Duration `env:"RETRY_BUDGET_TTL" envDefault:"10s" min:"1s" max:"60s"`
	// MinPerSec is the retry budget's floor, in retries per second, so
	// that low traffic can still retry. Defaults to 10.
	MinPerSec int `env:"RETRY_MIN_PER_SEC" envDefault:"10" min:"0"`
	// Percent is the fraction of successful requests that may be retried
	// on top of MinPerSec, 0 to 1. Defaults to 0.2.
	Percent float64 `env:"RETRY_PERCENT" envDefault:"0.2" min:"0" max:"1"`
	// BackoffMin is the smallest pause before an application retry
	// (decorrelated jitter); requeues are not delayed. Go duration.
	// Defaults to 10ms.
	BackoffMin time.Duration `env:"RETRY_BACKOFF_MIN" envDefault:"10ms" min:"0s"`
	// BackoffMax caps the pause before an application retry; it must be at
	// least BackoffMin. Go duration. Defaults to 1s.
	BackoffMax time.Duration `env:"RETRY_BACKOFF_MAX" envDefault:"1s" min:"0s"`
}

// DiscoveryConfig configures the namers and how their results refresh.
type DiscoveryConfig struct {
	// FSDir is the root directory of the io.l5d.fs namer: one file per
	// name, each line "host port" or "host port * weight", optionally
	// followed by "zone=name". Defaults to empty (the fs namer is off).
	FSDir string `env:"FS_DIR" check:"dir"`
	// TTL is how old a namer's result may get before it is refreshed,
	// lazily on use (Lambda, Cloud Run) or in the background. Go duration.
	// Defaults to 30s.
	TTL time.Duration `env:"DISCOVERY_TTL" envDefault:"30s" min:"1s"`
	// Background refreshes names in the background, not only when used:
	// auto means true in container mode and on Lambda Managed Instances
	// (SLINKERD_LAMBDA_MANAGED), and false in lambda and cloudrun modes
	// otherwise, where timers may not run between requests. Defaults to
	// auto.
	Background AutoBool `env:"DISCOVERY_BACKGROUND" envDefault:"auto" oneof:"auto true false"`
	// EmptyGrace is how long a name's last non-empty endpoint set keeps
	// serving after discovery starts answering with an empty set. Go
	// duration. Defaults to 60s.
	EmptyGrace time.Duration `env:"DISCOVERY_EMPTY_GRACE" envDefault:"60s" min:"0s"`
	// CloudMapHealthStatus is the HealthStatus filter of Cloud Map
	// DiscoverInstances. Defaults to HEALTHY_OR_ELSE_ALL.
	CloudMapHealthStatus string `env:"CLOUDMAP_HEALTH_STATUS" envDefault:"HEALTHY_OR_ELSE_ALL" oneof:"HEALTHY UNHEALTHY ALL HEALTHY_OR_ELSE_ALL"`
	// CloudMapWeightAttribute names a Cloud Map instance attribute that
	// holds the endpoint's weight (a non-negative number). Defaults to
	// empty (every endpoint weighs 1).
	CloudMapWeightAttribute string `env:"CLOUDMAP_WEIGHT_ATTRIBUTE" check:"attribute"`
	// CloudMapFullRefresh is how often a Cloud Map name is fetched in full
	// with DiscoverInstances even though its revision
	// (DiscoverInstancesRevision, polled every SLINKERD_DISCOVERY_TTL) has
	// not changed: health changes do not change the revision. Go duration.
	// Defaults to 60s.
	CloudMapFullRefresh time.Duration `env:"CLOUDMAP_FULL_REFRESH" envDefault:"60s" min:"1s"`
	// CloudRunEndpoint overrides the Cloud Run Admin API endpoint,
	// host:port, e.g. a local fake. Defaults to empty (the client's own
	// default, run.googleapis.com:443).
	CloudRunEndpoint string `env:"CLOUDRUN_ENDPOINT" check:"hostport"`
	// IDTokenAudience is the audience of the ID tokens attached to Cloud
	// Run calls, for services with a custom audience. Defaults to empty
	// (the target service's URL).
	IDTokenAudience string `env:"ID_TOKEN_AUDIENCE" check:"word"`
	// IDTokenHeader is the header ID tokens go in: authorization, or
	// x-serverless-authorization, which Cloud Run accepts in its place (and
	// checks alone when both are present) so that the caller's own
	// Authorization reaches the application untouched (the proxy then owns X-Serverless-Authorization: a
	// caller's value is removed). Defaults to authorization.
	IDTokenHeader string `env:"ID_TOKEN_HEADER" envDefault:"authorization" oneof:"authorization x-serverless-authorization"`
	// IDTokenImpersonate is the email of a service account whose ID tokens
	// are minted, through the IAM Credentials API's generateIdToken, by the
	// principal of the application default credentials (which needs
	// roles/iam.serviceAccountOpenIdTokenCreator on it). Defaults to empty
	// (tokens of the default credentials' own identity: the key file of
	// GOOGLE_APPLICATION_CREDENTIALS, else the metadata server's account).
	IDTokenImpersonate string `env:"ID_TOKEN_IMPERSONATE" check:"word"`
	// IDTokenIAMEndpoint replaces https://iamcredentials.googleapis.com
	// for SLINKERD_ID_TOKEN_IMPERSONATE: a base URL such as a Private
	// Service Connect endpoint's. Defaults to empty (the public endpoint).
	IDTokenIAMEndpoint string `env:"ID_TOKEN_IAM_ENDPOINT" check:"url"`
}

// TelemetryConfig configures logs, metrics and traces.
type TelemetryConfig struct {
	// LogLevel is the least severe level logged: debug, info, warn or
	// error. Defaults to info.
	LogLevel LogLevel `env:"LOG_LEVEL" envDefault:"info" oneof:"debug info warn error"`
	// LogFormat is the log line format: json, text, or auto (JSON lines in
	// lambda and cloudrun modes and when stderr is not a terminal, text on
	// a terminal). Defaults to auto.
	LogFormat LogFormat `env:"LOG_FORMAT" envDefault:"auto" oneof:"auto json text"`
	// AccessLog logs one line per proxied request. Defaults to false.
	AccessLog bool `env:"ACCESS_LOG" envDefault:"false"`
	// MetricsMaxEndpoints caps how many endpoints get their own metrics,
	// in endpoints, in total across all clients (first come, first
	// served); a client's request metrics come with its endpoints'. The
	// rest are counted in their service's metrics (and, for a client with
	// some endpoints of its own, in one series labelled endpoint="other").
	// 0 turns endpoint and client request metrics off. Defaults to 100.
	MetricsMaxEndpoints int `env:"METRICS_MAX_ENDPOINTS" envDefault:"100" min:"0"`
	// EMFNamespace is the CloudWatch namespace of the embedded-metric-format
	// lines written in lambda mode, 1 to 255 characters. Defaults to
	// slinkerd.
	EMFNamespace string `env:"EMF_NAMESPACE" envDefault:"slinkerd" check:"namespace"`
	// EMFDimensions are extra CloudWatch dimensions of the EMF lines,
	// comma-separated Name=Value pairs with the same value on every line,
	// e.g. Environment=prod,Alias=live; they join FunctionName (from
	// AWS_LAMBDA_FUNCTION_NAME) and Service in one dimension set of at
	// most 30 keys. Names must be non-empty and must not be FunctionName,
	// Service or a metric's name. Defaults to empty (none).
	EMFDimensions string `env:"EMF_DIMENSIONS" check:"dimensions"`
	// EMFFlush is when the Lambda extension writes an invocation's EMF
	// lines: invocation-end waits for the runtime to finish the
	// invocation (the Telemetry API's platform.runtimeDone) and writes
	// them before the next one starts, which keeps the invocation open
	// about 25 ms longer (Lambda's shortest Telemetry API buffering) and
	// is billed; next-event writes them when the next event arrives,
	// timestamped inside the invocation they describe, at no cost to the
	// invocation. Defaults to invocation-end.
	EMFFlush string `env:"EMF_FLUSH" envDefault:"invocation-end" oneof:"invocation-end next-event"`
	// OTLPEndpoint is the OTLP/HTTP traces URL, e.g.
	// http://127.0.0.1:4318/v1/traces. Defaults to empty (tracing export
	// off; propagation still works).
	OTLPEndpoint string `env:"OTLP_ENDPOINT" check:"url"`
	// OTLPHeaders are extra headers for OTLP export, comma-separated
	// key=value pairs with URL-encoded values (the format of
	// OTEL_EXPORTER_OTLP_HEADERS), e.g. authorization=Bearer%20abc. Secret:
	// always printed redacted. Defaults to empty.
	OTLPHeaders Secret `env:"OTLP_HEADERS" check:"headers"`
}

// RunConfig holds the settings of one run mode (SLINKERD_MODE).
type RunConfig struct {
	// LambdaThawGap applies in lambda mode: an invocation that starts at
	// least this long after the proxy's last request first closes the
	// idle pooled connections, which may have died while the environment
	// was frozen: one found dead before the request is written to it is
	// requeued, but one that died silently (a dropped NAT mapping) would
	// swallow the request. 0 closes them at every invocation. Go
	// duration. Defaults to 5s.
	LambdaThawGap time.Duration `env:"LAMBDA_THAW_GAP" envDefault:"5s" min:"0s"`
	// LambdaManaged says whether the Lambda extension runs on Lambda
	// Managed Instances, where one execution environment serves many
	// invocations at once and is never frozen: auto means yes when
	// Lambda sets AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances
	// or AWS_LAMBDA_MAX_CONCURRENCY. There the extension registers for
	// SHUTDOWN only (Lambda refuses INVOKE), skips the thaw handling,
	// refreshes discovery in the background, writes EMF lines every
	// SLINKERD_LAMBDA_MANAGED_FLUSH, and sizes its pools from
	// AWS_LAMBDA_MAX_CONCURRENCY. Lambda mode only. Defaults to auto.
	LambdaManaged AutoBool `env:"LAMBDA_MANAGED" envDefault:"auto" oneof:"auto true false"`
	// LambdaManagedFlush is how often the extension writes the EMF lines
	// of the period since the last on Lambda Managed Instances, where no
	// event marks the end of an invocation. Go duration. Defaults to 10s.
	LambdaManagedFlush time.Duration `env:"LAMBDA_MANAGED_FLUSH" envDefault:"10s" min:"1s"`
	// CloudRunDrainQuiet applies in cloudrun mode: after SIGTERM the
	// outbound proxy keeps serving, because the app may still call out
	// while it finishes its own requests, until no request has been in
	// flight for this long (counted from SIGTERM at the earliest); then it
	// drains and exits. Whatever happens it has stopped
	// SLINKERD_DRAIN_TIMEOUT after SIGTERM, capped at 9s to fit Cloud
	// Run's 10s. Go duration. Defaults to 1s.
	CloudRunDrainQuiet time.Duration `env:"CLOUDRUN_DRAIN_QUIET" envDefault:"1s" min:"0s"`
}

// IngressConfig is the optional ingress proxy of cloudrun mode: it takes
// the service's traffic on $PORT and forwards all of it to the app
// container, adding metrics, a timeout and requeues while the app is not
// listening yet. It uses no dtab: every request goes to Target.
type IngressConfig struct {
	// Target is the app's address, host:port (e.g. 127.0.0.1:8081), that
	// the ingress forwards every request to. Setting it turns the ingress
	// on, in cloudrun mode only. Defaults to empty (no ingress).
	Target string `env:"TARGET" check:"hostport"`
	// Listen is the ingress listen address, host:port. Defaults to empty:
	// every interface on Cloud Run's $PORT, or 0.0.0.0:8080 when PORT is
	// unset.
	Listen string `env:"LISTEN" check:"listen"`
	// Timeout bounds each ingress request over all its attempts, response
	// body included; it is sent to the app as l5d-ctx-deadline, and a
	// request that runs out gets 504. 0 means no timeout. Go duration.
	// Defaults to 0.
	Timeout time.Duration `env:"TIMEOUT" envDefault:"0" min:"0s"`
}

// PlatformEnv holds the variables that slinkerd reads but does not own:
// the OpenTelemetry SDK's OTEL_* (the specification's
// "Environment Variable Specification"), the Lambda runtime's logging
// controls, and the Google Cloud project. They are not SLINKERD_*
// names, so strict-env checking never sees them, and they are not in the
// SLINKERD_* reference table; each one's SLINKERD_* counterpart, where
// there is one, wins when set. Values are kept as given; their users
// parse them and warn about a bad one (an OpenTelemetry SDK ignores a bad
// OTEL_* value rather than fail).
type PlatformEnv struct {
	// OTLPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT, a base URL to which
	// /v1/traces is appended.
	OTLPEndpoint string
	// OTLPTracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the traces
	// URL used as is; it wins over OTLPEndpoint.
	OTLPTracesEndpoint string
	// OTLPHeaders is OTEL_EXPORTER_OTLP_HEADERS, key=value pairs with
	// URL-encoded values; OTEL_EXPORTER_OTLP_TRACES_HEADERS wins over it.
	OTLPHeaders Secret
	// ServiceName is OTEL_SERVICE_NAME.
	ServiceName string
	// ResourceAttributes is OTEL_RESOURCE_ATTRIBUTES, key=value pairs.
	ResourceAttributes string
	// TracesSampler and TracesSamplerArg are OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG.
	TracesSampler, TracesSamplerArg string
	// SDKDisabled is OTEL_SDK_DISABLED=true: no span export from OTEL_*
	// settings.
	SDKDisabled bool
	// LambdaFunctionName is AWS_LAMBDA_FUNCTION_NAME, set in every Lambda
	// execution environment.
	LambdaFunctionName string
	// LambdaLogFormat is AWS_LAMBDA_LOG_FORMAT (JSON or Text), set by
	// Lambda's advanced logging controls.
	LambdaLogFormat string
	// LambdaLogLevel is AWS_LAMBDA_LOG_LEVEL (TRACE, DEBUG, INFO, WARN,
	// ERROR or FATAL), set by Lambda's application log-level filtering.
	LambdaLogLevel string
	// LambdaInitializationType is AWS_LAMBDA_INITIALIZATION_TYPE:
	// on-demand, provisioned-concurrency, snap-start or
	// lambda-managed-instances.
	LambdaInitializationType string
	// LambdaMaxConcurrency is AWS_LAMBDA_MAX_CONCURRENCY, the most
	// invocations one execution environment serves at once, set on
	// Lambda Managed Instances only; kept as given (see
	// Config.LambdaManagedInstances).
	LambdaMaxConcurrency string
	// GoogleCloudProject is GOOGLE_CLOUD_PROJECT, the project id that
	// Cloud Run log lines name their traces in.
	GoogleCloudProject string
}

// PlatformFromEnviron reads a PlatformEnv from environ (nil is an empty
// environment).
func PlatformFromEnviron(environ map[string]string) PlatformEnv {
	get := func(k string) string { return strings.TrimSpace(environ[k]) }
	p := PlatformEnv{
		OTLPEndpoint:       get("OTEL_EXPORTER_OTLP_ENDPOINT"),
		OTLPTracesEndpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
		OTLPHeaders:        Secret(get("OTEL_EXPORTER_OTLP_HEADERS")),
		ServiceName:        get("OTEL_SERVICE_NAME"),
		ResourceAttributes: get("OTEL_RESOURCE_ATTRIBUTES"),
		TracesSampler:      get("OTEL_TRACES_SAMPLER"),
		TracesSamplerArg:   get("OTEL_TRACES_SAMPLER_ARG"),
		SDKDisabled:        strings.EqualFold(get("OTEL_SDK_DISABLED"), "true"),
		LambdaFunctionName: get("AWS_LAMBDA_FUNCTION_NAME"),
		LambdaLogFormat:    get("AWS_LAMBDA_LOG_FORMAT"),
		LambdaLogLevel:     get("AWS_LAMBDA_LOG_LEVEL"),

		LambdaInitializationType: get("AWS_LAMBDA_INITIALIZATION_TYPE"),
		LambdaMaxConcurrency:     get("AWS_LAMBDA_MAX_CONCURRENCY"),
		GoogleCloudProject:       get("GOOGLE_CLOUD_PROJECT"),
	}
	if h := get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"); h != "" {
		p.OTLPHeaders = Secret(h)
	}
	return p
}
