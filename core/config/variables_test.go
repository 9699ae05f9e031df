package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVariablesMatchEnv checks that our reflection walk names the same
// variables, with the same defaults, as caarlos0/env itself.
func TestVariablesMatchEnv(t *testing.T) {
	params, err := env.GetFieldParamsWithOptions(&Config{}, env.Options{Prefix: Prefix})
	require.NoError(t, err)
	var fromEnv, ours []string
	for _, p := range params {
		fromEnv = append(fromEnv, p.Key+"="+p.DefaultValue)
	}
	seen := map[string]bool{}
	for _, v := range Variables() {
		ours = append(ours, v.Name+"="+v.Default)
		assert.False(t, seen[v.Name], "duplicate variable %s", v.Name)
		seen[v.Name] = true
		assert.True(t, strings.HasPrefix(v.Name, Prefix), v.Name)
		assert.NotEmpty(t, v.Type, v.Name)
	}
	assert.Equal(t, fromEnv, ours)
}

// TestEnumConstants checks that each enum type's Go constants are exactly
// the values its oneof tag allows.
func TestEnumConstants(t *testing.T) {
	tests := []struct {
		name   string
		consts []string
	}{
		{"SLINKERD_MODE", []string{string(ModeAuto), string(ModeContainer), string(ModeLambda), string(ModeCloudRun)}},
		{"SLINKERD_BALANCER", []string{string(BalancerEWMA), string(BalancerP2C), string(BalancerRoundRobin)}},
		{"SLINKERD_CLASSIFIER", []string{string(ClassifierNonRetryable5XX), string(ClassifierRetryableRead5XX),
			string(ClassifierRetryableIdempotent5XX), string(ClassifierRetryableAll5XX), string(ClassifierAllSuccessful), string(ClassifierGRPC)}},
		{"SLINKERD_DTAB_OVERRIDE", []string{string(DtabOverrideOff), string(DtabOverrideOn)}},
		{"SLINKERD_DISCOVERY_BACKGROUND", []string{string(AutoBoolAuto), string(AutoBoolTrue), string(AutoBoolFalse)}},
		{"SLINKERD_LOG_LEVEL", []string{string(LogLevelDebug), string(LogLevelInfo), string(LogLevelWarn), string(LogLevelError)}},
		{"SLINKERD_LOG_FORMAT", []string{string(LogFormatAuto), string(LogFormatJSON), string(LogFormatText)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := variableIndex()[tt.name]
			require.NotNil(t, v)
			assert.ElementsMatch(t, tt.consts, v.rules.oneof)
		})
	}
}

// badChecks has, for every check tag, values it must reject. A new check
// without an entry fails TestEveryVariableRejectsBadValues.
var badChecks = map[string][]string{
	"listen":     {"4140", "localhost", "127.0.0.1:http", "127.0.0.1:65536", "bad host:80", "127.0.0.1:-1"},
	"hostport":   {"run.googleapis.com", ":443", "example.com:0", "exa mple.com:443"},
	"url":        {"127.0.0.1:4318", "ftp://x/", "http://", "://x", "/v1/traces"},
	"file":       {"/nonexistent/slinkerd/cert.pem", "."},
	"dir":        {"/nonexistent/slinkerd/dir", "config.go"},
	"path":       {"svc", "/svc/", "//svc", "/s vc", `/a\x4`},
	"identifier": {"host", "path", "path:0", "path:x", "path:101", "path:+1", "header:", "header:a b", "method-host:x", "Header"},
	"dtab":       {"rejected-by-hook"},
	"policy":     {"rejected-by-hook"},
	"dtabsource": {"/etc/dtab", "ssm:", "appconfig:app/env", "appconfig:app//profile", "https://", "s3:bucket/key"},
	"grpccodes":  {"NOPE", "17", "UNAVAILABLE,", "-1"},
	"attribute":  {"has space", strings.Repeat("a", 256), "tab\there"},
	"word":       {"has space", "nl\n", "\x00"},
	"headers":    {"novalue", "=v", "a=%zz", "a b=c"},
	"namespace":  {"bad\tns", "ns!", strings.Repeat("n", 256)},
	"dimensions": {"Environment", "=prod", "Environment=", strings.Repeat("A=1,", 29) + "B=2"},
}

var errHook = errors.New("hook says no")

func rejectingHook(s string) error {
	if s == "rejected-by-hook" {
		return errHook
	}
	return nil
}

// badValues derives, from a variable's type and rules, values that Load
// must reject. It fails the test for a string variable with no rule, so
// every new variable comes with validation (or an explicit reason).
func badValues(t *testing.T, v *Variable) []string {
	t.Helper()
	var bad []string
	switch v.Type {
	case "duration":
		bad = append(bad, "ten", "10", "1x", "--1s")
	case "int":
		bad = append(bad, "ten", "1.5", "0x10", "99999999999999999999999")
	case "float":
		bad = append(bad, "ten", "1,5", "NaN")
	case "bool":
		bad = append(bad, "yes", "on", "2")
	}
	if v.rules.min != "" {
		lo, err := parseBound(v.Type, v.rules.min)
		require.NoError(t, err)
		bad = append(bad, numberLiteral(v.Type, lo, -1))
	}
	if v.rules.max != "" {
		hi, err := parseBound(v.Type, v.rules.max)
		require.NoError(t, err)
		bad = append(bad, numberLiteral(v.Type, hi, +1))
	}
	if len(v.rules.oneof) > 0 {
		bad = append(bad, "bogus", strings.ToUpper(v.rules.oneof[0])+"x", " "+v.rules.oneof[0])
	}
	if v.rules.check != "" {
		examples, ok := badChecks[v.rules.check]
		require.True(t, ok, "check %q has no bad examples in badChecks", v.rules.check)
		bad = append(bad, examples...)
	}
	if len(bad) == 0 {
		t.Fatalf("%s (%s) has no validation rule: give it a oneof, min, max or check tag", v.Name, v.Field)
	}
	return bad
}

// numberLiteral writes a value just outside bound x (dir -1: below, +1:
// above) in the variable's syntax.
func numberLiteral(typ string, x float64, dir int) string {
	switch typ {
	case "duration":
		return time.Duration(x + float64(dir)*float64(time.Millisecond)).String()
	case "int":
		return strconv.FormatInt(int64(x)+int64(dir), 10)
	default:
		return strconv.FormatFloat(x+float64(dir)*0.01, 'g', -1, 64)
	}
}

// TestEveryVariableRejectsBadValues loops over every variable, so a new
// field cannot skip validation: each bad value must fail Load with exactly
// one *VarError that names the variable and quotes the value.
func TestEveryVariableRejectsBadValues(t *testing.T) {
	for i := range Variables() {
		v := &Variables()[i]
		for _, bad := range badValues(t, v) {
			t.Run(v.Name+"="+bad, func(t *testing.T) {
				environ := map[string]string{v.Name: bad}
				// A lone TLS file would also trip "both or neither".
				if v.Name == "SLINKERD_TLS_CERT" || v.Name == "SLINKERD_TLS_KEY" {
					f := filepath.Join(t.TempDir(), "f")
					require.NoError(t, writeFile(f))
					environ["SLINKERD_TLS_CERT"], environ["SLINKERD_TLS_KEY"] = f, f
					environ[v.Name] = bad
				}
				cfg, err := Load(environ, WithDtabValidator(rejectingHook), WithPolicyValidator(rejectingHook))
				require.Error(t, err)
				assert.Nil(t, cfg)
				errs := err.(interface{ Unwrap() []error }).Unwrap()
				require.Len(t, errs, 1, "%v", err)
				var ve *VarError
				require.ErrorAs(t, errs[0], &ve)
				assert.Equal(t, v.Name, ve.Var)
				want := strconv.Quote(bad)
				if v.Secret {
					want = strconv.Quote(Redacted)
				}
				assert.True(t, strings.HasPrefix(err.Error(), v.Name+"="+want+": "), err.Error())
			})
		}
	}
}

// TestParsersCoverEveryType checks that every non-string field type has a
// parser of ours, so env never reports an error that lacks the variable.
func TestParsersCoverEveryType(t *testing.T) {
	fm := (&loader{}).funcMap()
	cfg := reflect.ValueOf(&Config{}).Elem()
	for i := range Variables() {
		v := &Variables()[i]
		ft := cfg.FieldByIndex(v.index).Type()
		if ft.Kind() == reflect.String {
			continue
		}
		_, ok := fm[ft]
		assert.True(t, ok, "%s: no parser for %s", v.Name, ft)
	}
}

func TestRulesDescribeRejectsMisuse(t *testing.T) {
	tests := []struct {
		name string
		r    rules
		typ  string
	}{
		{"oneof on int", rules{oneof: []string{"a"}}, "int"},
		{"min on string", rules{min: "1"}, "string"},
		{"bad bound", rules{min: "1x"}, "duration"},
		{"unknown check", rules{check: "nope"}, "string"},
		{"check on int", rules{check: "url"}, "int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.describe(tt.typ)
			assert.Error(t, err)
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "abc", "abc", 0},
		{"empty", "", "abc", 3},
		{"one typo", "SLINKERD_BALANCR", "SLINKERD_BALANCER", 1},
		{"swap", "ab", "ba", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, editDistance(tt.a, tt.b))
		})
	}
}

func writeFile(name string) error { return os.WriteFile(name, []byte("x"), 0o600) }
