package h1_test

import (
	"testing"

	"github.com/slinkerd/slinkerd/internal/h1"
)

// FuzzParseHead checks ParseHead against net/http's server as the oracle:
// a head this parser accepts, net/http accepts too and reads the same
// way (so a head net/http refuses is refused here); the rest is what the
// table in parse_test.go names a rule for. Run it with
//
//	go test -run '^$' -fuzz '^FuzzParseHead$' -fuzztime 10m -fuzzminimizetime 0 ./internal/h1/
func FuzzParseHead(f *testing.F) {
	for _, tc := range headCases {
		f.Add([]byte(tc.in))
	}
	var h h1.Head // reused, as the loop reuses it
	f.Fuzz(func(t *testing.T, in []byte) {
		n := h1.HeadEnd(in)
		if n < 0 {
			if err := h1.ParseHead(in, &h, 1<<20); err == nil {
				t.Fatalf("accepted a head HeadEnd finds no end of")
			}
			return
		}
		in = in[:n]
		err := h1.ParseHead(in, &h, 1<<20)
		if err != nil {
			return
		}
		req, status, theirErr := netHTTP(in)
		if status != 0 {
			t.Fatalf("accepted %q, net/http refuses with %d: %v", in, status, theirErr)
		}
		if d := agree(&h, req); d != "" {
			t.Fatalf("%q differs from net/http: %s", in, d)
		}
	})
}
