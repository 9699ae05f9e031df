package promexport

import (
	"net/http"
	"strings"
)

// acceptsGzip tells whether to gzip the response, as promhttp (client_golang
// v1.25) with its default options negotiates it from Accept-Encoding. It
// offers identity then gzip (zstd only in a program that links
// promhttp/zstd, which pulls in klauspost/compress; slinkerd never did) and
// picks the offer that a coding of the highest q names, or "*" does; the
// first offered wins a tie, so "gzip, identity" and "*" mean identity.
// Identity is also the answer when no coding names an offer, and when the
// best q is 0 (promhttp's fallback for "not acceptable").
func acceptsGzip(h http.Header) bool {
	best, bestQ := "identity", -1.0
	specs := parseAcceptEncoding(h)
	for _, offer := range [...]string{"identity", "gzip"} {
		for _, s := range specs {
			if s.q > bestQ && (s.coding == "*" || s.coding == offer) {
				best, bestQ = offer, s.q
			}
		}
	}
	return best == "gzip" && bestQ != 0
}

// codingSpec is one coding of an Accept-Encoding header and its q.
type codingSpec struct {
	coding string
	q      float64
}

// parseAcceptEncoding parses the Accept-Encoding header lines as promhttp
// does (its copy of gddo's httputil/header.ParseAccept): a line's codings
// until the first that does not parse, a coding without q having q=1.
func parseAcceptEncoding(h http.Header) []codingSpec {
	var specs []codingSpec
lines:
	for _, s := range h["Accept-Encoding"] {
		for {
			var spec codingSpec
			spec.coding, s = cutToken(s)
			if spec.coding == "" {
				continue lines
			}
			spec.q = 1
			s = skipSpace(s)
			if strings.HasPrefix(s, ";") {
				s = skipSpace(s[1:])
				if !strings.HasPrefix(s, "q=") {
					continue lines
				}
				spec.q, s = cutQuality(s[2:])
				if spec.q < 0 {
					continue lines
				}
			}
			specs = append(specs, spec)
			s = skipSpace(s)
			if !strings.HasPrefix(s, ",") {
				continue lines
			}
			s = skipSpace(s[1:])
		}
	}
	return specs
}

// isSpace tells whether b is HTTP white space, as gddo counts it.
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// isTokenOrSlash tells whether b may be in a token (RFC 2616: a
// US-ASCII character that is neither a control nor a separator) or is '/'.
func isTokenOrSlash(b byte) bool {
	return b == '/' || (b > 31 && b < 127 && !strings.ContainsRune(" \t\"(),/:;<=>?@[]\\{}", rune(b)))
}

func skipSpace(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

// cutToken returns the token (slashes allowed) that starts s, and the rest.
func cutToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && isTokenOrSlash(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// cutQuality parses the q value that starts s: 0 or 1, then optionally a
// point and digits (not checked to stay at most 1, as gddo does not). It
// returns -1 when s does not start with one.
func cutQuality(s string) (q float64, rest string) {
	switch {
	case s == "":
		return -1, ""
	case s[0] == '0':
		q = 0
	case s[0] == '1':
		q = 1
	default:
		return -1, ""
	}
	s = s[1:]
	if !strings.HasPrefix(s, ".") {
		return q, s
	}
	s = s[1:]
	i, n, d := 0, 0, 1
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		d *= 10
	}
	return q + float64(n)/float64(d), s[i:]
}
