package adversarial

// Origins that misbehave. Each row's origin answers the caller's probe
// (the request tagged "probe") with the row's bytes; every other request
// gets a well-formed answer echoing its tag. After the probe, tagged
// follow-up requests must each get their own answer (nothing the bad
// origin sent is delivered to anyone else, and the proxy keeps serving),
// and the endpoint's pending count must return to 0 (every pick is
// released, panics included).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// poison is a complete response no request asked for. A caller that
// receives it got bytes meant for no one (response-queue poisoning).
const poison = "HTTP/1.1 200 OK\r\nX-Tag: poison\r\nContent-Length: 6\r\n\r\npoison"

// How an origin row answers the probe.
const (
	answer      = iota // write send, keep the connection
	answerClose        // write send, close the connection
	idle               // answer well, then write send on the idle connection
	hang               // read the request, never answer
	drip               // send a status line, then a header line every 100ms
)

// originCase is one misbehaving origin.
type originCase struct {
	name string
	// request is the caller's raw probe; %[1]s is the Host. Defaults to
	// a GET tagged "probe".
	request string
	method  string // the probe's method, for reading its response; GET when empty
	mode    int
	send    string // what the origin answers the probe with
	// want lists the acceptable statuses for the probe; wantBody, when
	// set, is the body a 200 must carry.
	want     []int
	wantBody string
	// wantClose says the caller's connection must end after the answer.
	wantClose bool
	// no1xx says the caller must get no interim (1xx) response.
	no1xx  bool
	reason string
}

func storm(n int) string {
	return strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", n)
}

func badStatus(code string) string {
	return "HTTP/1.1 " + code + " Odd\r\nX-Tag: probe\r\nContent-Length: 5\r\n\r\nhello"
}

const expectProbe = "POST /t/probe HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: probe\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"

var originCases = []originCase{
	{
		name: "more bytes than Content-Length",
		send: "HTTP/1.1 200 OK\r\nX-Tag: probe\r\nContent-Length: 5\r\n\r\nhello" + poison,
		want: []int{200}, wantBody: "hello",
		reason: "RFC 9112 §6.3: the message ends at Content-Length; net/http's Transport logs \"Unsolicited response\" and closes the connection",
	},
	{
		name:   "body on 204",
		send:   "HTTP/1.1 204 No Content\r\nX-Tag: probe\r\n\r\n" + poison,
		want:   []int{204},
		reason: "RFC 9110 §15.3.5 and RFC 9112 §6.3 rule 1: a 204 ends at its head; what follows is not a response to anything (net/http's Transport closes)",
	},
	{
		name:   "body on 304",
		send:   "HTTP/1.1 304 Not Modified\r\nX-Tag: probe\r\n\r\n" + poison,
		want:   []int{304},
		reason: "RFC 9110 §15.4.5 and RFC 9112 §6.3 rule 1: a 304 ends at its head (net/http's Transport closes)",
	},
	{
		name:    "body after a HEAD response",
		request: "HEAD /t/probe HTTP/1.1\r\nHost: %[1]s\r\nX-Tag: probe\r\n\r\n",
		method:  "HEAD",
		send:    fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: probe\r\nContent-Length: %d\r\n\r\n", len(poison)) + poison,
		want:    []int{200},
		reason:  "RFC 9110 §9.3.2 and RFC 9112 §6.3 rule 1: a response to HEAD has no content (net/http's Transport closes)",
	},
	{
		name: "unsolicited response on an idle pooled connection",
		mode: idle, send: poison,
		want:   []int{200},
		reason: "RFC 9112 §9.3: bytes on an idle connection answer nothing; net/http's Transport closes it (\"Unsolicited response received on idle HTTP channel\")",
	},
	{name: "status 099", send: badStatus("099"), want: []int{502},
		reason: "RFC 9110 §15: status codes are 100–599; Envoy answers 502"},
	{name: "status 000", send: badStatus("000"), want: []int{502},
		reason: "RFC 9110 §15: status codes are 100–599; Envoy answers 502"},
	{name: "status 600", send: badStatus("600"), want: []int{502},
		reason: "RFC 9110 §15: status codes are 100–599; Envoy answers 502"},
	{name: "status 1000", send: badStatus("1000"), want: []int{502},
		reason: "RFC 9112 §4: the status code is three digits; Envoy answers 502"},
	{
		name: "never answers", mode: hang, want: []int{504},
		reason: "every wait has a limit: a response-head timeout by default (nginx proxy_read_timeout, 60s); SLINKERD_RESPONSE_HEADER_TIMEOUT=1s here",
	},
	{
		name: "drips its head", mode: drip, want: []int{504},
		reason: "the response-head timeout bounds the whole head, not each read (nginx's proxy_read_timeout between reads is weaker; Envoy's is per head)",
	},
	{
		name: "1xx storm", send: storm(12) + okResponse("probe"), want: []int{502},
		reason: "RFC 9110 §15.2 sets no count; more than 10 interim responses is a flood: slinkerd's own client stops at 10, and both paths must agree",
	},
	{
		name:    "1xx to an HTTP/1.0 caller",
		request: "GET /t/probe HTTP/1.0\r\nHost: %[1]s\r\nX-Tag: probe\r\n\r\n",
		send:    storm(1) + okResponse("probe"),
		want:    []int{200}, wantBody: "probe", no1xx: true,
		reason: "RFC 9110 §15.2: a server MUST NOT send a 1xx response to an HTTP/1.0 client",
	},
	{
		name:    "Expect 100-continue refused with 417",
		request: expectProbe,
		mode:    answerClose,
		send:    "HTTP/1.1 417 Expectation Failed\r\nX-Tag: probe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		want:    []int{417}, wantClose: true,
		reason: "RFC 9110 §10.1.1: the body announced was never sent nor refused on the caller's connection, so it must close (nginx and net/http's server close when 100 was not sent)",
	},
	{
		name:    "Expect 100-continue refused with 413",
		request: expectProbe,
		mode:    answerClose,
		send:    "HTTP/1.1 413 Content Too Large\r\nX-Tag: probe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		want:    []int{413}, wantClose: true,
		reason: "RFC 9110 §10.1.1 and §15.5.14: as for 417; the caller's connection must not wait for a body no one reads",
	},
	{
		name:     "both Content-Length and Transfer-Encoding",
		send:     "HTTP/1.1 200 OK\r\nX-Tag: probe\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		want:     []int{200, 502},
		wantBody: "hello",
		reason:   "RFC 9112 §6.3 rule 3: Transfer-Encoding overrides Content-Length, or the message is an error (net/http's Transport reads it chunked; HAProxy and Envoy refuse it)",
	},
	{
		name:   "duplicate Content-Length with different values",
		send:   "HTTP/1.1 200 OK\r\nX-Tag: probe\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		want:   []int{502},
		reason: "RFC 9112 §6.3 rule 5: an unrecoverable framing error; net/http's Transport refuses it, Envoy answers 502",
	},
	{
		name:     "obs-fold",
		send:     "HTTP/1.1 200 OK\r\nX-Tag: probe\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
		want:     []int{200, 502},
		wantBody: "hello",
		reason:   "RFC 9112 §5.2: a proxy must replace obs-fold with spaces or refuse the message (net/http's Transport joins the lines)",
	},
	{
		name:     "bare LF line endings",
		send:     "HTTP/1.1 200 OK\nX-Tag: probe\nContent-Length: 5\n\nhello",
		want:     []int{200, 502},
		wantBody: "hello",
		reason:   "RFC 9112 §2.2: a recipient may accept a bare LF as a line end (net/http's Transport does); it must not desynchronise",
	},
	{
		name:   "NUL in a header value",
		send:   "HTTP/1.1 200 OK\r\nX-Tag: probe\r\nX-Bad: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
		want:   []int{502},
		reason: "RFC 9110 §5.5: NUL is never valid in a field value; net/http's Transport refuses the response, Envoy answers 502",
	},
}

// originOutcome is a probe's status, compared across the data paths.
type originOutcome struct {
	mu sync.Mutex
	m  map[string]map[string]string // path -> case -> outcome
}

func TestOrigins(t *testing.T) {
	out := &originOutcome{m: map[string]map[string]string{}}
	forEachPath(t, func(t *testing.T, env map[string]string) {
		testOrigins(t, env, out)
	})
	// Differential: where both paths ran, they must agree.
	fast, slow := out.m["fast"], out.m["nethttp"]
	if fast == nil || slow == nil {
		return
	}
	for _, c := range originCases {
		if fast[c.name] != slow[c.name] {
			t.Errorf("%s: the fast path answered %s, net/http's path %s; the paths must agree", c.name, fast[c.name], slow[c.name])
		}
	}
}

func testOrigins(t *testing.T, env map[string]string, out *originOutcome) {
	origins := map[string]*origin{}
	idleConns := map[string]chan net.Conn{}
	for i, c := range originCases {
		name := fmt.Sprintf("o%d", i)
		idleConns[name] = make(chan net.Conn, 1)
		origins[name] = startOrigin(t, originScript(c, idleConns[name]))
	}
	vars := map[string]string{"SLINKERD_DTAB": inetDtab(origins)}
	for k, v := range env {
		vars[k] = v
	}
	p := startSlinkerd(t, vars)
	path := strings.TrimPrefix(t.Name(), "TestOrigins/")

	for i, c := range originCases {
		name := fmt.Sprintf("o%d", i)
		t.Run(c.name, func(t *testing.T) {
			t.Logf("reason: %s", c.reason)
			req := c.request
			if req == "" {
				req = rawGet("GET", "%[1]s", "probe")
			}
			method := c.method
			if method == "" {
				method, _, _ = strings.Cut(req, " ")
			}
			cc := dialProxy(t, p, 5*time.Second)
			if _, err := io.WriteString(cc.c, fmt.Sprintf(req, name)); err != nil {
				t.Fatalf("write probe: %v", err)
			}
			r := cc.read(method)
			out.mu.Lock()
			if out.m[path] == nil {
				out.m[path] = map[string]string{}
			}
			outcome := "no response"
			if r.err == nil {
				outcome = fmt.Sprint(r.status)
			}
			out.m[path][c.name] = outcome
			out.mu.Unlock()

			switch {
			case r.err != nil:
				t.Errorf("probe: %v; want %v", r, c.want)
			case !slices.Contains(c.want, r.status):
				t.Errorf("probe: got %v; want status in %v", r, c.want)
			case r.status == 200 && c.wantBody != "" && r.body != c.wantBody:
				t.Errorf("probe: got %v; want body %q", r, c.wantBody)
			case r.header.Get("X-Tag") == "poison" || strings.Contains(r.body, "poison"):
				t.Errorf("probe: got %v: bytes the origin sent after its response", r)
			}
			if r.n1xx > 10 {
				t.Errorf("probe: %d interim responses forwarded; want at most 10", r.n1xx)
			}
			if c.no1xx && r.n1xx > 0 {
				t.Errorf("probe: %d interim (1xx) responses sent to an HTTP/1.0 caller; want none", r.n1xx)
			}
			if c.wantClose {
				_ = cc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if extra, closed := cc.rest(); !closed {
					t.Errorf("the caller's connection is still open 5s after the %d (read %q): the proxy waits for a body no one will read", r.status, trunc(extra, 80))
				}
			}
			_ = cc.c.Close()

			if c.mode == idle {
				// The probe was answered and its connection pooled: the
				// origin now speaks on it unasked.
				select {
				case oc := <-idleConns[name]:
					if _, err := io.WriteString(oc, c.send); err != nil {
						t.Fatalf("write on the idle connection: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the origin never answered the probe")
				}
			}
			checkFollowUps(t, p, name, 4)
			waitPendingZero(t, p, fmt.Sprintf("127.0.0.1:%d", origins[name].port))
		})
	}
}

// originScript answers a request tagged "probe" as c says, and every
// other request with okResponse of its tag. In idle mode the probe's
// connection is handed to idleConn once answered.
func originScript(c originCase, idleConn chan<- net.Conn) script {
	return func(conn net.Conn, br *bufio.Reader, r *seenReq) bool {
		if r.tag != "probe" {
			return echo(conn, br, r)
		}
		switch c.mode {
		case answer:
			_, err := io.WriteString(conn, c.send)
			return err == nil
		case answerClose:
			_, _ = io.WriteString(conn, c.send)
			return false
		case idle:
			if _, err := io.WriteString(conn, okResponse("probe")); err != nil {
				return false
			}
			select {
			case idleConn <- conn:
			default:
			}
			return true
		case hang:
			// Keep the connection open and unanswered until the proxy
			// closes it (or cleanup does).
			_, _ = io.Copy(io.Discard, br)
			return false
		case drip:
			if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\n"); err != nil {
				return false
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for range 100 { // 10s at most
				<-tick.C
				if _, err := io.WriteString(conn, "X-Drip: a\r\n"); err != nil {
					return false
				}
			}
			return false
		}
		return false
	}
}
