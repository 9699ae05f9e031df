package retry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PolicyEnvVar is the environment variable that holds the per-service
// policies in the syntax of [ParsePolicies].
const PolicyEnvVar = "SLINKERD_SVC_POLICY"

// DefaultReplayBufferBytes is the default replay buffer: 64 KiB (linkerd 1
// used 16 KiB; request bodies have grown, and memory is cheap next to a
// failed call).
const DefaultReplayBufferBytes = 64 << 10

// maxReplayBufferBytes bounds the replay buffer the policy syntax accepts.
const maxReplayBufferBytes = 1 << 30

// Policy is everything that decides how requests to one service are
// retried and timed out. [DefaultPolicy] returns the defaults; [Resolve]
// applies per-service entries on top of a global policy.
type Policy struct {
	// ClassifierName is the canonical name of Classifier (see [Lookup]).
	// Defaults to "nonRetryable5XX".
	ClassifierName string
	// Classifier classifies each attempt's outcome. DefaultPolicy,
	// ParsePolicies and Resolve set it together with ClassifierName.
	// Defaults to NonRetryable5XX.
	Classifier Classifier `json:"-"`
	// Budget configures the service's retry budget (TTL in seconds 1–60,
	// MinRetriesPerSec in retries per second, PercentCanRetry as a
	// fraction). Defaults to DefaultBudgetConfig(): 10s, 10/s, 0.2.
	Budget BudgetConfig
	// BackoffMin is the shortest wait before an application retry
	// (decorrelated jitter); 0 means no wait. Requeues never wait. Go
	// duration. Defaults to 10ms.
	BackoffMin time.Duration
	// BackoffMax is the longest wait before an application retry; at least
	// BackoffMin. Go duration. Defaults to 1s.
	BackoffMax time.Duration
	// AttemptTimeout bounds each attempt; 0 means none. Go duration.
	// Defaults to 0.
	AttemptTimeout time.Duration
	// TotalTimeout bounds the request over all attempts and backoffs; 0
	// means none. Go duration. Defaults to 0.
	TotalTimeout time.Duration
	// ReplayBufferBytes is how much of a request body, in bytes, is kept so
	// that the request can be sent again; a longer body is not retried
	// once sent. 0 means bodies are never replayed. Defaults to 65536
	// (64 KiB).
	ReplayBufferBytes int
	// Sign says whether and how each attempt's request is signed with AWS
	// Signature Version 4 (key sign). The zero value, the default, signs
	// nothing.
	Sign SignSpec
}

// SignSpec names the AWS service (and optionally the region) whose
// SigV4 signature requests to a service carry: "lambda" for Lambda
// Function URLs with AWS_IAM auth, "execute-api" for API Gateway IAM
// routes, "vpc-lattice-svcs" for VPC Lattice services with auth policies,
// or any other signing name.
type SignSpec struct {
	// Service is the signing name; empty means requests are not signed.
	Service string
	// Region is the signing region; empty means AWS_REGION (or the
	// region of the default AWS configuration).
	Region string
}

// String returns the spec as the sign key's value: "lambda",
// "lambda:eu-west-1", or "none" when nothing is signed.
func (s SignSpec) String() string {
	switch {
	case s.Service == "":
		return "none"
	case s.Region == "":
		return s.Service
	}
	return s.Service + ":" + s.Region
}

// DefaultPolicy returns the default policy: nonRetryable5XX, Finagle's
// retry budget (10s, 10/s, 0.2), backoff 10ms to 1s, no timeouts, a 64 KiB
// replay buffer.
func DefaultPolicy() Policy {
	return Policy{
		ClassifierName:    NonRetryable5XX.String(),
		Classifier:        NonRetryable5XX,
		Budget:            DefaultBudgetConfig(),
		BackoffMin:        DefaultBackoffMin,
		BackoffMax:        DefaultBackoffMax,
		ReplayBufferBytes: DefaultReplayBufferBytes,
	}
}

// Validate reports every invalid field of p, naming the field, its value
// and what is allowed. Check the global policy at start; a policy that
// Resolve returns from a valid global policy can still be invalid when
// entries combine badly, e.g. one raises retry-min-backoff above the
// retry-max-backoff that applies.
func (p Policy) Validate() error {
	var errs []error
	if p.Classifier == nil {
		errs = append(errs, fmt.Errorf("retry: policy: no classifier for %q (resolve the name with Lookup)", p.ClassifierName))
	}
	if err := p.Budget.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("retry: policy: %w", err))
	}
	if p.BackoffMin < 0 || p.BackoffMax < p.BackoffMin {
		errs = append(errs, fmt.Errorf("retry: policy: backoff min %v max %v (want 0 ≤ min ≤ max)", p.BackoffMin, p.BackoffMax))
	}
	if p.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("retry: policy: attempt timeout %v is negative (want 0 for none, or more)", p.AttemptTimeout))
	}
	if p.TotalTimeout < 0 {
		errs = append(errs, fmt.Errorf("retry: policy: total timeout %v is negative (want 0 for none, or more)", p.TotalTimeout))
	}
	if p.ReplayBufferBytes < 0 {
		errs = append(errs, fmt.Errorf("retry: policy: replay buffer %d bytes is negative (want 0 or more)", p.ReplayBufferBytes))
	}
	return errors.Join(errs...)
}

// NewBackoff returns the decorrelated-jitter backoff between BackoffMin
// and BackoffMax; int64n is as for [NewDecorrelatedJitter].
func (p Policy) NewBackoff(int64n func(n int64) int64) (*DecorrelatedJitter, error) {
	return NewDecorrelatedJitter(p.BackoffMin, p.BackoffMax, int64n)
}

// PolicyField is a set of Policy fields, one bit per key of the policy
// syntax.
type PolicyField uint16

// The fields a [PolicyEntry] can set, in the order String and
// FormatPolicies write them; the comment gives the key.
const (
	FieldClassifier        PolicyField = 1 << iota // classifier
	FieldTotalTimeout                              // timeout
	FieldAttemptTimeout                            // attempt-timeout
	FieldBackoffMin                                // retry-min-backoff
	FieldBackoffMax                                // retry-max-backoff
	FieldBudgetTTL                                 // retry-budget-ttl
	FieldBudgetMinPerSec                           // retry-budget-min-per-sec
	FieldBudgetPercent                             // retry-budget-percent
	FieldReplayBufferBytes                         // replay-buffer
	FieldSign                                      // sign
	numPolicyFields        = iota
)

// policyKeys are the keys of the policy syntax, indexed by field bit.
var policyKeys = [numPolicyFields]string{
	"classifier",
	"timeout",
	"attempt-timeout",
	"retry-min-backoff",
	"retry-max-backoff",
	"retry-budget-ttl",
	"retry-budget-min-per-sec",
	"retry-budget-percent",
	"replay-buffer",
	"sign",
}

// String returns the keys of the fields in f, joined by '|'.
func (f PolicyField) String() string {
	var keys []string
	for i, k := range policyKeys {
		if f&(1<<i) != 0 {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, "|")
}

// PolicyEntry is one entry of the policy syntax: the fields it sets, for
// the services under Prefix.
type PolicyEntry struct {
	// Prefix selects services, segment by segment: "/svc/users" matches
	// /svc/users and /svc/users/v2, not /svc/users2; a "*" segment matches
	// any one segment; "/" matches every service.
	Prefix string
	// Fields are the fields this entry sets.
	Fields PolicyField
	// Values holds the values of Fields; its other fields are ignored.
	Values Policy
}

// Matches reports whether the entry's prefix matches service, a path such
// as "/svc/users/v2".
func (e PolicyEntry) Matches(service string) bool {
	prefix := strings.TrimPrefix(e.Prefix, "/")
	service = strings.TrimPrefix(service, "/")
	for prefix != "" {
		if service == "" {
			return false
		}
		var want, got string
		want, prefix, _ = strings.Cut(prefix, "/")
		got, service, _ = strings.Cut(service, "/")
		if want != "*" && want != got {
			return false
		}
	}
	return true
}

// String returns the entry in the policy syntax, keys in the canonical
// order; ParsePolicies reads it back to an equal entry (an entry that
// sets no field, which ParsePolicies never returns, prints as "prefix="
// and does not parse).
func (e PolicyEntry) String() string {
	var b strings.Builder
	b.WriteString(e.Prefix)
	b.WriteByte('=')
	sep := ""
	for i, k := range policyKeys {
		f := PolicyField(1) << i
		if e.Fields&f == 0 {
			continue
		}
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(formatValue(f, &e.Values))
		sep = ","
	}
	return b.String()
}

// formatValue writes the value of field f of p.
func formatValue(f PolicyField, p *Policy) string {
	switch f {
	case FieldClassifier:
		return p.ClassifierName
	case FieldTotalTimeout:
		return p.TotalTimeout.String()
	case FieldAttemptTimeout:
		return p.AttemptTimeout.String()
	case FieldBackoffMin:
		return p.BackoffMin.String()
	case FieldBackoffMax:
		return p.BackoffMax.String()
	case FieldBudgetTTL:
		return p.Budget.TTL.String()
	case FieldBudgetMinPerSec:
		return strconv.Itoa(p.Budget.MinRetriesPerSec)
	case FieldBudgetPercent:
		return strconv.FormatFloat(p.Budget.PercentCanRetry, 'g', -1, 64)
	case FieldReplayBufferBytes:
		return formatBytes(p.ReplayBufferBytes)
	case FieldSign:
		return p.Sign.String()
	}
	return ""
}

// FormatPolicies returns entries in the policy syntax, separated by "; ".
func FormatPolicies(entries []PolicyEntry) string {
	s := make([]string, len(entries))
	for i, e := range entries {
		s[i] = e.String()
	}
	return strings.Join(s, "; ")
}

// Resolve returns the policy for service (a path such as "/svc/users/v2"):
// global, then every entry whose prefix matches service applied in order,
// each setting only its own fields, so later entries override earlier
// ones (as in linkerd 1's per-prefix configs; order decides, not
// specificity). global is usually DefaultPolicy() with the global
// settings (SLINKERD_CLASSIFIER, SLINKERD_TIMEOUT_TOTAL, …) applied.
// Resolve does not allocate; callers may still cache its result per
// service name.
func Resolve(global Policy, entries []PolicyEntry, service string) Policy {
	p := global
	for i := range entries {
		if entries[i].Matches(service) {
			p.apply(&entries[i])
		}
	}
	return p
}

// apply sets the fields of p that e sets.
func (p *Policy) apply(e *PolicyEntry) {
	v := &e.Values
	if e.Fields&FieldClassifier != 0 {
		p.ClassifierName, p.Classifier = v.ClassifierName, v.Classifier
	}
	if e.Fields&FieldTotalTimeout != 0 {
		p.TotalTimeout = v.TotalTimeout
	}
	if e.Fields&FieldAttemptTimeout != 0 {
		p.AttemptTimeout = v.AttemptTimeout
	}
	if e.Fields&FieldBackoffMin != 0 {
		p.BackoffMin = v.BackoffMin
	}
	if e.Fields&FieldBackoffMax != 0 {
		p.BackoffMax = v.BackoffMax
	}
	if e.Fields&FieldBudgetTTL != 0 {
		p.Budget.TTL = v.Budget.TTL
	}
	if e.Fields&FieldBudgetMinPerSec != 0 {
		p.Budget.MinRetriesPerSec = v.Budget.MinRetriesPerSec
	}
	if e.Fields&FieldBudgetPercent != 0 {
		p.Budget.PercentCanRetry = v.Budget.PercentCanRetry
	}
	if e.Fields&FieldReplayBufferBytes != 0 {
		p.ReplayBufferBytes = v.ReplayBufferBytes
	}
	if e.Fields&FieldSign != 0 {
		p.Sign = v.Sign
	}
}

// PolicyError is a syntax or value error in a policy string.
type PolicyError struct {
	// Offset is the byte offset in the input where the problem starts.
	Offset int
	// Entry is the text of the entry that holds the problem, trimmed.
	Entry string
	// Msg says what is wrong and what was expected.
	Msg string
	// Err is the underlying error, if any (e.g. from time.ParseDuration).
	Err error
}

// Error returns e.g. `retry: policy: offset 13 in entry "/svc=timeout:x":
// timeout: want a Go duration such as 300ms or 2s: time: invalid duration "x"`.
func (e *PolicyError) Error() string {
	s := fmt.Sprintf("retry: policy: offset %d in entry %q: %s", e.Offset, e.Entry, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns e.Err.
func (e *PolicyError) Unwrap() error { return e.Err }

// ParsePolicies parses per-service policies (the value of
// SLINKERD_SVC_POLICY):
//
//	policies := entry (';' entry)*          empty entries are ignored
//	entry    := prefix '=' setting (',' setting)*
//	prefix   := '/' | ('/' segment)+        segment: [A-Za-z0-9_:.#$%-]+ or '*'
//	setting  := key ':' value
//
// White space around every token is ignored, so entries may sit on
// separate lines. An item without ':' after a classifier setting
// continues the classifier's value, so that "classifier:grpc:14,8" lists
// two gRPC codes. Within an entry each key may appear once; across
// entries, later matching entries override earlier ones (see [Resolve]).
//
// Keys, their Policy field and values:
//
//	classifier               Classifier      a name Lookup accepts: nonRetryable5XX, retryableRead5XX,
//	                                         retryableIdempotent5XX, retryableAll5XX, allSuccessful,
//	                                         grpc, grpc:<codes>, grpcAlwaysRetryable, grpcNeverRetryable
//	timeout                  TotalTimeout    Go duration, 0 = none
//	attempt-timeout          AttemptTimeout  Go duration, 0 = none
//	retry-min-backoff        BackoffMin      Go duration, 0 = no wait
//	retry-max-backoff        BackoffMax      Go duration
//	retry-budget-ttl         Budget.TTL      Go duration, 1s to 60s
//	retry-budget-min-per-sec Budget.MinRetriesPerSec   integer ≥ 0, retries per second
//	retry-budget-percent     Budget.PercentCanRetry    fraction 0 to 1 (0.2) or percentage (20%)
//	replay-buffer            ReplayBufferBytes         bytes: 65536, 64KiB or 1MiB (at most 1GiB)
//	sign                     Sign            AWS SigV4: <service>[:<region>], e.g. lambda, execute-api:eu-west-1,
//	                                         vpc-lattice-svcs; none signs nothing (to exempt a longer prefix)
//
// Example:
//
//	/svc=classifier:retryableRead5XX,timeout:2s; /svc/users=attempt-timeout:300ms,retry-max-backoff:1s;
//	/svc/pay=classifier:nonRetryable5XX; /svc/*/grpc=classifier:grpc:UNAVAILABLE,RESOURCE_EXHAUSTED;
//	/svc/orders=sign:lambda; /svc/inventory=sign:vpc-lattice-svcs:us-east-1
//
// An error is a *[PolicyError] giving the byte offset, the entry and what
// was expected. An empty string parses to no entries.
func ParsePolicies(s string) ([]PolicyEntry, error) {
	var entries []PolicyEntry
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], ';')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if raw := s[start:end]; strings.TrimSpace(raw) != "" {
			e, err := parseEntry(start, raw)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		start = end + 1
	}
	return entries, nil
}

// entryParser parses one entry; off is the entry's offset in the input.
type entryParser struct {
	off int
	raw string
}

// fail returns a PolicyError at offset at (relative to the entry).
func (p *entryParser) fail(at int, err error, format string, args ...any) error {
	return &PolicyError{Offset: p.off + at, Entry: strings.TrimSpace(p.raw), Msg: fmt.Sprintf(format, args...), Err: err}
}

// setting is one key:value of an entry, with the entry-relative offset
// of its value.
type setting struct {
	field   PolicyField
	key     string
	value   string
	valueAt int
	more    bool // a classifier value, which further ',' items without ':' continue
}

// trimmed returns s without surrounding white space and the offset of its
// first byte within s.
func trimmed(s string) (string, int) {
	t := strings.TrimLeft(s, " \t\r\n")
	return strings.TrimRight(t, " \t\r\n"), len(s) - len(t)
}

func parseEntry(off int, raw string) (PolicyEntry, error) {
	p := &entryParser{off: off, raw: raw}
	eq := strings.IndexByte(raw, '=')
	if eq < 0 {
		_, at := trimmed(raw)
		return PolicyEntry{}, p.fail(at, nil, "expected '=' between the service prefix and its settings, as in /svc/users=timeout:2s")
	}
	prefix, at := trimmed(raw[:eq])
	if err := p.checkPrefix(prefix, at); err != nil {
		return PolicyEntry{}, err
	}
	e := PolicyEntry{Prefix: prefix}

	var settings []setting
	pos := eq + 1
	for item := range strings.SplitSeq(raw[eq+1:], ",") {
		text, at := trimmed(item)
		at += pos
		pos += len(item) + 1
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			if n := len(settings); n > 0 && settings[n-1].more && text != "" {
				settings[n-1].value += "," + text
				continue
			}
			if text == "" {
				return e, p.fail(at, nil, "expected key:value, found nothing (a stray ',' or nothing after '=')")
			}
			return e, p.fail(at, nil, "expected key:value, e.g. timeout:2s, found %q", text)
		}
		key, _ := trimmed(k)
		value, vat := trimmed(v)
		f, err := fieldForKey(key)
		if err != nil {
			return e, p.fail(at, nil, "%v", err)
		}
		if e.Fields&f != 0 {
			return e, p.fail(at, nil, "key %q set twice in one entry", key)
		}
		e.Fields |= f
		settings = append(settings, setting{
			field: f, key: key, value: value,
			valueAt: at + len(k) + 1 + vat,
			more:    f == FieldClassifier,
		})
	}
	for _, st := range settings {
		if st.value == "" {
			return e, p.fail(st.valueAt, nil, "%s: expected a value after ':'", st.key)
		}
		if err := p.setValue(&e.Values, st); err != nil {
			return e, err
		}
	}
	if e.Fields&(FieldBackoffMin|FieldBackoffMax) == FieldBackoffMin|FieldBackoffMax && e.Values.BackoffMin > e.Values.BackoffMax {
		return e, p.fail(0, nil, "retry-min-backoff %v is above retry-max-backoff %v", e.Values.BackoffMin, e.Values.BackoffMax)
	}
	return e, nil
}

// checkPrefix validates a service prefix found at entry offset at.
func (p *entryParser) checkPrefix(prefix string, at int) error {
	if !strings.HasPrefix(prefix, "/") {
		return p.fail(at, nil, "expected a service prefix starting with '/', e.g. /svc/users, found %q", prefix)
	}
	if prefix == "/" {
		return nil
	}
	pos := at + 1
	for seg := range strings.SplitSeq(prefix[1:], "/") {
		if seg == "" {
			return p.fail(pos, nil, "empty segment in prefix %q (want /a/b, no '//' or trailing '/')", prefix)
		}
		if seg != "*" {
			for i := range len(seg) {
				if !pathByte(seg[i]) {
					return p.fail(pos+i, nil, "byte %q not allowed in prefix %q (want segments of [A-Za-z0-9_:.#$%%-], or '*')", seg[i], prefix)
				}
			}
		}
		pos += len(seg) + 1
	}
	return nil
}

// pathByte reports whether c may appear in a path segment (DESIGN §2).
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_:.#$%-", c) >= 0
}

// fieldForKey returns the field a key sets.
func fieldForKey(key string) (PolicyField, error) {
	for i, k := range policyKeys {
		if key == k {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown key %q (want one of %s)", key, strings.Join(policyKeys[:], ", "))
}

// setValue parses st's value into the field st names.
func (p *entryParser) setValue(v *Policy, st setting) error {
	switch st.field {
	case FieldClassifier:
		c, err := Lookup(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "classifier: want a classifier name")
		}
		v.Classifier = c
		v.ClassifierName = st.value
		if n, ok := c.(fmt.Stringer); ok {
			v.ClassifierName = n.String()
		}
	case FieldTotalTimeout, FieldAttemptTimeout, FieldBackoffMin, FieldBackoffMax:
		d, err := time.ParseDuration(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "%s: want a Go duration such as 300ms or 2s", st.key)
		}
		if d < 0 {
			return p.fail(st.valueAt, nil, "%s: duration %v is negative (want 0 or more)", st.key, d)
		}
		switch st.field {
		case FieldTotalTimeout:
			v.TotalTimeout = d
		case FieldAttemptTimeout:
			v.AttemptTimeout = d
		case FieldBackoffMin:
			v.BackoffMin = d
		default:
			v.BackoffMax = d
		}
	case FieldBudgetTTL:
		d, err := time.ParseDuration(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "%s: want a Go duration from 1s to 60s", st.key)
		}
		if d < minBudgetTTL || d > maxBudgetTTL {
			return p.fail(st.valueAt, nil, "%s: %v out of range (want 1s to 60s)", st.key, d)
		}
		v.Budget.TTL = d
	case FieldBudgetMinPerSec:
		n, err := strconv.ParseInt(st.value, 10, 32)
		if err != nil || n < 0 {
			return p.fail(st.valueAt, err, "%s: want a whole number of retries per second, 0 or more", st.key)
		}
		v.Budget.MinRetriesPerSec = int(n)
	case FieldBudgetPercent:
		f, err := parseFraction(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "%s: want a fraction from 0 to 1 (0.2) or a percentage (20%%)", st.key)
		}
		v.Budget.PercentCanRetry = f
	case FieldReplayBufferBytes:
		n, err := parseBytes(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "%s: want bytes from 0 to 1GiB, e.g. 65536, 64KiB or 1MiB", st.key)
		}
		v.ReplayBufferBytes = n
	case FieldSign:
		spec, err := ParseSignSpec(st.value)
		if err != nil {
			return p.fail(st.valueAt, err, "%s: want <service>[:<region>] (lambda, execute-api, vpc-lattice-svcs, …) or none", st.key)
		}
		v.Sign = spec
	}
	return nil
}

// ParseSignSpec parses the sign key's value: "<service>[:<region>]" or
// "none". Service and region are lower-case letters, digits and '-'.
func ParseSignSpec(s string) (SignSpec, error) {
	if s == "none" {
		return SignSpec{}, nil
	}
	svc, region, _ := strings.Cut(s, ":")
	if !signName(svc) {
		return SignSpec{}, fmt.Errorf("service %q is not a signing name (lower-case letters, digits, '-')", svc)
	}
	if region != "" && !signName(region) || strings.HasSuffix(s, ":") {
		return SignSpec{}, fmt.Errorf("region %q is not a region name such as us-east-1", region)
	}
	return SignSpec{Service: svc, Region: region}, nil
}

// signName reports whether s is a non-empty run of [a-z0-9-], at most 64
// bytes.
func signName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseFraction parses "0.2" or "20%" to 0.2, in [0, 1], non-zero values
// at least 1e-6.
func parseFraction(s string) (float64, error) {
	num, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, err
	}
	if pct {
		f /= 100
	}
	if !(f >= 0 && f <= 1) || (f > 0 && f < minPercentCanRetry) {
		return 0, fmt.Errorf("%s out of range", s)
	}
	return f, nil
}

// Byte-size suffixes of replay-buffer.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// parseBytes parses "65536", "64KiB" or "1MiB" (suffixes
// case-insensitive, "B" allowed) to bytes in [0, 1GiB].
func parseBytes(s string) (int, error) {
	unit, num := 1, s
	switch {
	case hasSuffixFold(s, "kib"):
		unit, num = kib, s[:len(s)-3]
	case hasSuffixFold(s, "mib"):
		unit, num = mib, s[:len(s)-3]
	case hasSuffixFold(s, "b"):
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > maxReplayBufferBytes/int64(unit) {
		return 0, fmt.Errorf("%s out of range", s)
	}
	return int(n) * unit, nil
}

// hasSuffixFold reports whether s ends with the ASCII suffix, ignoring
// case.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// formatBytes writes n as parseBytes reads it, in the largest exact unit.
func formatBytes(n int) string {
	switch {
	case n != 0 && n%mib == 0:
		return strconv.Itoa(n/mib) + "MiB"
	case n != 0 && n%kib == 0:
		return strconv.Itoa(n/kib) + "KiB"
	default:
		return strconv.Itoa(n)
	}
}

var _ error = (*PolicyError)(nil)
