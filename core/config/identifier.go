package config

import (
	"errors"
	"strconv"
	"strings"
)

// IdentifierKind is the kind of an Identifier.
type IdentifierKind string

// The identifier kinds.
const (
	// IdentifierHeader names the request by its Host header (:authority on
	// HTTP/2), port stripped, as one segment: /svc/<host>. Written
	// "header".
	IdentifierHeader IdentifierKind = "header"
	// IdentifierPath names the request by the first Segments segments of
	// its path: /svc/<seg1>/…/<segN>. Written "path:N".
	IdentifierPath IdentifierKind = "path"
	// IdentifierMethodHost names the request by method and host:
	// /svc/<METHOD>/<host>. Written "method-host".
	IdentifierMethodHost IdentifierKind = "method-host"
	// IdentifierHeaderPath reads a whole path from the header named
	// Header: /svc + the header's path. Written "header:NAME".
	IdentifierHeaderPath IdentifierKind = "header-path"
)

// MaxIdentifierSegments is the largest N that path:N accepts.
const MaxIdentifierSegments = 100

// Identifier is a parsed SLINKERD_IDENTIFIER.
type Identifier struct {
	// Kind says how the name is built.
	Kind IdentifierKind
	// Segments is N for IdentifierPath (1 to MaxIdentifierSegments), else 0.
	Segments int
	// Header is the header name for IdentifierHeaderPath, else "".
	Header string
}

// String returns the identifier in SLINKERD_IDENTIFIER syntax.
func (id Identifier) String() string {
	switch id.Kind {
	case IdentifierPath:
		return "path:" + strconv.Itoa(id.Segments)
	case IdentifierHeaderPath:
		return "header:" + id.Header
	default:
		return string(id.Kind)
	}
}

const identifierSyntax = "must be header, path:N (N from 1 to 100), method-host or header:NAME (NAME an HTTP header name)"

// ParseIdentifier parses SLINKERD_IDENTIFIER syntax: "header",
// "path:N", "method-host" or "header:NAME".
func ParseIdentifier(s string) (Identifier, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch {
	case kind == "header" && !hasArg:
		return Identifier{Kind: IdentifierHeader}, nil
	case kind == "method-host" && !hasArg:
		return Identifier{Kind: IdentifierMethodHost}, nil
	case kind == "header" && validToken(arg):
		return Identifier{Kind: IdentifierHeaderPath, Header: arg}, nil
	case kind == "path" && hasArg:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > MaxIdentifierSegments || strings.TrimLeft(arg, "0123456789") != "" {
			return Identifier{}, errors.New(identifierSyntax)
		}
		return Identifier{Kind: IdentifierPath, Segments: n}, nil
	}
	return Identifier{}, errors.New(identifierSyntax)
}

// ParsedIdentifier returns SLINKERD_IDENTIFIER parsed; after a successful
// Load or Validate it cannot fail.
func (r RoutingConfig) ParsedIdentifier() (Identifier, error) {
	return ParseIdentifier(r.Identifier)
}
