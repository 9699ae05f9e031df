package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/slinkerd/slinkerd/core/name"
)

// FuzzDeadlineHeaders parses arbitrary l5d-ctx-deadline and grpc-timeout
// values. It must never panic; a deadline it accepts is never later than
// any the headers stated; and the grpc-timeout the proxy sends on
// (appendGRPCTimeout) parses back to at most the time left, within the
// precision of its unit.
func FuzzDeadlineHeaders(f *testing.F) {
	f.Add("1700000000000000000 1700000000500000000", "100m", int64(250*time.Millisecond))
	f.Add("1 2, 3 4", "99999999H", int64(-1))
	f.Add(" , 9223372036854775807 -9223372036854775808", "1n", int64(1<<62))
	f.Add("a b", "", int64(0))
	f.Add("1 2 3", "0S", int64(99999999999))
	f.Fuzz(func(t *testing.T, ctxDeadline, grpcTimeout string, left int64) {
		now := time.Unix(0, 1_700_000_000_000_000_000)
		h := http.Header{}
		if ctxDeadline != "" {
			h.Set(hdrCtxDeadline, ctxDeadline)
		}
		if grpcTimeout != "" {
			h.Set(hdrGRPCTimeout, grpcTimeout)
		}
		d, ok, err := incomingDeadline(h, now)
		if err != nil {
			if ok || !d.IsZero() {
				t.Fatalf("a deadline with an error: %v %v %v", d, ok, err)
			}
		} else if ok {
			for _, part := range strings.Split(ctxDeadline, ",") {
				if f := strings.Fields(part); len(f) == 2 {
					ns, _ := strconv.ParseInt(f[1], 10, 64)
					if d.After(time.Unix(0, ns)) {
						t.Fatalf("deadline %v is later than the stated %v", d, time.Unix(0, ns))
					}
				}
			}
			if to, err := parseGRPCTimeout(grpcTimeout); grpcTimeout != "" && err == nil && d.After(now.Add(to)) {
				t.Fatalf("deadline %v is later than grpc-timeout %s", d, grpcTimeout)
			}
		} else if ctxDeadline != "" && strings.TrimSpace(strings.ReplaceAll(ctxDeadline, ",", "")) != "" {
			t.Fatalf("l5d-ctx-deadline %q neither refused nor used", ctxDeadline)
		}

		// What the proxy sends parses back to no more than is left.
		out := string(appendGRPCTimeout(nil, time.Duration(left)))
		back, err := parseGRPCTimeout(out)
		if err != nil {
			t.Fatalf("appendGRPCTimeout(%d) = %q does not parse: %v", left, out, err)
		}
		if left >= 0 && back > time.Duration(left) {
			t.Fatalf("appendGRPCTimeout(%d) = %q promises more time (%s)", left, out, back)
		}
		if left < 0 && back != 0 {
			t.Fatalf("appendGRPCTimeout(%d) = %q: want 0", left, out)
		}
		hh := http.Header{}
		setDeadlineHeaders(hh, now, now.Add(time.Duration(left)), http.Header.Set)
		if got, want := hh.Get(hdrCtxDeadline), fmt.Sprintf("%d %d", now.UnixNano(), now.Add(time.Duration(left)).UnixNano()); got != want {
			t.Fatalf("l5d-ctx-deadline = %q; want %q", got, want)
		}
		if got := hh.Get(hdrGRPCTimeout); got != out {
			t.Fatalf("grpc-timeout = %q; want %q", got, out)
		}
		if _, _, err := incomingDeadline(hh, now); err != nil && left >= 0 {
			t.Fatalf("the proxy's own deadline headers %v do not parse: %v", hh, err)
		}
	})
}

// FuzzRequestDtab parses arbitrary l5d-dtab and l5d-ctx-dtab values the
// way the proxy does with SLINKERD_DTAB_OVERRIDE=on. It must never panic;
// an error names the header; and the dtab it accepts prints as text that
// parses to the same dtab, so it can be propagated as l5d-ctx-dtab.
func FuzzRequestDtab(f *testing.F) {
	f.Add("/svc=>/#/io.l5d.fs/users", "/svc/users=>/$/inet/127.0.0.1/8080")
	f.Add("", "/s=>0.9*/a & 0.1*/b | !")
	f.Add("/svc=>", "/a=>/b;/b=>/a")
	f.Add("# comment\n/a=>/b", `/a\x2f=>/b`)
	f.Fuzz(func(t *testing.T, ctxDtab, dtab string) {
		h := http.Header{}
		if ctxDtab != "" {
			h.Add(hdrCtxDtab, ctxDtab)
		}
		if dtab != "" {
			h.Add(hdrDtab, dtab)
		}
		d, err := requestDtab(h)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "l5d-dtab: ") && !strings.HasPrefix(err.Error(), "l5d-ctx-dtab: ") {
				t.Fatalf("the error does not name the header: %v", err)
			}
			if !strings.Contains(err.Error(), "offset ") {
				t.Fatalf("the error has no position: %v", err)
			}
			return
		}
		s := d.String()
		back, err := name.ParseDtab(s)
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", dtab, s, err)
		}
		if back.String() != s {
			t.Fatalf("printing is not stable: %q then %q", s, back.String())
		}
		if len(back) != len(d) {
			t.Fatalf("%d dentries became %d", len(d), len(back))
		}
	})
}

// FuzzForwardedAndScreen builds the Forwarded element and screens requests
// with arbitrary remote addresses, hosts and Via / l5d-* header values.
// Neither may panic; the Forwarded element is always a valid header value
// made of for=, proto= and host= pairs; screening keeps only the l5d-*
// headers it documents.
func FuzzForwardedAndScreen(f *testing.F) {
	f.Add("127.0.0.1:1234", "users", "1.1 slinkerd, 1.1 slinkerd", "L5d-Dst-Service", "/svc/evil")
	f.Add("[::1]:80", "[::1]:8080", "1.0 slinkerd", "l5d-ctx-deadline", "1 2")
	f.Add("", "a\"b\\c", "", "l5d-", "")
	f.Add("@unix", "\x00\r\n", "1.1 slinkerd extra, ,,", "L5D-DTAB", "/a=>/b")
	f.Fuzz(func(t *testing.T, remote, host, via, key, value string) {
		r := &http.Request{RemoteAddr: remote, Host: host, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1, Method: "GET"}
		client, _ := clientHost(r.RemoteAddr)
		el := forwardedElement(client, "http", r.Host)
		// RemoteAddr comes from the socket: an IP address and port.
		_, remoteErr := netip.ParseAddrPort(remote)
		if remoteErr == nil && httpguts.ValidHostHeader(host) && !httpguts.ValidHeaderFieldValue(el) {
			t.Fatalf("Forwarded element %q (remote %q, host %q) is not a valid header value", el, remote, host)
		}
		if !strings.HasPrefix(el, "for=") || !strings.Contains(el, ";proto=http") {
			t.Fatalf("Forwarded element %q lacks for= or proto=", el)
		}

		for _, trust := range []bool{false, true} {
			p := &Proxy{cfg: Config{MaxCallDepth: 10, TrustL5DHeaders: trust}}
			r := &http.Request{Host: host, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1, Method: "GET", URL: nil}
			r.URL = mustURL("/")
			r.Header.Add("Via", via)
			if httpguts.ValidHeaderFieldName(key) {
				r.Header.Add(key, value)
			}
			e := p.screen(r)
			if e != nil {
				if e.Status != http.StatusLoopDetected {
					t.Fatalf("screen refused with %d: %v", e.Status, e)
				}
				continue
			}
			for k := range r.Header {
				lk := strings.ToLower(k)
				if !strings.HasPrefix(lk, "l5d-") || lk == "l5d-" {
					continue
				}
				if lk == "l5d-dtab" || lk == "l5d-ctx-dtab" {
					t.Fatalf("%s kept with overrides off", k)
				}
				if !trust && lk != "l5d-ctx-deadline" {
					t.Fatalf("untrusted %s kept", k)
				}
			}
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
