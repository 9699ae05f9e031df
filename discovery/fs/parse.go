package fs

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
)

// ParseError is a malformed line in a name file. Callers match it with
// errors.As.
type ParseError struct {
	// File is the file's path, as given to ParseFile.
	File string
	// Line is the 1-based line number.
	Line int
	// Text is the offending line, without its comment and surrounding
	// white space, truncated to 80 bytes.
	Text string
	// Msg says what was expected.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error returns e.g. `users:3: invalid port "http": expected a port
// number 1-65535 (line "10.0.0.1 http")`.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s (line %q)", e.File, e.Line, e.Msg, e.Text)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// lineFormat is what every address line must look like (each form may
// end with "zone=name").
const lineFormat = `expected "host port" or "host port * weight"`

// zoneAttr starts the optional zone field of a line.
const zoneAttr = "zone="

// ParseFile parses the contents of an io.l5d.fs name file; file names it
// in errors. Each line is one of
//
//	host port
//	host port * weight
//	host port zone=us-east-1a
//	host port * weight zone=us-east-1a
//
// where host is an IP address (IPv6 optionally in brackets) or a DNS host
// name, port is 1-65535 and weight a positive, finite number (1.0 when
// omitted). The optional last field zone=name sets the endpoint's zone
// (Meta["zone"], read by zone-aware routing); name is non-empty. Fields
// are separated by white space. Blank lines are skipped and '#' at the
// start of a field starts a comment that runs to the end of
// the line. The same host and port may appear only once.
//
// ParseFile returns the addresses in file order, or a *ParseError for the
// first malformed line. An empty file (or one of only comments) is an
// empty set, not an error.
func ParseFile(file string, data []byte) ([]name.Address, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark
	var (
		out  []name.Address
		seen = map[string]int{} // host:port -> line
	)
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		for j, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:j]
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		lineNo := i + 1
		fail := func(msg string, err error) error {
			text := strings.Join(fields, " ")
			if len(text) > 80 {
				text = text[:80] + "…"
			}
			return &ParseError{File: file, Line: lineNo, Text: text, Msg: msg, Err: err}
		}

		zone := ""
		if last := fields[len(fields)-1]; len(fields) > 1 && strings.HasPrefix(last, zoneAttr) {
			zone = strings.TrimPrefix(last, zoneAttr)
			if zone == "" {
				return nil, fail(`empty zone: expected "zone=name"`, nil)
			}
			fields = fields[:len(fields)-1]
		}
		switch {
		case len(fields) == 1 && looksLikeHostPort(fields[0]):
			return nil, fail(lineFormat+`: separate host and port with white space, not ":"`, nil)
		case len(fields) == 3 && strings.HasPrefix(fields[2], "*"):
			return nil, fail(lineFormat+`: separate "*" and the weight with white space`, nil)
		case len(fields) != 2 && len(fields) != 4:
			return nil, fail(lineFormat+fmt.Sprintf(", got %d fields", len(fields)), nil)
		}
		host, _, err := namerkit.ParseHost(fields[0])
		if err != nil {
			return nil, fail(err.Error(), err)
		}
		port, err := namerkit.ParsePort(fields[1])
		if err != nil {
			return nil, fail(err.Error(), err)
		}
		a := name.Address{Host: host, Port: port}
		if len(fields) == 4 {
			if fields[2] != "*" {
				return nil, fail(fmt.Sprintf(`expected "*" before the weight, got %q`, fields[2]), nil)
			}
			w, err := strconv.ParseFloat(fields[3], 64)
			if err != nil || w <= 0 || math.IsInf(w, 0) || math.IsNaN(w) {
				return nil, fail(fmt.Sprintf("invalid weight %q: expected a positive number", fields[3]), nil)
			}
			a.Weight = w
		}
		if zone != "" {
			a.Meta = map[string]string{"zone": zone}
		}
		key := a.HostPort()
		if first, dup := seen[key]; dup {
			return nil, fail(fmt.Sprintf("duplicate address %s: first on line %d", key, first), nil)
		}
		seen[key] = lineNo
		out = append(out, a)
	}
	return out, nil
}

// looksLikeHostPort reports whether s is "host:port" written as one field.
func looksLikeHostPort(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return false // a lone IPv6 address
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = namerkit.ParsePort(port)
	return err == nil
}
