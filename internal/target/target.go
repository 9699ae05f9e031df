// Package target parses an HTTP request-target into a url.URL the way
// net/url's ParseRequestURI does, without allocating for the common
// origin-form targets: a path of plain characters with an optional query.
// slinkerd's own HTTP/1 loop (internal/h1) and HTTP/2 server
// (internal/h2) use it for the requests they build.
package target

import "net/url"

// Parse fills u as url.ParseRequestURI(t) would, and fails where it does.
// A target that starts with "/", whose path holds only bytes net/url
// leaves unescaped in a path (so that URL.RequestURI gives the path back
// as sent), and whose query has no control byte or space, is taken
// apart in place; any other goes through url.ParseRequestURI.
func Parse(u *url.URL, t string) error {
	if plain(t) {
		*u = url.URL{Path: t}
		for i := 0; i < len(t); i++ {
			if t[i] == '?' {
				u.Path, u.RawQuery = t[:i], t[i+1:]
				u.ForceQuery = u.RawQuery == ""
				break
			}
		}
		return nil
	}
	p, err := url.ParseRequestURI(t)
	if err != nil {
		return err
	}
	*u = *p
	return nil
}

// plain says whether t is an origin-form target Parse takes apart itself.
func plain(t string) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	i := 0
	for ; i < len(t) && t[i] != '?'; i++ {
		if !pathByte[t[i]] {
			return false
		}
	}
	for ; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f || c == '#' || c >= 0x80 {
			return false
		}
	}
	return true
}

// pathByte marks the bytes net/url's path escaping leaves as they are
// (shouldEscape with encodePath false): letters, digits, "-._~" and
// "$&+,/:;=@". A path of other bytes has a RawPath, which Parse leaves
// to net/url.
var pathByte = func() (a [256]bool) {
	for c := '0'; c <= '9'; c++ {
		a[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		a[c], a[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~$&+,/:;=@" {
		a[c] = true
	}
	return a
}()
