package adversarial

// Callers that misbehave. Each row writes raw bytes on a new connection
// to the proxy, reads the first response, and checks what the origin
// behind it saw: a refused head must never reach it, and after a framing
// error nothing on that connection may be parsed as a request.

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// callerCase is one misbehaving caller. In send and mustNotSee, %[1]s is
// the Host and %[2]s a token unique to the row (and data path).
type callerCase struct {
	name string
	send string
	// want is the status of the first response.
	want int
	// wantClose says the connection must end after that response, with
	// no second response.
	wantClose bool
	// mustNotSee lists strings no request head the origin reads may
	// contain (ASCII case ignored).
	mustNotSee []string
	reason     string
}

var callerCases = []callerCase{
	{
		name:   "well-formed GET (control)",
		send:   "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: %[2]s\r\n\r\n",
		want:   200,
		reason: "the baseline: a correct request through the same proxy and origin is answered",
	},
	{
		name: "malformed chunked body, then a smuggled request",
		send: "POST /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX" +
			"GET /t/%[2]s-smuggled HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: smuggled\r\n\r\n",
		want: 400, wantClose: true, mustNotSee: []string{"%[2]s-smuggled"},
		reason: "RFC 9112 §7.1 and §11.2: after a framing error the rest of the connection cannot be trusted; HAProxy and nginx close it, as net/http's server does outside full-duplex mode",
	},
	{
		name: "malformed chunked body, then a smuggled CL+TE request",
		send: "POST /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX" +
			"POST /t/%[2]s-smuggled HTTP/1.1\r\nHost: %[1]s\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		want: 400, wantClose: true, mustNotSee: []string{"%[2]s-smuggled"},
		reason: "as above; the smuggled head is also one the framing guard exists to refuse",
	},
	{
		name:      "both Content-Length and Transfer-Encoding",
		send:      "POST /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		want:      400,
		wantClose: true, mustNotSee: []string{"/t/%[2]s"},
		reason: "RFC 9112 §6.1 and §6.3 rule 3: ought to be handled as an error; HAProxy and nginx answer 400 and close",
	},
	{
		name:      "Transfer-Encoding on HTTP/1.0",
		send:      "POST /t/%[2]s HTTP/1.0\r\nHost: %[1]s\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		want:      400,
		wantClose: true, mustNotSee: []string{"/t/%[2]s"},
		reason: "RFC 9112 §6.1: a server that receives Transfer-Encoding in an HTTP/1.0 message MUST treat the framing as faulty and close",
	},
	{
		name:      "duplicate Content-Length with different values",
		send:      "POST /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		want:      400,
		wantClose: true, mustNotSee: []string{"/t/%[2]s"},
		reason: "RFC 9112 §6.3 rule 5: an unrecoverable error; the server MUST answer 400 and close",
	},
	{
		name:      "obs-fold",
		send:      "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Folded: a\r\n b\r\n\r\n",
		want:      400,
		wantClose: true, mustNotSee: []string{"/t/%[2]s"},
		reason: "RFC 9112 §5.2: a server MUST reject obs-fold in a request with 400 or replace it; nginx and HAProxy reject",
	},
	{
		name:      "NUL in a header value",
		send:      "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Bad: a\x00b\r\n\r\n",
		want:      400,
		wantClose: true, mustNotSee: []string{"/t/%[2]s"},
		reason: "RFC 9110 §5.5: NUL is never valid in a field value; nginx, HAProxy and Envoy answer 400",
	},
	{
		name: "Upgrade: h2c",
		send: "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: %[2]s\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
			"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
		want:       200,
		mustNotSee: []string{"upgrade: h2c", "http2-settings"},
		reason:     "RFC 9113 §3.1 retired the h2c upgrade and RFC 9110 §7.8 makes Upgrade hop-by-hop; Envoy strips it, and a tunnel to the origin would skip the proxy's framing checks",
	},
	{
		name: "underscores in header names",
		send: "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: %[2]s\r\nTransfer_Encoding: chunked\r\n" +
			"X_Forwarded_For: 10.0.0.1\r\n\r\n",
		want:       200,
		mustNotSee: []string{"transfer_encoding", "x_forwarded_for"},
		reason:     "nginx drops them (underscores_in_headers off), Envoy can (headers_with_underscores_action): CGI-style origins read X_Y and X-Y as one name",
	},
	{
		name:       "absolute-form target",
		send:       "GET http://%[1]s/t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\n\r\n",
		want:       400,
		mustNotSee: []string{"/t/%[2]s"},
		reason:     "RFC 9112 §3.2.2: absolute-form is for forward proxies; slinkerd refuses it by default (SLINKERD_ALLOW_ABSOLUTE_FORM)",
	},
	{
		name:       "over-long headers",
		send:       "GET /t/%[2]s HTTP/1.1\r\nHost: %[1]s\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
		want:       431,
		mustNotSee: []string{"/t/%[2]s"},
		reason:     "RFC 6585 §5; SLINKERD_MAX_HEADER_BYTES defaults to 64 KiB; Envoy answers 431",
	},
}

func TestCallers(t *testing.T) {
	forEachPath(t, func(t *testing.T, env map[string]string) {
		o := startOrigin(t, echo)
		vars := map[string]string{"SLINKERD_DTAB": inetDtab(map[string]*origin{"c": o})}
		for k, v := range env {
			vars[k] = v
		}
		p := startSlinkerd(t, vars)
		path := strings.TrimPrefix(t.Name(), "TestCallers/")
		for i, c := range callerCases {
			t.Run(c.name, func(t *testing.T) {
				if c.reason != "" {
					t.Logf("reason: %s", c.reason)
				}
				token := fmt.Sprintf("%s-c%d", path, i)
				raw := fmt.Sprintf(c.send, "c", token)
				method, _, _ := strings.Cut(raw, " ")
				cc := dialProxy(t, p, 5*time.Second)
				_, werr := io.WriteString(cc.c, raw)
				r := cc.read(method)
				switch {
				case r.err != nil:
					t.Errorf("got %v (write: %v); want %d", r, werr, c.want)
				case r.status != c.want:
					t.Errorf("got %v; want %d", r, c.want)
				}
				if c.wantClose {
					_ = cc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
					extra, closed := cc.rest()
					if strings.Contains(extra, "HTTP/1.") {
						t.Errorf("a second response followed on the same connection: bytes after the framing error were served as a request: %q", trunc(extra, 200))
					}
					if !closed {
						t.Errorf("the connection is still open 5s after the %d; want it closed", r.status)
					}
				}
				_ = cc.c.Close()
				if testing.Verbose() {
					for _, h := range o.Heads() {
						if strings.Contains(h, token+" ") {
							t.Logf("the origin read:\n%s", h)
						}
					}
				}
				for _, s := range c.mustNotSee {
					if strings.Contains(s, "%[") {
						s = fmt.Sprintf(s, "c", token)
					}
					for _, h := range o.Heads() {
						if containsFold(h, s) {
							t.Errorf("the origin read a head containing %q:\n%s", s, trunc(h, 400))
						}
					}
				}
			})
		}
	})
}
