package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/core/name"
)

// FuzzIdentify names requests with arbitrary Host, path and header values
// through every identifier. An identifier may refuse a request (the proxy
// answers 400) but must never panic, and a name it gives must start with
// its prefix and print as a path that parses back to the same name: it is
// what delegation, metrics and the l5d-dst-service header carry.
func FuzzIdentify(f *testing.F) {
	f.Add("users:8080", "/users/42", "/users/v2", "GET", uint8(1), false)
	f.Add("[::1]:80", "/a//b", "/", "POST", uint8(2), true)
	f.Add("", "", "", "", uint8(0), false)
	f.Add("a b\x00c", "/%2F/x", "/a\\x2f", "M-SEARCH", uint8(3), true)
	f.Add("[fe80::1%25eth0]", "/../x", "//", "get", uint8(9), true)
	f.Add("host.example.com.", "/\xff\xfe", "/svc/ü", "OPTIONS", uint8(1), false)
	f.Fuzz(func(t *testing.T, host, path, header, method string, segs uint8, consume bool) {
		prefix := name.Path{"svc", "x"}
		ids := []Identifier{
			HeaderIdentifier{},
			HeaderIdentifier{Prefix: prefix},
			PathIdentifier{Segments: int(segs % 5), Consume: consume},
			PathIdentifier{Prefix: prefix, Segments: 1},
			MethodHostIdentifier{},
			HeaderPathIdentifier{Header: "l5d-name"},
		}
		for _, id := range ids {
			for _, proto := range []int{1, 2} {
				r := &http.Request{
					Method: method, Host: host, URL: &url.URL{Path: path},
					Header:     http.Header{"L5d-Name": {header}},
					ProtoMajor: proto, ProtoMinor: map[int]int{1: 1, 2: 0}[proto],
				}
				p, err := id.Identify(r)
				if err != nil {
					if p != nil {
						t.Fatalf("%T: a name with an error: %v, %v", id, p, err)
					}
					continue
				}
				want := name.Path{"svc"}
				switch v := id.(type) {
				case HeaderIdentifier:
					want = prefixOr(v.Prefix)
				case PathIdentifier:
					want = prefixOr(v.Prefix)
					if v.Consume && !strings.HasPrefix(r.URL.Path, "/") {
						t.Fatalf("PathIdentifier left the path %q", r.URL.Path)
					}
				}
				if !p.HasPrefix(want) || len(p) <= len(want) {
					t.Fatalf("%T: %v does not extend its prefix %v", id, p, want)
				}
				for _, seg := range p {
					if seg == "" {
						t.Fatalf("%T: %q has an empty segment", id, p)
					}
				}
				s := p.String()
				back, err := name.ParsePath(s)
				if err != nil {
					t.Fatalf("%T: %q does not parse back: %v", id, s, err)
				}
				if !back.Equal(p) {
					t.Fatalf("%T: %q parses back as %q", id, s, back)
				}
			}
		}
	})
}
