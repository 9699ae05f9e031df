package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Print formats for Config.Print.
const (
	// FormatText prints one VAR=value line per variable, in the order of
	// the reference table, quoted for a POSIX shell where needed.
	FormatText = "text"
	// FormatJSON prints Config.JSON.
	FormatJSON = "json"
)

// Print writes the effective configuration, every variable including
// defaults, to w in format FormatText ("" means text) or FormatJSON, for
// `slinkerd config`. Secrets print as Redacted.
func (c *Config) Print(w io.Writer, format string) error {
	switch format {
	case FormatText, "":
		var b bytes.Buffer
		vars := variables()
		for i := range vars {
			v := &vars[i]
			b.WriteString(v.Name)
			b.WriteByte('=')
			b.WriteString(shellQuote(v.format(v.value(c))))
			b.WriteByte('\n')
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return fmt.Errorf("config: print: %w", err)
		}
		return nil
	case FormatJSON:
		out, err := c.JSON()
		if err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("config: print: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("config: print: unknown format %q (want %s or %s)", format, FormatText, FormatJSON)
	}
}

// JSON returns the effective configuration as an indented JSON object
// keyed by variable name, in the order of the reference table, for the
// admin server's /config.json. Durations are strings such as "10s";
// numbers and booleans are JSON numbers and booleans; secrets are
// Redacted.
func (c *Config) JSON() ([]byte, error) { return c.jsonWith("") }

// JSONWithVersion is JSON with a first key, "version", giving the build
// that runs this configuration (e.g. "v0.1.0"): what /config.json serves,
// so an operator reading one instance's configuration also reads which
// release applies it.
func (c *Config) JSONWithVersion(version string) ([]byte, error) { return c.jsonWith(version) }

func (c *Config) jsonWith(version string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	if version != "" {
		val, err := json.Marshal(version)
		if err != nil {
			return nil, fmt.Errorf("config: json: version: %w", err)
		}
		fmt.Fprintf(&b, "  \"version\": %s,\n", val)
	}
	vars := variables()
	for i := range vars {
		v := &vars[i]
		val, err := json.Marshal(v.jsonValue(v.value(c)))
		if err != nil {
			return nil, fmt.Errorf("config: json: %s: %w", v.Name, err)
		}
		fmt.Fprintf(&b, "  %q: %s", v.Name, val)
		if i < len(vars)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// format renders a value of this variable the way it is written in the
// environment (secrets redacted).
func (v *Variable) format(val reflect.Value) string {
	switch v.Type {
	case "secret":
		return Secret(val.String()).String()
	case "duration":
		return time.Duration(val.Int()).String()
	case "int":
		return strconv.FormatInt(val.Int(), 10)
	case "float":
		return strconv.FormatFloat(val.Float(), 'g', -1, 64)
	case "bool":
		return strconv.FormatBool(val.Bool())
	default:
		return val.String()
	}
}

// jsonValue is the value of this variable as it appears in JSON.
func (v *Variable) jsonValue(val reflect.Value) any {
	switch v.Type {
	case "int":
		return val.Int()
	case "float":
		if f := val.Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	case "bool":
		return val.Bool()
	}
	return v.format(val)
}

// shellQuote returns s unchanged if a POSIX shell would read it as one
// word as is, and single-quoted otherwise.
func shellQuote(s string) string {
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		b := s[i]
		safe = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("_@%+=:,./-", b) >= 0
	}
	if safe || s == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
