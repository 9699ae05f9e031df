package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Load reads a Config from environ (variable name → value; nil is an
// empty environment) and validates it. The process environment is never
// read, so tests can call Load in parallel. Unset or empty variables take
// their defaults.
//
// On any problem Load returns a nil Config and every problem joined
// (errors.Join), each a *VarError naming the variable, the value and what
// is allowed: values that do not parse, values that Validate rejects, and
// SLINKERD_* variables that Config does not read (unless AllowUnknown, or
// SLINKERD_STRICT_ENV=off: then Config.IgnoredVariables lists them).
func Load(environ map[string]string, opts ...Option) (*Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	index := variableIndex()

	// Hand env only the variables it reads (a non-nil map, or env would
	// read the process environment), and catch typos in the rest.
	known := make(map[string]string, len(index))
	var errs []error
	var unknown []string
	for k, v := range environ {
		switch _, ok := index[k]; {
		case ok:
			known[k] = v
		case strings.HasPrefix(k, Prefix) && !o.allowUnknown:
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	// SLINKERD_STRICT_ENV=off lets them through, to be warned about: read
	// here, before the rest, since it decides what the rest may be.
	strict := OnOff(strings.TrimSpace(environ[Prefix+"STRICT_ENV"])).Enabled()
	if strict {
		for _, k := range unknown {
			errs = append(errs, unknownVarError(k, environ[k]))
		}
	}

	l := &loader{index: index, failed: make(map[string]bool)}
	cfg := &Config{validators: o.validators}
	err := env.ParseWithOptions(cfg, env.Options{
		Environment: known,
		Prefix:      Prefix,
		OnSet:       l.onSet,
		FuncMap:     l.funcMap(),
	})
	errs = append(errs, l.errs...)
	if err != nil {
		// The parsers above catch every value error; this is env itself.
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	errs = append(errs, cfg.problems(l.failed)...)
	if len(errs) > 0 {
		sortByVariable(errs, index)
		return nil, errors.Join(errs...)
	}
	if !strict {
		cfg.ignored = unknown
	}
	cfg.platform = PlatformFromEnviron(environ)
	return cfg, nil
}

// sortByVariable orders errors as the reference table orders variables,
// unknown variables (and anything else) first; the sort is stable.
func sortByVariable(errs []error, index map[string]*Variable) {
	rank := func(err error) int {
		var ve *VarError
		if errors.As(err, &ve) {
			if v := index[ve.Var]; v != nil {
				return v.rank
			}
		}
		return -1
	}
	slices.SortStableFunc(errs, func(a, b error) int { return rank(a) - rank(b) })
}

// LoadFromProcess is Load over the process environment (os.Environ).
func LoadFromProcess(opts ...Option) (*Config, error) {
	return Load(EnvironMap(os.Environ()), opts...)
}

// Default returns the configuration with every variable unset. It panics
// only if a default in the struct tags is invalid, which tests rule out.
func Default() *Config {
	cfg, err := Load(nil)
	if err != nil {
		panic(fmt.Sprintf("config: invalid defaults: %v", err))
	}
	return cfg
}

// EnvironMap turns "KEY=value" strings, as os.Environ returns them, into
// a map for Load and Config.ResolveMode. A later duplicate wins.
func EnvironMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// loader turns env's parse errors into VarErrors. env calls OnSet with a
// field's variable name just before it calls that field's parser, so the
// parsers know which variable a bad value came from (env's own ParseError
// names only the Go field).
type loader struct {
	index  map[string]*Variable
	key    string          // the variable being parsed
	failed map[string]bool // variables whose value did not parse
	errs   []error
}

func (l *loader) onSet(key string, _ any, _ bool) { l.key = key }

func (l *loader) funcMap() map[reflect.Type]env.ParserFunc {
	return map[reflect.Type]env.ParserFunc{
		reflect.TypeFor[time.Duration](): l.parser("must be a duration such as 250ms, 10s or 1m30s", "0",
			func(s string) (any, error) { return time.ParseDuration(s) }),
		reflect.TypeFor[int](): l.parser("must be a whole number", "0",
			func(s string) (any, error) { return strconv.Atoi(s) }),
		reflect.TypeFor[int64](): l.parser("must be a whole number", "0",
			func(s string) (any, error) { return strconv.ParseInt(s, 10, 64) }),
		reflect.TypeFor[float64](): l.parser("must be a number such as 0.25", "0",
			func(s string) (any, error) { return strconv.ParseFloat(s, 64) }),
		reflect.TypeFor[bool](): l.parser("must be true or false", "false",
			func(s string) (any, error) { return strconv.ParseBool(s) }),
	}
}

// parser wraps parse: a value that does not parse is recorded as a
// VarError, and the field gets its default instead so that validation
// reports no knock-on errors.
func (l *loader) parser(reason, zero string, parse func(string) (any, error)) env.ParserFunc {
	return func(s string) (any, error) {
		x, err := parse(s)
		if err == nil {
			return x, nil
		}
		value := s
		def := zero
		if v := l.index[l.key]; v != nil {
			if v.Secret {
				value = Redacted
			}
			if v.Default != "" {
				def = v.Default
			}
		}
		l.failed[l.key] = true
		l.errs = append(l.errs, &VarError{Var: l.key, Value: value, Reason: reason, Err: err})
		if x, err := parse(def); err == nil {
			return x, nil
		}
		return parse(zero)
	}
}

// unknownVarError reports a SLINKERD_* variable that Config does not
// read, suggesting the nearest known name. The value is redacted when the
// name looks like it could hold a secret (a mistyped secret's name).
func unknownVarError(name, value string) *VarError {
	var best *Variable
	bestDist := 4 // suggest only names within 3 edits
	vars := variables()
	for i := range vars {
		if d := editDistance(name, vars[i].Name); d < bestDist {
			best, bestDist = &vars[i], d
		}
	}
	reason := "unknown variable"
	if best != nil {
		reason += "; did you mean " + best.Name + "?"
	}
	if value != "" && (best != nil && best.Secret || looksSecret(name)) {
		value = Redacted
	}
	return &VarError{Var: name, Value: value, Reason: reason}
}

// looksSecret reports whether a variable name suggests a secret value.
func looksSecret(name string) bool {
	for _, w := range []string{"TOKEN", "SECRET", "PASSW", "KEY", "HEADER", "AUTH", "CRED", "COOKIE", "SIGN"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
