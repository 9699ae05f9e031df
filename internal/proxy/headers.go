package proxy

import (
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// The headers the proxy adds to every outgoing request, and the
// helpers that set them without allocating where they can.

// setHeader sets h[k] to the one value v, taking the []string from the
// route's arena while it lasts. Only for headers of the first attempt
// and of requests no other goroutine reads: a retry's headers are set
// with Header.Set.
func (rt *route) setHeader(h http.Header, k, v string) {
	if rt.nvals == len(rt.vals) {
		h[k] = []string{v}
		return
	}
	i := rt.nvals
	rt.vals[i] = v
	rt.nvals++
	h[k] = rt.vals[i : i+1 : i+1]
}

// addHeader appends v to h[k], without touching the backing array of the
// existing values, which may be shared with the caller's request.
func (rt *route) addHeader(h http.Header, k, v string) {
	old := h[k]
	if len(old) == 0 {
		rt.setHeader(h, k, v)
		return
	}
	vv := make([]string, len(old)+1)
	copy(vv, old)
	vv[len(old)] = v
	h[k] = vv
}

// addHeaders adds to out, a copy of in without its hop-by-hop and
// forwarding headers, the headers every attempt carries: forwarding,
// l5d-dst-service, l5d-reqid, Via and trace context.
func (p *Proxy) addHeaders(in, out *http.Request, rt *route) {
	h := out.Header
	if p.cfg.TrustForwarded {
		if v := in.Header.Values("X-Forwarded-For"); len(v) > 0 {
			h["X-Forwarded-For"] = v
		}
		if v := in.Header.Values("Forwarded"); len(v) > 0 {
			h["Forwarded"] = v
		}
	}
	// As httputil.ProxyRequest.SetXForwarded, then RFC 7239's Forwarded,
	// from one reading of the client's address.
	client, clientOK := clientHost(in.RemoteAddr)
	if clientOK {
		xff := client
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + client
		}
		rt.setHeader(h, "X-Forwarded-For", xff)
	} else {
		delete(h, "X-Forwarded-For")
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	rt.setHeader(h, "X-Forwarded-Host", in.Host)
	rt.setHeader(h, "X-Forwarded-Proto", proto)
	rt.addHeader(h, "Forwarded", p.forwarded(client, proto, in.Host))

	rt.setHeader(h, hdrDstService, rt.svcStr)
	if v := h[hdrReqID]; len(v) == 0 || v[0] == "" {
		rt.setHeader(h, hdrReqID, newRequestID())
	}
	via := "1.1 " + viaToken
	if in.ProtoMajor == 2 {
		via = "2.0 " + viaToken
	} else if in.ProtoMinor == 0 {
		via = "1.0 " + viaToken
	}
	rt.addHeader(h, "Via", via)

	// --- telemetry (issue 8): trace context. An Observer that can trace
	// (internal/telemetry's) may start a trace or a span and set traceparent;
	// W3C, B3 and X-Amzn-Trace-Id headers otherwise pass through as
	// received. One type assertion per request when it cannot.
	if tr, ok := p.cfg.Observer.(interface{ TraceRequest(in, out *http.Request) }); ok {
		tr.TraceRequest(in, out)
	}
	// --- end telemetry ---
}

// clientHost is the host of a request's RemoteAddr, and whether it had a
// port to split off; without one it is RemoteAddr whole.
func clientHost(remoteAddr string) (string, bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr, false
	}
	return host, true
}

// forwarded returns forwardedElement(client, proto, reqHost), remembering
// the last one: requests mostly repeat their caller and Host.
func (p *Proxy) forwarded(client, proto, reqHost string) string {
	if m := p.lastForwarded.Load(); m != nil && m.client == client && m.proto == proto && m.host == reqHost {
		return m.elem
	}
	m := &forwardedMemo{client: client, proto: proto, host: reqHost, elem: forwardedElement(client, proto, reqHost)}
	p.lastForwarded.Store(m)
	return m.elem
}

// forwardedMemo is one Forwarded element and what it was made of.
type forwardedMemo struct{ client, proto, host, elem string }

// forwardedElement is the RFC 7239 element for this hop: the client's
// host (clientHost), the protocol and the Host the client asked for.
func forwardedElement(client, proto, reqHost string) string {
	host := client
	if strings.Contains(host, ":") {
		host = `"[` + host + `]"`
	}
	var b strings.Builder
	b.Grow(len("for=;proto=https;host=\"\"") + len(host) + len(reqHost))
	b.WriteString("for=")
	b.WriteString(host)
	b.WriteString(";proto=")
	b.WriteString(proto)
	if reqHost != "" {
		b.WriteString(";host=")
		if plainQuotable(reqHost) {
			b.WriteByte('"')
			b.WriteString(reqHost)
			b.WriteByte('"')
		} else {
			b.WriteString(strconv.Quote(reqHost))
		}
	}
	return b.String()
}

// plainQuotable says whether strconv.Quote(s) is s between double quotes.
func plainQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits, from math/rand/v2's
// generator: the runtime's ChaCha8, per thread and seeded by the
// system, so it needs no lock or pool.
func newRequestID() string {
	v := rand.Uint64()
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
