package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// checker is a named validation rule for string fields (the check tag).
type checker struct {
	// allowed describes the accepted values in the reference table.
	allowed string
	// fn returns why s is not accepted, phrased to follow `VAR="value": `,
	// or nil. It must not quote s back: the value may be a Secret.
	fn func(c *Config, s string) error
}

// checks are the rules a check tag can name. Empty values are never
// checked: a field whose default is empty is off when empty.
var checks = map[string]checker{
	"listen":     {"host:port; empty host = every interface, port 0 = any free port", checkListen},
	"hostport":   {"host:port", checkHostPort},
	"url":        {"absolute http:// or https:// URL", checkURL},
	"file":       {"path of a readable file", checkFile},
	"dir":        {"path of a directory", checkDir},
	"path":       {"a path such as /svc", checkPath},
	"identifier": {"header, path:N, method-host or header:NAME", checkIdentifier},
	"dtab":       {"a dtab: dentry (';' dentry)*", checkDtab},
	"policy":     {"per-service policy (see the retry package)", checkPolicy},
	"grpccodes":  {"comma-separated gRPC code names or numbers 0 to 16", checkGRPCCodes},
	"attribute":  {"Cloud Map attribute name: 1 to 255 printable ASCII characters, no spaces", checkAttribute},
	"word":       {"printable characters, no spaces", checkWord},
	"headers":    {"comma-separated key=value pairs, values URL-encoded", checkHeaders},
	"namespace":  {"CloudWatch namespace: 1 to 255 of A-Z a-z 0-9 . - _ / # : and space", checkNamespace},
	"dimensions": {"comma-separated Name=Value pairs, names and values non-empty, at most 29", checkDimensions},
	"dtabsource": {"ssm:/name, appconfig:app/env/profile, https://… or file:/path", checkDtabSource},
}

// checkDtabSource checks SLINKERD_DTAB_SOURCE's form; the source is
// built, and its store reached, at start.
func checkDtabSource(_ *Config, s string) error {
	scheme, rest, _ := strings.Cut(s, ":")
	switch {
	case rest == "":
	case scheme == "ssm", scheme == "file":
		return nil
	case scheme == "appconfig" && strings.Count(rest, "/") == 2 && !strings.Contains("/"+rest+"/", "//"):
		return nil
	case scheme == "https", scheme == "http":
		return checkURL(nil, s)
	}
	return errors.New("must be ssm:/name, appconfig:application/environment/profile, https://… or file:/path")
}

func checkListen(_ *Config, s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port, e.g. 127.0.0.1:4140: %w", err)
	}
	if err := checkPort(port, 0); err != nil {
		return err
	}
	if host != "" && !validHost(host) {
		return errors.New("must be host:port with an IP address or DNS name as host")
	}
	return nil
}

func checkHostPort(_ *Config, s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port, e.g. run.googleapis.com:443: %w", err)
	}
	if err := checkPort(port, 1); err != nil {
		return err
	}
	if !validHost(host) {
		return errors.New("must be host:port with an IP address or DNS name as host")
	}
	return nil
}

func checkPort(port string, lowest int) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < lowest || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return fmt.Errorf("must be host:port with a port number from %d to 65535", lowest)
	}
	return nil
}

// validHost accepts an IP address or a DNS name (letters, digits, '-',
// '_' and '.'; labels of at most 63 bytes).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_')) {
				return false
			}
		}
	}
	return true
}

func checkURL(_ *Config, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("must be an absolute http:// or https:// URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}

func checkFile(_ *Config, s string) error {
	f, err := os.Open(s)
	if err != nil {
		return fmt.Errorf("must be a readable file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("must be a readable file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return errors.New("must be a readable file, not a directory or device")
	}
	return nil
}

func checkDir(_ *Config, s string) error {
	fi, err := os.Stat(s)
	if err != nil {
		return fmt.Errorf("must be a directory: %w", err)
	}
	if !fi.IsDir() {
		return errors.New("must be a directory")
	}
	return nil
}

// checkPath accepts a name path as core/name writes it: "/" or
// ("/" segment)+, each segment of [0-9A-Za-z_:.#$%-] or \xNN escapes.
func checkPath(_ *Config, s string) error {
	const bad = "must be a path such as /svc: '/' then segments of letters, digits and _:.#$%-"
	if s == "/" {
		return nil
	}
	if !strings.HasPrefix(s, "/") {
		return errors.New(bad)
	}
	for _, seg := range strings.Split(s[1:], "/") {
		if seg == "" {
			return errors.New(bad + ", none empty")
		}
		for i := 0; i < len(seg); i++ {
			switch b := seg[i]; {
			case isShowable(b):
			case b == '\\' && i+3 < len(seg) && seg[i+1] == 'x' && isHex(seg[i+2]) && isHex(seg[i+3]):
				i += 3
			default:
				return errors.New(bad)
			}
		}
	}
	return nil
}

func isShowable(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("_:.#$%-", b) >= 0
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func checkIdentifier(_ *Config, s string) error {
	_, err := ParseIdentifier(s)
	return err
}

func checkDtab(c *Config, s string) error {
	if c.validators.dtab == nil {
		return nil
	}
	if err := c.validators.dtab(s); err != nil {
		return fmt.Errorf("invalid dtab: %w", err)
	}
	return nil
}

func checkPolicy(c *Config, s string) error {
	if c.validators.policy == nil {
		return nil
	}
	if err := c.validators.policy(s); err != nil {
		return fmt.Errorf("invalid policy: %w", err)
	}
	return nil
}

// grpcCodes are the canonical gRPC status code names, indexed by code.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// parseGRPCCodes parses a comma-separated list of gRPC code names (any
// case) or numbers.
func parseGRPCCodes(s string) ([]uint32, error) {
	var out []uint32
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if n, err := strconv.ParseUint(item, 10, 32); err == nil && n < uint64(len(grpcCodes)) {
			out = append(out, uint32(n))
			continue
		}
		found := false
		for code, name := range grpcCodes {
			if strings.EqualFold(item, name) {
				out = append(out, uint32(code))
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("must be comma-separated gRPC codes, names such as UNAVAILABLE or numbers 0 to 16; %q is neither", item)
		}
	}
	return out, nil
}

func checkGRPCCodes(_ *Config, s string) error {
	_, err := parseGRPCCodes(s)
	return err
}

// RetryableGRPCCodes returns SLINKERD_GRPC_RETRYABLE_CODES as code numbers
// (convert each with codes.Code(n)). It returns nil if the value is not
// valid, which Validate reports.
func (r RetryConfig) RetryableGRPCCodes() []uint32 {
	codes, _ := parseGRPCCodes(r.GRPCRetryableCodes)
	return codes
}

func checkAttribute(_ *Config, s string) error {
	if len(s) > 255 {
		return errors.New("must be a Cloud Map attribute name of at most 255 characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return errors.New("must be a Cloud Map attribute name: printable ASCII characters, no spaces")
		}
	}
	return nil
}

func checkWord(_ *Config, s string) error {
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return errors.New("must be printable characters without spaces")
		}
	}
	return nil
}

// parseHeaders parses comma-separated key=value pairs with URL-encoded
// values. Its errors never contain the input, which may be secret.
func parseHeaders(s string) (map[string]string, error) {
	out := make(map[string]string)
	for i, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !validToken(k) {
			return nil, fmt.Errorf("must be comma-separated key=value pairs: pair %d has no valid header name before '='", i+1)
		}
		dv, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("must be comma-separated key=value pairs: the value of pair %d is not URL-encoded", i+1)
		}
		out[k] = dv
	}
	return out, nil
}

func checkHeaders(_ *Config, s string) error {
	_, err := parseHeaders(s)
	return err
}

// OTLPHeaderMap returns SLINKERD_OTLP_HEADERS decoded into header names
// and values, or nil if it is empty or not valid (which Validate reports).
func (t TelemetryConfig) OTLPHeaderMap() map[string]string {
	if t.OTLPHeaders == "" {
		return nil
	}
	m, _ := parseHeaders(t.OTLPHeaders.Reveal())
	return m
}

// validToken reports whether s is an HTTP token (RFC 9110 tchar+), the
// syntax of a header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(isShowable(b) && b != ':' || strings.IndexByte("!&'*+^`|~", b) >= 0) {
			return false
		}
	}
	return true
}

// checkNamespace accepts a CloudWatch namespace.
func checkNamespace(_ *Config, s string) error {
	if len(s) > 255 {
		return errors.New("must be at most 255 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_/#: ", r)) {
			return fmt.Errorf("must hold only letters, digits, spaces and . - _ / # : (not %q)", r)
		}
	}
	return nil
}

// checkDimensions accepts Name=Value,... for EMF dimensions; the
// telemetry package checks the rest (reserved names, duplicates, 30 keys
// with FunctionName and Service).
func checkDimensions(_ *Config, s string) error {
	parts := strings.Split(s, ",")
	if len(parts) > 29 {
		return fmt.Errorf("must be at most 29 pairs (CloudWatch allows 30 dimensions with Service), not %d", len(parts))
	}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("must be Name=Value pairs with non-empty names and values, not %q", strings.TrimSpace(p))
		}
	}
	return nil
}
