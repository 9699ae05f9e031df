package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/core/config"
)

// FuzzLoad feeds arbitrary values to a mix of variable types. Load must
// never panic; it either returns a Config that validates and prints, or
// only *VarErrors that name the variable they are about. Run it with
//
//	go test ./core/config -run '^$' -fuzz FuzzLoad -fuzztime 60s
func FuzzLoad(f *testing.F) {
	f.Add("auto", "10s", "0.2", "header", "127.0.0.1:4140", "off", "", "5", "/svc", "UNAVAILABLE")
	f.Add("lambda", "-1s", "NaN", "path:3", "[::1]:0", "on", "a=b,c=%20", "0", "/", "14,unavailable")
	f.Add("", "9223372036854775807ns", "1e309", "header:l5d-name", ":http", "ON", "=", "-1", "//", ",")
	f.Add("k8s", "1h1h", "-0", "path:99999999999999999999", "host:65536", "\x00", "a=%zz", "0x5", `/a\x4`, "17")
	f.Fuzz(func(t *testing.T, mode, timeout, percent, identifier, listen, override, headers, effort, prefix, codes string) {
		environ := map[string]string{
			"SLINKERD_MODE":                 mode,
			"SLINKERD_TIMEOUT_TOTAL":        timeout,
			"SLINKERD_RETRY_PERCENT":        percent,
			"SLINKERD_IDENTIFIER":           identifier,
			"SLINKERD_LISTEN":               listen,
			"SLINKERD_DTAB_OVERRIDE":        override,
			"SLINKERD_OTLP_HEADERS":         headers,
			"SLINKERD_MAX_EFFORT":           effort,
			"SLINKERD_DST_PREFIX":           prefix,
			"SLINKERD_GRPC_RETRYABLE_CODES": codes,
		}
		cfg, err := config.Load(environ)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Load returned a Config with an error: %v", err)
			}
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			for _, e := range errs {
				var ve *config.VarError
				if !errors.As(e, &ve) {
					t.Fatalf("not a *VarError: %v", e)
				}
				if _, ok := environ[ve.Var]; !ok && ve.Var != "SLINKERD_TLS_KEY" {
					t.Fatalf("error about a variable that was not set: %v", e)
				}
				if !strings.HasPrefix(e.Error(), ve.Var+"=") {
					t.Fatalf("error does not start with the variable: %v", e)
				}
				if ve.Var == "SLINKERD_OTLP_HEADERS" && headers != "" && ve.Value != config.Redacted {
					t.Fatalf("secret value in error: %v", e)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted what Validate rejects: %v", err)
		}
		if _, err := config.ParseIdentifier(cfg.Routing.Identifier); err != nil {
			t.Fatalf("accepted identifier does not parse: %v", err)
		}
		var text, js bytes.Buffer
		if err := cfg.Print(&text, config.FormatText); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Print(&js, config.FormatJSON); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(js.Bytes()) {
			t.Fatalf("invalid JSON:\n%s", js.Bytes())
		}
		if headers != "" && !strings.Contains(text.String(), "SLINKERD_OTLP_HEADERS='[REDACTED]'\n") {
			t.Fatalf("secret not redacted:\n%s", text.String())
		}
	})
}
