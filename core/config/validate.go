package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VarError is one bad environment variable. Load and Validate return every
// problem at once, joined with errors.Join; use errors.As to reach them.
type VarError struct {
	// Var is the variable, e.g. SLINKERD_BALANCER.
	Var string
	// Value is the bad value as given, or Redacted for a Secret.
	Value string
	// Reason says what is allowed, e.g. "must be one of ewma, p2c,
	// roundrobin".
	Reason string
	// Err is the underlying cause, if any.
	Err error

	// also is a second variable the problem involves (min ≤ max, both or
	// neither), so Load can drop knock-on errors of a variable that did
	// not parse.
	also string
}

// Error returns e.g. `SLINKERD_BALANCER="foo": must be one of ewma, p2c,
// roundrobin`.
func (e *VarError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
}

// Unwrap returns the underlying cause.
func (e *VarError) Unwrap() error { return e.Err }

// Validate checks every field against the rules in its struct tags and
// the rules that tie fields together, and returns all problems joined
// (errors.Join), each a *VarError; nil means the configuration is usable.
// The dtab and policy hooks given to Load are applied too; a Config built
// by hand has none, so its SLINKERD_DTAB and SLINKERD_SVC_POLICY are not
// parsed. Paths in SLINKERD_TLS_CERT, SLINKERD_TLS_KEY and SLINKERD_FS_DIR
// are checked on the file system.
func (c *Config) Validate() error {
	errs := c.problems(nil)
	sortByVariable(errs, variableIndex())
	return errors.Join(errs...)
}

// problems lists what Validate reports, leaving out errors about the
// variables in skip (which did not parse, so hold their defaults).
func (c *Config) problems(skip map[string]bool) []error {
	var errs []error
	failed := make(map[string]bool, len(skip))
	for k := range skip {
		failed[k] = true
	}
	vars := variables()
	for i := range vars {
		if skip[vars[i].Name] {
			continue
		}
		if err := vars[i].validate(c); err != nil {
			errs = append(errs, err)
			failed[err.Var] = true
		}
	}
	// A rule between two variables says nothing new when either of them
	// is already wrong on its own.
	for _, err := range c.crossCheck() {
		if !failed[err.Var] && !failed[err.also] {
			errs = append(errs, err)
		}
	}
	return errs
}

// validate checks one variable's value in c against its rules.
func (v *Variable) validate(c *Config) *VarError {
	val := v.value(c)
	bad := func(reason string, err error) *VarError {
		return &VarError{Var: v.Name, Value: v.format(val), Reason: reason, Err: err}
	}
	switch v.Type {
	case "string", "secret":
		s := val.String()
		if s == "" {
			if v.Default == "" {
				return nil // empty is the default: off / not set
			}
			if len(v.rules.oneof) > 0 {
				return bad("must be one of "+strings.Join(v.rules.oneof, ", "), nil)
			}
			return bad("must not be empty", nil)
		}
		if len(v.rules.oneof) > 0 && !slices.Contains(v.rules.oneof, s) {
			extra := c.validators.choices[v.Name]
			if !slices.Contains(extra, s) {
				return bad("must be one of "+strings.Join(append(slices.Clone(v.rules.oneof), extra...), ", "), nil)
			}
		}
		if v.rules.check != "" {
			if err := checks[v.rules.check].fn(c, s); err != nil {
				return bad(err.Error(), err)
			}
		}
	case "int", "float", "duration":
		x := numeric(val)
		lo, hi := v.rules.bounds(v.Type)
		if math.IsNaN(x) || x < lo || x > hi {
			return bad(v.rules.rangeReason(v.Type), nil)
		}
	}
	return nil
}

// crossCheck applies the rules that tie two variables together.
func (c *Config) crossCheck() []*VarError {
	var errs []*VarError
	bothOrNeither := func(a, b string, va, vb string) {
		if va != "" && vb == "" {
			errs = append(errs, &VarError{Var: b, Value: vb, Reason: "must be set when " + a + " is set (set both or neither)", also: a})
		}
	}
	bothOrNeither("SLINKERD_TLS_CERT", "SLINKERD_TLS_KEY", c.Proxy.TLSCert, c.Proxy.TLSKey)
	bothOrNeither("SLINKERD_TLS_KEY", "SLINKERD_TLS_CERT", c.Proxy.TLSKey, c.Proxy.TLSCert)

	ordered := func(lo, hi string, vlo, vhi time.Duration) {
		if vhi < vlo {
			errs = append(errs, &VarError{Var: hi, Value: vhi.String(), Reason: fmt.Sprintf("must be at least %s (%s)", lo, vlo), also: lo})
		}
	}
	ordered("SLINKERD_RETRY_BACKOFF_MIN", "SLINKERD_RETRY_BACKOFF_MAX", c.Retry.BackoffMin, c.Retry.BackoffMax)
	ordered("SLINKERD_ACCRUAL_BACKOFF_MIN", "SLINKERD_ACCRUAL_BACKOFF_MAX", c.Accrual.BackoffMin, c.Accrual.BackoffMax)

	if c.Routing.IdentifierConsume {
		if id, err := ParseIdentifier(c.Routing.Identifier); err == nil && id.Kind != IdentifierPath {
			errs = append(errs, &VarError{Var: "SLINKERD_IDENTIFIER_CONSUME", Value: "true",
				Reason: "applies only to SLINKERD_IDENTIFIER=path:N, not " + strconv.Quote(c.Routing.Identifier), also: "SLINKERD_IDENTIFIER"})
		}
	}
	return errs
}

// describe returns the human-readable Allowed text of a variable of type
// typ with these rules, or an error if the rules do not fit the type.
func (r rules) describe(typ string) (string, error) {
	var parts []string
	if len(r.oneof) > 0 {
		if typ != "string" {
			return "", fmt.Errorf("oneof on a %s", typ)
		}
		parts = append(parts, strings.Join(r.oneof, ", "))
	}
	if r.min != "" || r.max != "" {
		if typ != "int" && typ != "float" && typ != "duration" {
			return "", fmt.Errorf("min/max on a %s", typ)
		}
		for _, b := range []string{r.min, r.max} {
			if b == "" {
				continue
			}
			if _, err := parseBound(typ, b); err != nil {
				return "", fmt.Errorf("bad bound %q: %w", b, err)
			}
		}
		switch {
		case r.max == "" && isZero(typ, r.min):
			parts = append(parts, "not negative")
		case r.max == "":
			parts = append(parts, "at least "+r.min)
		case r.min == "":
			parts = append(parts, "at most "+r.max)
		default:
			parts = append(parts, r.min+" to "+r.max)
		}
	}
	if r.check != "" {
		ch, ok := checks[r.check]
		if !ok {
			return "", fmt.Errorf("unknown check %q", r.check)
		}
		if typ != "string" && typ != "secret" {
			return "", fmt.Errorf("check on a %s", typ)
		}
		parts = append(parts, ch.allowed)
	}
	return strings.Join(parts, "; "), nil
}

// rangeReason says what min and max allow, as a VarError reason.
func (r rules) rangeReason(typ string) string {
	switch {
	case r.max == "" && isZero(typ, r.min):
		return "must not be negative"
	case r.max == "":
		return "must be at least " + r.min
	case r.min == "":
		return "must be at most " + r.max
	default:
		return "must be between " + r.min + " and " + r.max
	}
}

// bounds returns the inclusive numeric range of the rules' min and max.
func (r rules) bounds(typ string) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if r.min != "" {
		lo, _ = parseBound(typ, r.min)
	}
	if r.max != "" {
		hi, _ = parseBound(typ, r.max)
	}
	return lo, hi
}

func parseBound(typ, s string) (float64, error) {
	switch typ {
	case "duration":
		d, err := time.ParseDuration(s)
		return float64(d), err
	case "int":
		n, err := strconv.ParseInt(s, 10, 64)
		return float64(n), err
	default:
		return strconv.ParseFloat(s, 64)
	}
}

func isZero(typ, s string) bool {
	x, err := parseBound(typ, s)
	return err == nil && x == 0
}

// numeric returns an int, float or duration field's value as a float64
// (exact for every value these fields hold in practice).
func numeric(v reflect.Value) float64 {
	switch v.Kind() {
	case reflect.Float64:
		return v.Float()
	default:
		return float64(v.Int())
	}
}
