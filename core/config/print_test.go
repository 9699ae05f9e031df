package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./core/config -update to create %s", path)
	assert.Equal(t, string(want), string(got), "%s differs; run go test ./core/config -update if the change is intended", path)
}

func TestPrintGolden(t *testing.T) {
	tests := []struct {
		name    string
		environ map[string]string
		format  string
		file    string
	}{
		{"defaults as text", nil, config.FormatText, "print-default.txt"},
		{"empty format is text", nil, "", "print-default.txt"},
		{"defaults as json", nil, config.FormatJSON, "print-default.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.environ)
			require.NoError(t, err)
			var b bytes.Buffer
			require.NoError(t, cfg.Print(&b, tt.format))
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestPrintUnknownFormat(t *testing.T) {
	err := config.Default().Print(&bytes.Buffer{}, "yaml")
	assert.EqualError(t, err, `config: print: unknown format "yaml" (want text or json)`)
}

type failingWriter struct{}

var errWrite = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestPrintWriteError(t *testing.T) {
	for _, format := range []string{config.FormatText, config.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			assert.ErrorIs(t, config.Default().Print(failingWriter{}, format), errWrite)
		})
	}
}

// TestPrintTextIsShellSyntax checks that a POSIX shell reads each printed
// line back to the value it came from.
func TestPrintTextIsShellSyntax(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dtab := "/svc => /#/io.l5d.fs ;\n# it's a comment\n/svc/a=>/$/inet/127.0.0.1/80 | /$/fail"
	cfg, err := config.Load(env("SLINKERD_DTAB", dtab, "SLINKERD_ID_TOKEN_AUDIENCE", "it's"))
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, cfg.Print(&b, config.FormatText))
	script := filepath.Join(t.TempDir(), "env.sh")
	require.NoError(t, os.WriteFile(script, b.Bytes(), 0o600))
	out, err := exec.Command(sh, "-c", `. "$1"; printf '%s|%s|%s' "$SLINKERD_DTAB" "$SLINKERD_ID_TOKEN_AUDIENCE" "$SLINKERD_LISTEN"`, "sh", script).Output()
	require.NoError(t, err)
	assert.Equal(t, dtab+"|it's|127.0.0.1:4140", string(out))
}

func TestJSON(t *testing.T) {
	cfg, err := config.Load(env("SLINKERD_RETRY_PERCENT", "0.5", "SLINKERD_TIMEOUT_TOTAL", "1m30s", "SLINKERD_ACCESS_LOG", "true"))
	require.NoError(t, err)
	out, err := cfg.JSON()
	require.NoError(t, err)

	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Len(t, got, len(config.Variables()), "one key per variable")
	assert.Equal(t, 0.5, got["SLINKERD_RETRY_PERCENT"])
	assert.Equal(t, "1m30s", got["SLINKERD_TIMEOUT_TOTAL"])
	assert.Equal(t, true, got["SLINKERD_ACCESS_LOG"])
	assert.Equal(t, float64(65536), got["SLINKERD_MAX_HEADER_BYTES"])
	assert.Equal(t, "ewma", got["SLINKERD_BALANCER"])

	// Keys come in the order of the reference table.
	dec := json.NewDecoder(bytes.NewReader(out))
	_, err = dec.Token()
	require.NoError(t, err)
	for _, v := range config.Variables() {
		key, err := dec.Token()
		require.NoError(t, err)
		assert.Equal(t, v.Name, key)
		var skip any
		require.NoError(t, dec.Decode(&skip))
	}
}

// TestSecretsAreRedacted sets a secret and looks for it everywhere a
// Config or its errors can be printed.
func TestSecretsAreRedacted(t *testing.T) {
	const secret = "s3cr3t-t0ken"
	cfg, err := config.Load(env("SLINKERD_OTLP_HEADERS", "authorization=Bearer%20"+secret))
	require.NoError(t, err)
	require.Equal(t, "authorization=Bearer%20"+secret, cfg.Telemetry.OTLPHeaders.Reveal(), "the value is still usable")
	require.Equal(t, "Bearer "+secret, cfg.Telemetry.OTLPHeaderMap()["authorization"])

	var text, js, slogJSON, slogText bytes.Buffer
	require.NoError(t, cfg.Print(&text, config.FormatText))
	require.NoError(t, cfg.Print(&js, config.FormatJSON))
	rawJSON, err := json.Marshal(cfg)
	require.NoError(t, err)
	slog.New(slog.NewJSONHandler(&slogJSON, nil)).Info("config", "cfg", cfg, "headers", cfg.Telemetry.OTLPHeaders)
	slog.New(slog.NewTextHandler(&slogText, nil)).Info("config", "cfg", cfg, "headers", cfg.Telemetry.OTLPHeaders)

	outputs := map[string]string{
		"Print text":    text.String(),
		"Print json":    js.String(),
		"json.Marshal":  string(rawJSON),
		"%v":            fmt.Sprintf("%v", cfg),
		"%+v":           fmt.Sprintf("%+v", cfg),
		"%#v":           fmt.Sprintf("%#v", cfg),
		"%s secret":     fmt.Sprintf("<%s>", cfg.Telemetry.OTLPHeaders),
		"%q secret":     fmt.Sprintf("%q", cfg.Telemetry.OTLPHeaders),
		"%#v secret":    fmt.Sprintf("%#v", cfg.Telemetry.OTLPHeaders),
		"slog json":     slogJSON.String(),
		"slog text":     slogText.String(),
		"Variables doc": fmt.Sprint(config.Variables()),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, out, secret)
		})
	}
	assert.Contains(t, text.String(), "SLINKERD_OTLP_HEADERS='[REDACTED]'\n")
	assert.Contains(t, js.String(), `"SLINKERD_OTLP_HEADERS": "[REDACTED]"`)
	assert.Contains(t, slogJSON.String(), `"headers":"[REDACTED]"`)

	// Errors about a secret never quote it either.
	for _, bad := range []string{secret, "a=%zz" + secret, secret + "=x,=" + secret, "a b" + secret + "=1"} {
		_, err := config.Load(env("SLINKERD_OTLP_HEADERS", bad))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
		assert.True(t, strings.HasPrefix(err.Error(), `SLINKERD_OTLP_HEADERS="[REDACTED]": must be`), err.Error())
	}
	// Nor does the error for a mistyped secret's name.
	_, err = config.Load(env("SLINKERD_OTLP_HEADER", "authorization="+secret))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "did you mean SLINKERD_OTLP_HEADERS?")
}

func TestSecretEmptyStaysVisible(t *testing.T) {
	var s config.Secret
	assert.Equal(t, "", s.String())
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `""`, string(b))
	assert.Equal(t, config.Redacted, config.Secret("x").String())
}

// JSONWithVersion puts the build's version first, then the variables.
func TestJSONWithVersion(t *testing.T) {
	cfg, err := config.Load(env())
	require.NoError(t, err)
	out, err := cfg.JSONWithVersion("v1.2.3")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, "v1.2.3", got["version"])
	assert.Len(t, got, len(config.Variables())+1)
	dec := json.NewDecoder(bytes.NewReader(out))
	_, err = dec.Token()
	require.NoError(t, err)
	key, err := dec.Token()
	require.NoError(t, err)
	assert.Equal(t, "version", key, "the version comes first")
}
