package h2meta

import (
	"fmt"
	"net/http"
	"testing"
)

// Names converts a name once and then answers from memory, up to
// MaxNames names; past the bound it still converts, every time.
func TestNames(t *testing.T) {
	calls := 0
	n := NewNames(func(k string) string { calls++; return http.CanonicalHeaderKey(k) })
	for range 3 {
		if got := n.Get("grpc-timeout"); got != "Grpc-Timeout" {
			t.Fatalf("Get = %q", got)
		}
	}
	if calls != 1 {
		t.Fatalf("converted %d times, want once", calls)
	}
	for i := range MaxNames + 10 {
		k := fmt.Sprintf("x-f%d", i)
		if got, want := n.Get(k), http.CanonicalHeaderKey(k); got != want {
			t.Fatalf("Get(%q) = %q, want %q", k, got, want)
		}
	}
	if len(n.m) != MaxNames {
		t.Fatalf("remembers %d names, want the bound %d", len(n.m), MaxNames)
	}
	calls = 0
	n.Get(fmt.Sprintf("x-f%d", MaxNames+5))
	n.Get(fmt.Sprintf("x-f%d", MaxNames+5))
	if calls != 2 {
		t.Fatalf("a name past the bound converted %d times in two Gets, want 2", calls)
	}
}
