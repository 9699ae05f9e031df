package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

// TestDefaults pins every default: they are part of the user-facing
// contract (DESIGN.md §6 and the issues).
func TestDefaults(t *testing.T) {
	want := &config.Config{
		Mode:      config.ModeAuto,
		StrictEnv: config.On,
		Proxy: config.ProxyConfig{
			Listen:            "127.0.0.1:4140",
			ReadHeaderTimeout: 10 * time.Second,
			BodyReadTimeout:   60 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    64 << 10,
			MaxCallDepth:      10,
			DrainTimeout:      10 * time.Second,

			ResponseHeaderTimeout: 60 * time.Second,
			FastPath:              config.FastPathOn,
		},
		Admin: config.AdminConfig{Listen: "127.0.0.1:9990"},
		Routing: config.RoutingConfig{
			DtabOverride:  config.DtabOverrideOff,
			DstPrefix:     "/svc",
			Identifier:    "header",
			DtabSourceTTL: 30 * time.Second,
		},
		Balancer: config.BalancerConfig{
			Kind:      config.BalancerEWMA,
			EWMADecay: 10 * time.Second,
			MaxEffort: 5,
			ZoneAware: "auto",
		},
		Accrual: config.AccrualConfig{
			ConsecutiveFailures:    5,
			SuccessRateWindow:      30 * time.Second,
			SuccessRateMinRequests: 5,
			BackoffMin:             5 * time.Second,
			BackoffMax:             300 * time.Second,
		},
		Retry: config.RetryConfig{
			Classifier:         config.ClassifierNonRetryable5XX,
			GRPCRetryableCodes: "UNAVAILABLE",
			BufferBytes:        64 << 10,
			BudgetTTL:          10 * time.Second,
			MinPerSec:          10,
			Percent:            0.2,
			BackoffMin:         10 * time.Millisecond,
			BackoffMax:         time.Second,
		},
		Discovery: config.DiscoveryConfig{
			TTL:                  30 * time.Second,
			Background:           config.AutoBoolAuto,
			EmptyGrace:           60 * time.Second,
			CloudMapHealthStatus: "HEALTHY_OR_ELSE_ALL",
			CloudMapFullRefresh:  60 * time.Second,
			IDTokenHeader:        "authorization",
		},
		Telemetry: config.TelemetryConfig{
			LogLevel:            config.LogLevelInfo,
			LogFormat:           config.LogFormatAuto,
			MetricsMaxEndpoints: 100,
			EMFNamespace:        "slinkerd",
			EMFFlush:            "invocation-end",
		},
		Run: config.RunConfig{
			LambdaThawGap:      5 * time.Second,
			LambdaManaged:      config.AutoBoolAuto,
			LambdaManagedFlush: 10 * time.Second,
			CloudRunDrainQuiet: time.Second,
		},
	}
	tests := []struct {
		name    string
		environ map[string]string
	}{
		{name: "nil environment", environ: nil},
		{name: "unrelated variables", environ: map[string]string{"PATH": "/bin", "AWS_REGION": "eu-west-1", "SLINKERDX": "1"}},
		{name: "empty values mean default", environ: emptyEverything()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.environ)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			require.NoError(t, got.Validate())
		})
	}
	assert.Equal(t, want, config.Default())
}

func emptyEverything() map[string]string {
	m := map[string]string{}
	for _, v := range config.Variables() {
		m[v.Name] = ""
	}
	return m
}

// TestLoadEveryVariable sets each variable to a non-default value and
// checks the field it lands in. The last case checks that the table
// covers every variable.
func TestLoadEveryVariable(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, []byte("cert"), 0o600))
	require.NoError(t, os.WriteFile(key, []byte("key"), 0o600))

	tests := []struct {
		name    string
		environ map[string]string
		get     func(*config.Config) any
		want    any
	}{
		{"mode", env("SLINKERD_MODE", "lambda"), func(c *config.Config) any { return c.Mode }, config.ModeLambda},
		{"listen", env("SLINKERD_LISTEN", "0.0.0.0:8080"), func(c *config.Config) any { return c.Proxy.Listen }, "0.0.0.0:8080"},
		{"listen ipv6 any port", env("SLINKERD_LISTEN", "[::1]:0"), func(c *config.Config) any { return c.Proxy.Listen }, "[::1]:0"},
		{"listen all interfaces", env("SLINKERD_LISTEN", ":4140"), func(c *config.Config) any { return c.Proxy.Listen }, ":4140"},
		{"tls", map[string]string{"SLINKERD_TLS_CERT": cert, "SLINKERD_TLS_KEY": key},
			func(c *config.Config) any { return [2]string{c.Proxy.TLSCert, c.Proxy.TLSKey} }, [2]string{cert, key}},
		{"read header timeout", env("SLINKERD_READ_HEADER_TIMEOUT", "2s"), func(c *config.Config) any { return c.Proxy.ReadHeaderTimeout }, 2 * time.Second},
		{"body read timeout", env("SLINKERD_BODY_READ_TIMEOUT", "0"), func(c *config.Config) any { return c.Proxy.BodyReadTimeout }, time.Duration(0)},
		{"idle timeout", env("SLINKERD_IDLE_TIMEOUT", "0"), func(c *config.Config) any { return c.Proxy.IdleTimeout }, time.Duration(0)},
		{"max header bytes", env("SLINKERD_MAX_HEADER_BYTES", "8192"), func(c *config.Config) any { return c.Proxy.MaxHeaderBytes }, 8192},
		{"max request body", env("SLINKERD_MAX_REQUEST_BODY_BYTES", "10737418240"), func(c *config.Config) any { return c.Proxy.MaxRequestBodyBytes }, int64(10 << 30)},
		{"max call depth", env("SLINKERD_MAX_CALL_DEPTH", "3"), func(c *config.Config) any { return c.Proxy.MaxCallDepth }, 3},
		{"drain timeout", env("SLINKERD_DRAIN_TIMEOUT", "1500ms"), func(c *config.Config) any { return c.Proxy.DrainTimeout }, 1500 * time.Millisecond},
		{"trust l5d headers", env("SLINKERD_TRUST_L5D_HEADERS", "true"), func(c *config.Config) any { return c.Proxy.TrustL5DHeaders }, true},
		{"trust forwarded", env("SLINKERD_TRUST_FORWARDED", "1"), func(c *config.Config) any { return c.Proxy.TrustForwarded }, true},
		{"allow absolute form", env("SLINKERD_ALLOW_ABSOLUTE_FORM", "true"), func(c *config.Config) any { return c.Proxy.AllowAbsoluteForm }, true},
		{"response header timeout", env("SLINKERD_RESPONSE_HEADER_TIMEOUT", "0"), func(c *config.Config) any { return c.Proxy.ResponseHeaderTimeout }, time.Duration(0)},
		{"fast path", env("SLINKERD_FAST_PATH", "off"), func(c *config.Config) any { return c.Proxy.FastPath.Enabled() }, false},
		{"strict env", env("SLINKERD_STRICT_ENV", "off"), func(c *config.Config) any { return c.StrictEnv.Enabled() }, false},
		{"backend ca file", env("SLINKERD_BACKEND_CA_FILE", cert), func(c *config.Config) any { return c.Proxy.BackendCAFile }, cert},
		{"admin listen", env("SLINKERD_ADMIN_LISTEN", "localhost:9991"), func(c *config.Config) any { return c.Admin.Listen }, "localhost:9991"},
		{"dtab", env("SLINKERD_DTAB", "/svc=>/#/io.l5d.fs;\n# comment\n/svc/a=>/$/inet/127.0.0.1/80"),
			func(c *config.Config) any { return c.Routing.Dtab }, "/svc=>/#/io.l5d.fs;\n# comment\n/svc/a=>/$/inet/127.0.0.1/80"},
		{"dtab override", env("SLINKERD_DTAB_OVERRIDE", "on"), func(c *config.Config) any { return c.Routing.DtabOverride.Enabled() }, true},
		{"dst prefix", env("SLINKERD_DST_PREFIX", `/http/1.1/a\x2fb`), func(c *config.Config) any { return c.Routing.DstPrefix }, `/http/1.1/a\x2fb`},
		{"dst prefix root", env("SLINKERD_DST_PREFIX", "/"), func(c *config.Config) any { return c.Routing.DstPrefix }, "/"},
		{"identifier", env("SLINKERD_IDENTIFIER", "header:l5d-name"), func(c *config.Config) any { return c.Routing.Identifier }, "header:l5d-name"},
		{"identifier consume", map[string]string{"SLINKERD_IDENTIFIER": "path:2", "SLINKERD_IDENTIFIER_CONSUME": "true"},
			func(c *config.Config) any { return c.Routing.IdentifierConsume }, true},
		{"svc policy", env("SLINKERD_SVC_POLICY", "/svc/users: classifier=retryableRead5XX"), func(c *config.Config) any { return c.Routing.SvcPolicy }, "/svc/users: classifier=retryableRead5XX"},
		{"dtab source", env("SLINKERD_DTAB_SOURCE", "ssm:/slinkerd/dtab"), func(c *config.Config) any { return c.Routing.DtabSource }, "ssm:/slinkerd/dtab"},
		{"dtab source ttl", env("SLINKERD_DTAB_SOURCE_TTL", "1m"), func(c *config.Config) any { return c.Routing.DtabSourceTTL }, time.Minute},
		{"dtab source auth", env("SLINKERD_DTAB_SOURCE_AUTH", "gcp"), func(c *config.Config) any { return c.Routing.DtabSourceAuth }, "gcp"},
		{"balancer", env("SLINKERD_BALANCER", "p2c"), func(c *config.Config) any { return c.Balancer.Kind }, config.BalancerP2C},
		{"ewma decay", env("SLINKERD_EWMA_DECAY", "5s"), func(c *config.Config) any { return c.Balancer.EWMADecay }, 5 * time.Second},
		{"max effort", env("SLINKERD_MAX_EFFORT", "1"), func(c *config.Config) any { return c.Balancer.MaxEffort }, 1},
		{"zone", env("SLINKERD_ZONE", "us-east-1a"), func(c *config.Config) any { return c.Balancer.Zone }, "us-east-1a"},
		{"zone aware", env("SLINKERD_ZONE_AWARE", "off"), func(c *config.Config) any { return c.Balancer.ZoneAware }, "off"},
		{"accrual consecutive failures", env("SLINKERD_ACCRUAL_CONSECUTIVE_FAILURES", "0"), func(c *config.Config) any { return c.Accrual.ConsecutiveFailures }, 0},
		{"accrual success rate", env("SLINKERD_ACCRUAL_SUCCESS_RATE", "0.8"), func(c *config.Config) any { return c.Accrual.SuccessRate }, 0.8},
		{"accrual success rate window", env("SLINKERD_ACCRUAL_SUCCESS_RATE_WINDOW", "1m"), func(c *config.Config) any { return c.Accrual.SuccessRateWindow }, time.Minute},
		{"accrual success rate min requests", env("SLINKERD_ACCRUAL_SUCCESS_RATE_MIN_REQUESTS", "20"), func(c *config.Config) any { return c.Accrual.SuccessRateMinRequests }, 20},
		{"accrual backoff min", env("SLINKERD_ACCRUAL_BACKOFF_MIN", "1s"), func(c *config.Config) any { return c.Accrual.BackoffMin }, time.Second},
		{"accrual backoff max", env("SLINKERD_ACCRUAL_BACKOFF_MAX", "10m"), func(c *config.Config) any { return c.Accrual.BackoffMax }, 10 * time.Minute},
		{"classifier", env("SLINKERD_CLASSIFIER", "retryableRead5XX"), func(c *config.Config) any { return c.Retry.Classifier }, config.ClassifierRetryableRead5XX},
		{"grpc retryable codes", env("SLINKERD_GRPC_RETRYABLE_CODES", "unavailable, 4,RESOURCE_EXHAUSTED"),
			func(c *config.Config) any { return c.Retry.RetryableGRPCCodes() }, []uint32{14, 4, 8}},
		{"timeout total", env("SLINKERD_TIMEOUT_TOTAL", "300ms"), func(c *config.Config) any { return c.Retry.TimeoutTotal }, 300 * time.Millisecond},
		{"timeout attempt", env("SLINKERD_TIMEOUT_ATTEMPT", "100ms"), func(c *config.Config) any { return c.Retry.TimeoutAttempt }, 100 * time.Millisecond},
		{"retry buffer", env("SLINKERD_RETRY_BUFFER_BYTES", "0"), func(c *config.Config) any { return c.Retry.BufferBytes }, 0},
		{"retry budget ttl", env("SLINKERD_RETRY_BUDGET_TTL", "60s"), func(c *config.Config) any { return c.Retry.BudgetTTL }, time.Minute},
		{"retry min per sec", env("SLINKERD_RETRY_MIN_PER_SEC", "0"), func(c *config.Config) any { return c.Retry.MinPerSec }, 0},
		{"retry percent", env("SLINKERD_RETRY_PERCENT", "1"), func(c *config.Config) any { return c.Retry.Percent }, 1.0},
		{"retry backoff min", env("SLINKERD_RETRY_BACKOFF_MIN", "0"), func(c *config.Config) any { return c.Retry.BackoffMin }, time.Duration(0)},
		{"retry backoff max", env("SLINKERD_RETRY_BACKOFF_MAX", "10ms"), func(c *config.Config) any { return c.Retry.BackoffMax }, 10 * time.Millisecond},
		{"fs dir", env("SLINKERD_FS_DIR", dir), func(c *config.Config) any { return c.Discovery.FSDir }, dir},
		{"discovery ttl", env("SLINKERD_DISCOVERY_TTL", "5s"), func(c *config.Config) any { return c.Discovery.TTL }, 5 * time.Second},
		{"discovery background", env("SLINKERD_DISCOVERY_BACKGROUND", "false"), func(c *config.Config) any { return c.Discovery.Background }, config.AutoBoolFalse},
		{"discovery empty grace", env("SLINKERD_DISCOVERY_EMPTY_GRACE", "0"), func(c *config.Config) any { return c.Discovery.EmptyGrace }, time.Duration(0)},
		{"cloudmap health status", env("SLINKERD_CLOUDMAP_HEALTH_STATUS", "ALL"), func(c *config.Config) any { return c.Discovery.CloudMapHealthStatus }, "ALL"},
		{"cloudmap weight attribute", env("SLINKERD_CLOUDMAP_WEIGHT_ATTRIBUTE", "weight"), func(c *config.Config) any { return c.Discovery.CloudMapWeightAttribute }, "weight"},
		{"cloudmap full refresh", env("SLINKERD_CLOUDMAP_FULL_REFRESH", "5m"), func(c *config.Config) any { return c.Discovery.CloudMapFullRefresh }, 5 * time.Minute},
		{"cloudrun endpoint", env("SLINKERD_CLOUDRUN_ENDPOINT", "127.0.0.1:9443"), func(c *config.Config) any { return c.Discovery.CloudRunEndpoint }, "127.0.0.1:9443"},
		{"id token audience", env("SLINKERD_ID_TOKEN_AUDIENCE", "https://users.example.com"), func(c *config.Config) any { return c.Discovery.IDTokenAudience }, "https://users.example.com"},
		{"id token header", env("SLINKERD_ID_TOKEN_HEADER", "x-serverless-authorization"), func(c *config.Config) any { return c.Discovery.IDTokenHeader }, "x-serverless-authorization"},
		{"id token impersonate", env("SLINKERD_ID_TOKEN_IMPERSONATE", "sa@p.iam.gserviceaccount.com"), func(c *config.Config) any { return c.Discovery.IDTokenImpersonate }, "sa@p.iam.gserviceaccount.com"},
		{"id token IAM endpoint", env("SLINKERD_ID_TOKEN_IAM_ENDPOINT", "https://iam.example.com"), func(c *config.Config) any { return c.Discovery.IDTokenIAMEndpoint }, "https://iam.example.com"},
		{"log level", env("SLINKERD_LOG_LEVEL", "debug"), func(c *config.Config) any { return c.Telemetry.LogLevel }, config.LogLevelDebug},
		{"log format", env("SLINKERD_LOG_FORMAT", "json"), func(c *config.Config) any { return c.Telemetry.LogFormat }, config.LogFormatJSON},
		{"access log", env("SLINKERD_ACCESS_LOG", "true"), func(c *config.Config) any { return c.Telemetry.AccessLog }, true},
		{"metrics max endpoints", env("SLINKERD_METRICS_MAX_ENDPOINTS", "0"), func(c *config.Config) any { return c.Telemetry.MetricsMaxEndpoints }, 0},
		{"emf namespace", env("SLINKERD_EMF_NAMESPACE", "Acme/Mesh"), func(c *config.Config) any { return c.Telemetry.EMFNamespace }, "Acme/Mesh"},
		{"emf flush", env("SLINKERD_EMF_FLUSH", "next-event"), func(c *config.Config) any { return c.Telemetry.EMFFlush }, "next-event"},
		{"emf dimensions", env("SLINKERD_EMF_DIMENSIONS", "Environment=prod,Alias=live"), func(c *config.Config) any { return c.Telemetry.EMFDimensions }, "Environment=prod,Alias=live"},
		{"otlp endpoint", env("SLINKERD_OTLP_ENDPOINT", "http://127.0.0.1:4318/v1/traces"), func(c *config.Config) any { return c.Telemetry.OTLPEndpoint }, "http://127.0.0.1:4318/v1/traces"},
		{"otlp headers", env("SLINKERD_OTLP_HEADERS", "authorization=Bearer%20abc, x-team=core"),
			func(c *config.Config) any { return c.Telemetry.OTLPHeaderMap() }, map[string]string{"authorization": "Bearer abc", "x-team": "core"}},
		{"lambda thaw gap", env("SLINKERD_LAMBDA_THAW_GAP", "0"), func(c *config.Config) any { return c.Run.LambdaThawGap }, time.Duration(0)},
		{"lambda managed", env("SLINKERD_LAMBDA_MANAGED", "false"), func(c *config.Config) any { return c.Run.LambdaManaged }, config.AutoBoolFalse},
		{"lambda managed flush", env("SLINKERD_LAMBDA_MANAGED_FLUSH", "2s"), func(c *config.Config) any { return c.Run.LambdaManagedFlush }, 2 * time.Second},
		{"cloudrun drain quiet", env("SLINKERD_CLOUDRUN_DRAIN_QUIET", "250ms"), func(c *config.Config) any { return c.Run.CloudRunDrainQuiet }, 250 * time.Millisecond},
		{"ingress target", env("SLINKERD_INGRESS_TARGET", "127.0.0.1:8081"), func(c *config.Config) any { return c.Ingress.Target }, "127.0.0.1:8081"},
		{"ingress listen", env("SLINKERD_INGRESS_LISTEN", ":8080"), func(c *config.Config) any { return c.Ingress.Listen }, ":8080"},
		{"ingress timeout", env("SLINKERD_INGRESS_TIMEOUT", "30s"), func(c *config.Config) any { return c.Ingress.Timeout }, 30 * time.Second},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		for k := range tt.environ {
			covered[k] = true
		}
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.environ)
			require.NoError(t, err)
			assert.Equal(t, tt.want, tt.get(cfg))
		})
	}
	t.Run("every variable covered", func(t *testing.T) {
		for _, v := range config.Variables() {
			assert.True(t, covered[v.Name], "no case in TestLoadEveryVariable sets %s", v.Name)
		}
	})
}

func env(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestLoadErrors checks the exact messages users see, and that every
// problem is reported at once.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(cert, []byte("cert"), 0o600))

	tests := []struct {
		name    string
		environ map[string]string
		want    []string // the joined error's lines, in order
	}{
		{
			name:    "enum",
			environ: env("SLINKERD_BALANCER", "foo"),
			want:    []string{`SLINKERD_BALANCER="foo": must be one of ewma, p2c, roundrobin`},
		},
		{
			name:    "bad duration",
			environ: env("SLINKERD_TIMEOUT_TOTAL", "5"),
			want:    []string{`SLINKERD_TIMEOUT_TOTAL="5": must be a duration such as 250ms, 10s or 1m30s`},
		},
		{
			name:    "negative duration",
			environ: env("SLINKERD_TIMEOUT_ATTEMPT", "-1s"),
			want:    []string{`SLINKERD_TIMEOUT_ATTEMPT="-1s": must not be negative`},
		},
		{
			name:    "bad int",
			environ: env("SLINKERD_MAX_CALL_DEPTH", "ten"),
			want:    []string{`SLINKERD_MAX_CALL_DEPTH="ten": must be a whole number`},
		},
		{
			name:    "percent out of range",
			environ: env("SLINKERD_RETRY_PERCENT", "20"),
			want:    []string{`SLINKERD_RETRY_PERCENT="20": must be between 0 and 1`},
		},
		{
			name:    "bad bool",
			environ: env("SLINKERD_ACCESS_LOG", "yes"),
			want:    []string{`SLINKERD_ACCESS_LOG="yes": must be true or false`},
		},
		{
			name:    "listen without port",
			environ: env("SLINKERD_ADMIN_LISTEN", "localhost"),
			want:    []string{`SLINKERD_ADMIN_LISTEN="localhost": must be host:port, e.g. 127.0.0.1:4140: address localhost: missing port in address`},
		},
		{
			name:    "identifier",
			environ: env("SLINKERD_IDENTIFIER", "path:0"),
			want:    []string{`SLINKERD_IDENTIFIER="path:0": must be header, path:N (N from 1 to 100), method-host or header:NAME (NAME an HTTP header name)`},
		},
		{
			name:    "tls cert without key",
			environ: env("SLINKERD_TLS_CERT", cert),
			want:    []string{`SLINKERD_TLS_KEY="": must be set when SLINKERD_TLS_CERT is set (set both or neither)`},
		},
		{
			name:    "tls key without cert",
			environ: env("SLINKERD_TLS_KEY", cert),
			want:    []string{`SLINKERD_TLS_CERT="": must be set when SLINKERD_TLS_KEY is set (set both or neither)`},
		},
		{
			name:    "retry backoff min above max",
			environ: env("SLINKERD_RETRY_BACKOFF_MIN", "2s"),
			want:    []string{`SLINKERD_RETRY_BACKOFF_MAX="1s": must be at least SLINKERD_RETRY_BACKOFF_MIN (2s)`},
		},
		{
			name:    "accrual backoff max below min",
			environ: env("SLINKERD_ACCRUAL_BACKOFF_MAX", "1s"),
			want:    []string{`SLINKERD_ACCRUAL_BACKOFF_MAX="1s": must be at least SLINKERD_ACCRUAL_BACKOFF_MIN (5s)`},
		},
		{
			name:    "consume without path identifier",
			environ: env("SLINKERD_IDENTIFIER_CONSUME", "true"),
			want:    []string{`SLINKERD_IDENTIFIER_CONSUME="true": applies only to SLINKERD_IDENTIFIER=path:N, not "header"`},
		},
		{
			name:    "unknown variable with suggestion",
			environ: env("SLINKERD_BALANCR", "p2c"),
			want:    []string{`SLINKERD_BALANCR="p2c": unknown variable; did you mean SLINKERD_BALANCER?`},
		},
		{
			name:    "unknown variable that may hold a secret",
			environ: env("SLINKERD_API_TOKEN", "abc"),
			want:    []string{`SLINKERD_API_TOKEN="[REDACTED]": unknown variable`},
		},
		{
			name:    "unknown variable without suggestion",
			environ: env("SLINKERD_COLOUR", ""),
			want:    []string{`SLINKERD_COLOUR="": unknown variable`},
		},
		{
			name: "all problems at once, unknown first, then table order",
			environ: env(
				"SLINKERD_RETRY_PERCENT", "x",
				"SLINKERD_MODE", "k8s",
				"SLINKERD_LISTENN", "1",
				"SLINKERD_EWMA_DECAY", "0s",
				"SLINKERD_TLS_CERT", cert,
			),
			want: []string{
				`SLINKERD_LISTENN="1": unknown variable; did you mean SLINKERD_LISTEN?`,
				`SLINKERD_MODE="k8s": must be one of auto, container, lambda, cloudrun`,
				`SLINKERD_TLS_KEY="": must be set when SLINKERD_TLS_CERT is set (set both or neither)`,
				`SLINKERD_EWMA_DECAY="0s": must be at least 1ms`,
				`SLINKERD_RETRY_PERCENT="x": must be a number such as 0.25`,
			},
		},
		{
			name: "a value that does not parse causes no knock-on error",
			environ: env(
				"SLINKERD_RETRY_BACKOFF_MIN", "5s",
				"SLINKERD_RETRY_BACKOFF_MAX", "5",
			),
			want: []string{`SLINKERD_RETRY_BACKOFF_MAX="5": must be a duration such as 250ms, 10s or 1m30s`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.environ)
			require.Error(t, err)
			assert.Nil(t, cfg)
			assert.Equal(t, tt.want, strings.Split(err.Error(), "\n"))
			var ve *config.VarError
			require.ErrorAs(t, err, &ve)
		})
	}
}

func TestLoadWrapsCauses(t *testing.T) {
	_, err := config.Load(env("SLINKERD_FS_DIR", "/nonexistent/slinkerd"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), `SLINKERD_FS_DIR="/nonexistent/slinkerd": must be a directory`)

	_, err = config.Load(env("SLINKERD_DRAIN_TIMEOUT", "x"))
	var ve *config.VarError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "SLINKERD_DRAIN_TIMEOUT", ve.Var)
	assert.Equal(t, "x", ve.Value)
	assert.Error(t, errors.Unwrap(ve), "the time.ParseDuration error is kept")
}

func TestValidatorHooks(t *testing.T) {
	errBad := errors.New("dtab: offset 4: expected '=>' after prefix \"/svc\"")
	dtabHook := func(d string) error {
		if strings.Contains(d, "=>") {
			return nil
		}
		return errBad
	}
	var policySeen string
	policyHook := func(p string) error { policySeen = p; return nil }

	tests := []struct {
		name    string
		environ map[string]string
		opts    []config.Option
		wantErr string
	}{
		{"no hook: dtab not checked here", env("SLINKERD_DTAB", "/svc"), nil, ""},
		{"hook accepts", env("SLINKERD_DTAB", "/svc=>/$/nil"), []config.Option{config.WithDtabValidator(dtabHook)}, ""},
		{"hook rejects", env("SLINKERD_DTAB", "/svc"), []config.Option{config.WithDtabValidator(dtabHook)},
			`SLINKERD_DTAB="/svc": invalid dtab: dtab: offset 4: expected '=>' after prefix "/svc"`},
		{"empty dtab is not passed to the hook", nil, []config.Option{config.WithDtabValidator(dtabHook)}, ""},
		{"policy hook", env("SLINKERD_SVC_POLICY", "p"), []config.Option{config.WithPolicyValidator(policyHook)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.environ, tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, cfg.Validate(), "Validate keeps the hooks Load was given")
				return
			}
			require.EqualError(t, err, tt.wantErr)
			assert.ErrorIs(t, err, errBad)
		})
	}
	assert.Equal(t, "p", policySeen)

	// Validate after a change applies the hooks from Load.
	cfg, err := config.Load(nil, config.WithDtabValidator(dtabHook))
	require.NoError(t, err)
	cfg.Routing.Dtab = "/nope"
	assert.ErrorIs(t, cfg.Validate(), errBad)
}

func TestAllowUnknown(t *testing.T) {
	environ := env("SLINKERD_FUTURE_KNOB", "1", "SLINKERD_BALANCER", "p2c")
	_, err := config.Load(environ)
	require.Error(t, err)
	cfg, err := config.Load(environ, config.AllowUnknown())
	require.NoError(t, err)
	assert.Equal(t, config.BalancerP2C, cfg.Balancer.Kind)
}

func TestZeroConfigIsInvalid(t *testing.T) {
	err := (&config.Config{}).Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SLINKERD_MODE="": must be one of auto, container, lambda, cloudrun`)
	assert.Contains(t, err.Error(), `SLINKERD_LISTEN="": must not be empty`)
}

// TestLoadNeverReadsProcessEnv guards against env's fallback to
// os.Environ when no environment is given.
func TestLoadNeverReadsProcessEnv(t *testing.T) {
	t.Setenv("SLINKERD_BALANCER", "roundrobin")
	t.Setenv("SLINKERD_NOT_A_KNOB", "x")
	cfg, err := config.Load(nil)
	require.NoError(t, err)
	assert.Equal(t, config.BalancerEWMA, cfg.Balancer.Kind)
	cfg, err = config.Load(map[string]string{})
	require.NoError(t, err)
	assert.Equal(t, config.BalancerEWMA, cfg.Balancer.Kind)
}

func TestLoadFromProcess(t *testing.T) {
	t.Setenv("SLINKERD_BALANCER", "roundrobin")
	t.Setenv("SLINKERD_DTAB", "/svc=>/$/inet/a=b/1") // '=' in a value
	cfg, err := config.LoadFromProcess()
	require.NoError(t, err)
	assert.Equal(t, config.BalancerRoundRobin, cfg.Balancer.Kind)
	assert.Equal(t, "/svc=>/$/inet/a=b/1", cfg.Routing.Dtab)

	t.Setenv("SLINKERD_MAX_EFFORT", "0")
	_, err = config.LoadFromProcess()
	assert.EqualError(t, err, `SLINKERD_MAX_EFFORT="0": must be between 1 and 100`)
}

func TestEnvironMap(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"split at first =", []string{"A=b=c", "D="}, map[string]string{"A": "b=c", "D": ""}},
		{"no = is dropped", []string{"WEIRD"}, map[string]string{}},
		{"later wins", []string{"A=1", "A=2"}, map[string]string{"A": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, config.EnvironMap(tt.in))
		})
	}
}

// An unknown SLINKERD_* variable refuses the start by default, and with
// SLINKERD_STRICT_ENV=off is let through and listed for a warning (issue
// 15: on Lambda one stray variable failed the whole function's init).
func TestStrictEnv(t *testing.T) {
	stray := map[string]string{"SLINKERD_BALANCR": "p2c", "SLINKERD_LISTEN": "127.0.0.1:4141"}
	_, err := config.Load(stray)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SLINKERD_BALANCR")

	stray["SLINKERD_STRICT_ENV"] = "off"
	cfg, err := config.Load(stray)
	require.NoError(t, err)
	assert.Equal(t, []string{"SLINKERD_BALANCR"}, cfg.IgnoredVariables())
	assert.Equal(t, "127.0.0.1:4141", cfg.Proxy.Listen, "the known variables still apply")

	stray["SLINKERD_STRICT_ENV"] = "of"
	_, err = config.Load(stray)
	require.Error(t, err, "a bad value of SLINKERD_STRICT_ENV itself is refused")
	assert.Contains(t, err.Error(), "SLINKERD_STRICT_ENV")
}
