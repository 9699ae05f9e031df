package adversarial

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/harness"
)

// slinkerdBin is the binary under test, built once by TestMain.
var slinkerdBin string

// knownVars is the set of SLINKERD_ variables the binary accepts, read
// from `slinkerd config` (slinkerd refuses unknown ones).
var knownVars map[string]bool

// TestMain builds slinkerd from this module, as test/e2e does. With
// ADVERSARIAL_BIN set it runs the suite against that binary instead
// (e.g. one built from an older commit, to see a case fail before a fix).
func TestMain(m *testing.M) {
	if bin := os.Getenv("ADVERSARIAL_BIN"); bin != "" {
		slinkerdBin = bin
		os.Exit(m.Run())
	}
	os.Exit(harness.Run(m, "adversarial", harness.RepoRoot, &slinkerdBin))
}

// dataPath is one of slinkerd's HTTP/1.1 data paths, chosen by env.
type dataPath struct {
	name string
	env  map[string]string
}

// dataPaths are the paths every case runs on. SLINKERD_FAST_PATH=on is
// the default: bodiless GETs and small POSTs go through slinkerd's own
// HTTP/1.1 client; off sends everything through net/http's Transport.
var dataPaths = []dataPath{
	{name: "fast", env: map[string]string{"SLINKERD_FAST_PATH": "on"}},
	{name: "nethttp", env: map[string]string{"SLINKERD_FAST_PATH": "off"}},
}

// supported reports whether the binary accepts the variable k.
func supported(t testing.TB, k string) bool {
	t.Helper()
	if knownVars == nil {
		cmd := exec.Command(slinkerdBin, "config")
		cmd.Env = harness.Environ(nil)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("slinkerd config: %v", err)
		}
		knownVars = map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, _, ok := strings.Cut(line, "="); ok {
				knownVars[k] = true
			}
		}
	}
	return knownVars[k]
}

// forEachPath runs f as a subtest per data path. A path whose switch the
// binary does not know yet is skipped when it is not the default (the
// fast path is), and run without the variable when it is.
func forEachPath(t *testing.T, f func(t *testing.T, env map[string]string)) {
	for _, dp := range dataPaths {
		t.Run(dp.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range dp.env {
				if !supported(t, k) {
					if dp.name != "fast" {
						t.Skipf("this slinkerd has no %s; the %s path cannot be chosen", k, dp.name)
					}
					continue
				}
				env[k] = v
			}
			f(t, env)
		})
	}
}

// startSlinkerd runs slinkerd with env (on top of the harness defaults),
// plus SLINKERD_RESPONSE_HEADER_TIMEOUT=1s when the binary knows it.
func startSlinkerd(t *testing.T, env map[string]string) *harness.Proc {
	t.Helper()
	vars := map[string]string{"SLINKERD_DRAIN_TIMEOUT": "2s"}
	if supported(t, "SLINKERD_RESPONSE_HEADER_TIMEOUT") {
		vars["SLINKERD_RESPONSE_HEADER_TIMEOUT"] = "1s"
	}
	for k, v := range env {
		vars[k] = v
	}
	return harness.StartSlinkerd(t, slinkerdBin, vars)
}

// inetDtab routes each name to its origin: /svc/<name>=>/$/inet/….
func inetDtab(origins map[string]*origin) string {
	var parts []string
	for n, o := range origins {
		parts = append(parts, fmt.Sprintf("/svc/%s=>/$/inet/127.0.0.1/%d", n, o.port))
	}
	return strings.Join(parts, ";")
}

// waitPendingZero waits until the admin metrics show no attempt in
// flight to addr: every endpoint pick was released.
func waitPendingZero(t *testing.T, p *harness.Proc, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last int
	deadline := time.Now().Add(3 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		last = endpointPending(t, client, p, addr)
		if last == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("endpoint %s: pending is %d 3s after its last request ended; want 0 (a pick was not released)", addr, last)
			return
		}
		<-tick.C
	}
}

func endpointPending(t *testing.T, client *http.Client, p *harness.Proc, addr string) int {
	resp, err := client.Get(p.AdminURL() + "/admin/metrics.json")
	if err != nil {
		t.Fatalf("admin metrics: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Clients []struct {
			Endpoints []struct {
				Address string `json:"address"`
				Pending int    `json:"pending"`
			} `json:"endpoints"`
		} `json:"clients"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("admin metrics: decode: %v", err)
	}
	n := 0
	for _, c := range doc.Clients {
		for _, e := range c.Endpoints {
			if e.Address == addr {
				n += e.Pending
			}
		}
	}
	return n
}

// ---- origins ----

// seenReq is one request an origin read.
type seenReq struct {
	head string // the raw head, as received
	req  *http.Request
	tag  string // its X-Tag
	conn net.Conn
}

// script answers one request on the origin's connection (its buffered
// reader is br). It returns false to close the connection.
type script func(c net.Conn, br *bufio.Reader, r *seenReq) bool

// rawServer accepts connections on 127.0.0.1 and runs serve on each, on a
// goroutine of its own, until cleanup, when it closes its listener and
// every connection and waits for its goroutines. serve is given the
// connection's number (1 for the first) and closes nothing itself.
type rawServer struct {
	port int
	ln   net.Listener
	done chan struct{} // closed at cleanup: servers that wait give up

	connsMu  sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	wg       sync.WaitGroup
}

func startRawServer(t testing.TB, what string, serve func(c net.Conn, n int)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%s listen: %v", what, err)
	}
	s := &rawServer{port: ln.Addr().(*net.TCPAddr).Port, ln: ln, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept(serve)
	t.Cleanup(s.stop)
	return s
}

func (s *rawServer) stop() {
	close(s.done)
	_ = s.ln.Close()
	s.connsMu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.connsMu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) accept(serve func(c net.Conn, n int)) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connsMu.Lock()
		select {
		case <-s.done:
			s.connsMu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.conns[c] = true
		s.accepted++
		n := s.accepted
		s.wg.Add(1)
		s.connsMu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				_ = c.Close()
				s.connsMu.Lock()
				delete(s.conns, c)
				s.connsMu.Unlock()
			}()
			serve(c, n)
		}()
	}
}

// connections reports how many connections the server has accepted.
func (s *rawServer) connections() int {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	return s.accepted
}

// origin is a raw-TCP HTTP/1.1 server on 127.0.0.1 whose answers are
// written by a script, and which records every request head it reads.
type origin struct {
	*rawServer
	run script

	mu    sync.Mutex
	heads []string
}

// startOrigin serves run on 127.0.0.1 until cleanup.
func startOrigin(t testing.TB, run script) *origin {
	t.Helper()
	o := &origin{run: run}
	o.rawServer = startRawServer(t, "origin", func(c net.Conn, _ int) { o.serve(c) })
	return o
}

// serve reads requests on c and hands each to the script. A request's
// body is read before the script runs, unless the request expects
// 100-continue (the script then decides).
func (o *origin) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		head, err := readHead(br)
		if err != nil {
			return
		}
		o.mu.Lock()
		o.heads = append(o.heads, head)
		o.mu.Unlock()
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			return
		}
		r := &seenReq{head: head, req: req, tag: req.Header.Get("X-Tag"), conn: c}
		if req.Header.Get("Expect") == "" {
			if err := readBody(br, req); err != nil {
				return
			}
		}
		if !o.run(c, br, r) {
			return
		}
	}
}

// readHead reads a request head up to and including its empty line.
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if b.Len() == 0 && (line == "\r\n" || line == "\n") {
			continue // between requests
		}
		b.WriteString(line)
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
		if b.Len() > 1<<20 {
			return "", fmt.Errorf("request head over 1 MiB")
		}
	}
}

// readBody reads and discards req's body from br.
func readBody(br *bufio.Reader, req *http.Request) error {
	if len(req.TransferEncoding) > 0 {
		_, err := io.Copy(io.Discard, httputil.NewChunkedReader(br))
		if err != nil {
			return err
		}
		// The trailer, up to its empty line.
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if line == "\r\n" || line == "\n" {
				return nil
			}
		}
	}
	if req.ContentLength > 0 {
		_, err := io.CopyN(io.Discard, br, req.ContentLength)
		return err
	}
	return nil
}

// Heads returns every request head the origin has read.
func (o *origin) Heads() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.heads...)
}

// okResponse is a well-formed answer that echoes tag in a header and as
// the body.
func okResponse(tag string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s", tag, len(tag), tag)
}

// echo answers every request with okResponse of its tag.
func echo(c net.Conn, _ *bufio.Reader, r *seenReq) bool {
	_, err := io.WriteString(c, okResponse(r.tag))
	return err == nil
}

// ---- callers ----

// result is what a caller got for one request: a response, or how the
// connection ended without one.
type result struct {
	n1xx   int // interim (1xx) responses before the final one
	status int
	header http.Header
	body   string
	err    error
}

func (r result) String() string {
	if r.err != nil {
		return "no response: " + r.err.Error()
	}
	return fmt.Sprintf("%d (after %d 1xx) x-tag=%q l5d-err=%q body=%q", r.status, r.n1xx, r.header.Get("X-Tag"), r.header.Get("l5d-err"), trunc(r.body, 120))
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// callerConn is a raw connection to the proxy.
type callerConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialProxy(t testing.TB, p *harness.Proc, timeout time.Duration) *callerConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.ProxyAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial slinkerd: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(timeout))
	return &callerConn{c: c, br: bufio.NewReader(c)}
}

// read reads one response to a request with method, counting the
// interim (1xx) responses before it.
func (cc *callerConn) read(method string) result {
	var n1xx int
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(cc.br, &http.Request{Method: method})
		if err != nil {
			return result{n1xx: n1xx, err: err}
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		n1xx++
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if err != nil {
		return result{n1xx: n1xx, status: resp.StatusCode, header: resp.Header, body: string(body), err: fmt.Errorf("body: %w", err)}
	}
	return result{n1xx: n1xx, status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// rest reads what follows on the connection until it ends or the
// deadline passes; closed says whether it ended (EOF or reset).
func (cc *callerConn) rest() (extra string, closed bool) {
	b, err := io.ReadAll(cc.br)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

// rawGet is a minimal tagged request for name.
func rawGet(method, name, tag string) string {
	return fmt.Sprintf("%s /t/%s HTTP/1.1\r\nHost: %s\r\nX-Tag: %s\r\n\r\n", method, tag, name, tag)
}

// exchange sends raw on a new connection and reads one response.
func exchange(t testing.TB, p *harness.Proc, raw, method string, timeout time.Duration) result {
	t.Helper()
	cc := dialProxy(t, p, timeout)
	defer cc.c.Close()
	if _, err := io.WriteString(cc.c, raw); err != nil {
		return result{err: err}
	}
	return cc.read(method)
}

// checkFollowUps sends n tagged GETs to name, one at a time on new
// connections, and fails unless each gets its own tag back: the proxy
// keeps serving, and nothing from an earlier exchange is delivered.
func checkFollowUps(t *testing.T, p *harness.Proc, name string, n int) {
	t.Helper()
	for i := range n {
		tag := fmt.Sprintf("follow-%d", i)
		r := exchange(t, p, rawGet("GET", name, tag), "GET", 5*time.Second)
		if r.err != nil || r.status != 200 || r.header.Get("X-Tag") != tag || r.body != tag {
			t.Errorf("follow-up %d: got %v; want 200 with its own tag %q (a response meant for another request, or the proxy stopped serving)", i, r, tag)
		}
	}
}

// containsFold reports whether s contains sub, ignoring ASCII case.
func containsFold(s, sub string) bool {
	return bytes.Contains(bytes.ToLower([]byte(s)), bytes.ToLower([]byte(sub)))
}
