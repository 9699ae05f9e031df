package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/slinkerd/slinkerd/internal/h1client"
	"github.com/slinkerd/slinkerd/internal/ready"
	"golang.org/x/net/http/httpguts"
)

// The direct path forwards the most common requests — HTTP/1.x from the
// caller with no body or a small one of known length and no upgrade, and
// every HTTP/2 request (gRPC among them) — without
// httputil.ReverseProxy: the outgoing request shares the caller's header
// values instead of deep-copying them, needs no context copies or client
// trace, and the response's headers are handed to the caller's
// ResponseWriter as they are instead of being copied one by one. The
// attempts, retries, classification and errors are the same code as the
// ReverseProxy's path (attemptTransport.send). Everything else from
// HTTP/1.x callers — chunked or large bodies, Expect: 100-continue,
// upgrades — takes the ReverseProxy, as does everything when the fast
// path is off.

// isHopHeader says whether the canonical key k is a hop-by-hop header
// (RFC 9110 §7.6.1), which is not forwarded, as in httputil.ReverseProxy.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// skipOutgoing says whether the canonical key k is not copied from the
// caller's request: hop-by-hop, or a forwarding header the proxy rebuilds.
func skipOutgoing(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return isHopHeader(k)
}

// serveDirect forwards r, routed as rt, under ctx.
func (p *Proxy) serveDirect(w http.ResponseWriter, r *http.Request, ctx context.Context, rt *route) {
	out := &rt.out
	rt.outURL = *r.URL
	*out = http.Request{
		Method:     r.Method,
		URL:        &rt.outURL,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     rt.outHeader(len(r.Header) + 12), // room for the headers the proxy adds
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
	}
	if h1client.HasBody(r) && r.ContentLength != 0 {
		// (Go's HTTP/2 server gives a request that ended with its HEADERS
		// a body of length 0; the ReverseProxy sends none either.)
		out.Body, out.ContentLength = r.Body, r.ContentLength
	}
	// The caller's headers, sharing their values, less hop-by-hop ones
	// and those its Connection header names.
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if skipOutgoing(k) || (len(conn) > 0 && connectionNames(conn, k)) {
			continue
		}
		out.Header[k] = vv
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		rt.setHeader(out.Header, "Te", "trailers")
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		// As the ReverseProxy: send none rather than Go's.
		rt.setHeader(out.Header, "User-Agent", "")
	}
	p.addHeaders(r, out, rt)
	rt.w = w

	resp, err := p.transport.send(ctx, out, rt)
	if err != nil {
		p.answerError(w, r, ctx, rt, err)
		return
	}

	// The response is ours: hand its header map over, whole when the
	// writer can take it, else entry by entry.
	removeHopHeaders(resp.Header)
	wh := w.Header()
	if len(wh) == 0 && adoptHeader(w, resp.Header) {
		wh = resp.Header
	} else {
		for k, vv := range resp.Header {
			wh[k] = vv
		}
	}
	// Trailers that already arrived are announced to an HTTP/1 caller
	// (a chunked response's trailer needs its Trailer header); an HTTP/2
	// caller's server sends them as they are set after the body.
	announced := 0
	if r.ProtoMajor == 1 {
		announced = len(resp.Trailer)
	}
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		wh["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	if err := copyBody(w, resp); err != nil {
		_ = resp.Body.Close()
		// The response is cut short and the caller must see it: abort the
		// connection, as the ReverseProxy does.
		panic(http.ErrAbortHandler)
	}
	_ = resp.Body.Close()
	if len(resp.Trailer) > 0 {
		if r.ProtoMajor == 1 {
			// The head goes out first, so that the keys set now are
			// trailers. (HTTP/2 servers send keys with TrailerPrefix as
			// trailers whenever they are set, and keep the head, body and
			// trailer for one write.)
			_ = flush(w)
		}
		for k, vv := range resp.Trailer {
			if announced != len(resp.Trailer) {
				k = trailerKey(k)
			}
			wh[k] = vv
		}
	}
}

// adoptHeader gives h to w as its header map when w can take it (the
// HTTP/1 server's writer can), looking through the proxy's own
// interimWriter only: another wrapper may keep a header map of its own.
func adoptHeader(w http.ResponseWriter, h http.Header) bool {
	if iw, ok := w.(*interimWriter); ok {
		w = iw.ResponseWriter
	}
	a, ok := w.(interface{ AdoptHeader(http.Header) bool })
	return ok && a.AdoptHeader(h)
}

// outHeader returns the route's outgoing header map, empty, made with
// room for n entries the first time.
func (rt *route) outHeader(n int) http.Header {
	if rt.hdr == nil {
		rt.hdr = make(http.Header, n)
	}
	return rt.hdr
}

// Informational passes a 1xx response on to the caller, as the
// ReverseProxy does, unless the caller speaks HTTP/1.0 (RFC 9110 §15.2:
// never a 1xx to an HTTP/1.0 client; see callerWriter).
func (rt *route) Informational(code int, h http.Header) error {
	if iw, ok := rt.w.(*interimWriter); ok && iw.left <= 0 {
		return nil
	}
	wh := rt.w.Header()
	for k, vv := range h {
		wh[k] = vv
	}
	rt.w.WriteHeader(code)
	clear(wh) // WriteHeader does not clear them after a 1xx
	return nil
}

// connectionNames says whether k is among the field names listed in the
// Connection header values conn.
func connectionNames(conn []string, k string) bool {
	for _, v := range conn {
		for sf := range strings.SplitSeq(v, ",") {
			if sf = textproto.TrimString(sf); sf != "" && strings.EqualFold(sf, k) {
				return true
			}
		}
	}
	return false
}

// removeHopHeaders removes hop-by-hop headers from a response, those its
// Connection header names included.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for k := range h {
		if isHopHeader(k) {
			delete(h, k)
		}
	}
}

// copyBody copies resp's body to w. When the body's length is unknown
// (streams, event streams) it flushes after a write unless the body says
// its next Read would not wait (Ready), which the ReverseProxy with
// FlushInterval 0 does after every write.
func copyBody(w http.ResponseWriter, resp *http.Response) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	stream := resp.ContentLength == -1
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if stream && !ready.Now(resp.Body) {
				// Flushed when the next Read would wait: what is already
				// there (the rest of the body, its end) goes out with it.
				if err := flush(w); err != nil {
					return err
				}
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}

// trailerKey is k with http.TrailerPrefix, without allocating for gRPC's
// trailers.
func trailerKey(k string) string {
	switch k {
	case "Grpc-Status":
		return http.TrailerPrefix + "Grpc-Status"
	case "Grpc-Message":
		return http.TrailerPrefix + "Grpc-Message"
	case "Grpc-Status-Details-Bin":
		return http.TrailerPrefix + "Grpc-Status-Details-Bin"
	}
	return http.TrailerPrefix + k
}

// flush flushes w as http.ResponseController's Flush does, through
// wrappers that have an Unwrap method, without allocating a controller
// for every write.
func flush(w http.ResponseWriter) error {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }:
			return t.FlushError()
		case http.Flusher:
			t.Flush()
			return nil
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return fmt.Errorf("flush the response: %w", http.ErrNotSupported)
		}
	}
}
