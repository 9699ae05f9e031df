package target

import (
	"net/url"
	"reflect"
	"testing"
)

// same reports what differs between what Parse and url.ParseRequestURI
// make of t ("" if nothing).
func same(t string) string {
	want, werr := url.ParseRequestURI(t)
	var got url.URL
	gerr := Parse(&got, t)
	switch {
	case (werr == nil) != (gerr == nil):
		return "errors differ: net/url " + errString(werr) + ", Parse " + errString(gerr)
	case werr != nil:
		return ""
	case !reflect.DeepEqual(*want, got):
		return "net/url " + want.String() + " (path " + want.Path + ", raw " + want.RawPath + "), Parse " + got.String() + " (path " + got.Path + ", raw " + got.RawPath + ")"
	case want.RequestURI() != got.RequestURI():
		return "RequestURI: net/url " + want.RequestURI() + ", Parse " + got.RequestURI()
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func TestParseMatchesNetURL(t *testing.T) {
	for _, s := range []string{
		"/", "/a/b", "/a/b?x=1&y=2", "/a?", "/?", "/a?b?c", "//a/b", "/a;b,c=d@e:f$g&h+i",
		"/a(b)", "/a!b", "/a'b*", "/a[b]", "/a b", "/é", "/a%2Fb", "/a%zz", "/a#frag", "/a?b#c",
		"/a?x=(1)", "/a?x= 1", "/a\x00b", "/a?\x7f", "/a\tb", "*", "http://h/p?q", "h:80", "", "a/b",
	} {
		if d := same(s); d != "" {
			t.Errorf("%q: %s", s, d)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	var u url.URL
	if n := testing.AllocsPerRun(100, func() { _ = Parse(&u, "/svc/method?x=1") }); n != 0 {
		t.Errorf("Parse allocates %.0f times for a plain target", n)
	}
}

// FuzzParseMatchesNetURL: Parse and url.ParseRequestURI agree on every
// string.
//
//	go test -run '^$' -fuzz FuzzParseMatchesNetURL -fuzztime 1m ./internal/target
func FuzzParseMatchesNetURL(f *testing.F) {
	for _, s := range []string{"/a/b?x=1", "/a(b)", "/a%20b", "/a?b#c", "*", "http://h/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := same(s); d != "" {
			t.Errorf("%q: %s", s, d)
		}
	})
}
