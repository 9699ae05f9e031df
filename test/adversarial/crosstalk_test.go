package adversarial

// The cross-talk invariant under load: many callers send tagged requests
// through slinkerd to origins that misbehave at random, and every answer
// a caller gets is its own or an error, never another caller's.

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/test/internal/harness"
)

const (
	crossClients  = 32  // concurrent callers, each on its own keep-alive connection
	crossRequests = 200 // requests per caller
	// crossOrigins is the endpoints behind the name. One: every caller
	// contends for one endpoint's pool, so requests often wait for a
	// connection that another exchange is about to return, which is
	// when a connection returned too early hands over stray bytes.
	crossOrigins = 1
)

// crossSeed picks the origins' misbehaviour; ADVERSARIAL_SEED overrides
// it to replay a run.
func crossSeed(t *testing.T) uint64 {
	if s := os.Getenv("ADVERSARIAL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ADVERSARIAL_SEED=%q: %v", s, err)
		}
		return n
	}
	return 14
}

// misbehaviour is what an origin does with one request.
type misbehaviour int

const (
	mOK         misbehaviour = iota // a correct answer
	mExtra                          // a correct answer, then a second copy of it
	mEarlyClose                     // a head promising more body than is sent, then close
	mBadFraming                     // two different Content-Lengths
	m204Body                        // 204, then a full response as its "body"
	m304Body                        // 304, likewise
	mStorm                          // 12 interim responses, then a correct answer
	mHeadBody                       // to HEAD, a body after the head; else correct
	mBadStatus                      // status 099
	nMisbehaviours
)

var misbehaviourNames = [...]string{"ok", "extra bytes", "early close", "bad framing", "204 with body", "304 with body", "1xx storm", "HEAD with body", "status 099"}

// pick chooses the misbehaviour for a tag from the seed alone, so a
// request meets the same one on every attempt, on both paths, whatever
// the order requests arrive in. Two requests in three are answered
// correctly.
func pick(seed uint64, tag string) misbehaviour {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, tag)
	v := h.Sum64()
	if v%3 != 0 {
		return mOK
	}
	return misbehaviour(1 + (v/3)%uint64(nMisbehaviours-1))
}

// chaosScript misbehaves as pick says.
func chaosScript(seed uint64) script {
	return func(c net.Conn, _ *bufio.Reader, r *seenReq) bool {
		tag := r.tag
		ok := okResponse(tag)
		if r.req.Method == http.MethodHead {
			ok = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n", tag, len(tag))
		}
		var out string
		keep := true
		switch pick(seed, tag) {
		case mOK:
			out = ok
		case mExtra:
			out = ok + ok
		case mEarlyClose:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\n\r\n%s", tag, len(tag)+50, tag)
			keep = false
		case mBadFraming:
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Tag: %s\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s", tag, len(tag), len(tag)+1, tag)
		case m204Body:
			out = "HTTP/1.1 204 No Content\r\nX-Tag: " + tag + "\r\n\r\n" + okResponse(tag)
		case m304Body:
			out = "HTTP/1.1 304 Not Modified\r\nX-Tag: " + tag + "\r\n\r\n" + okResponse(tag)
		case mStorm:
			out = storm(12) + ok
		case mHeadBody:
			out = ok
			if r.req.Method == http.MethodHead {
				out += okResponse(tag)
			}
		case mBadStatus:
			out = "HTTP/1.1 099 Odd\r\nX-Tag: " + tag + "\r\nContent-Length: 0\r\n\r\n"
		}
		_, err := io.WriteString(c, out)
		return err == nil && keep
	}
}

// tagPattern matches any caller's tag.
var tagPattern = regexp.MustCompile(`c\d\d-r\d\d\d`)

// crossCounts is one path's tally.
type crossCounts struct {
	seed       uint64
	mu         sync.Mutex
	own        int      // a response carrying the caller's own tag
	errors     int      // a 5xx from slinkerd, or a connection error
	other      int      // another status without a foreign tag
	violations []string // a response carrying another request's tag
}

// startCrossProxy starts slinkerd with the name x served by the origins
// on ports (an io.l5d.fs file), on the data path env selects, keeping
// every endpoint in the balancer however often it fails: the cross-talk
// tests are about whose answer arrives, not about accrual.
func startCrossProxy(t *testing.T, env map[string]string, ports ...int) *harness.Proc {
	t.Helper()
	dir := t.TempDir()
	var lines strings.Builder
	for _, port := range ports {
		fmt.Fprintf(&lines, "127.0.0.1 %d\n", port)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"SLINKERD_DTAB":                         "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR":                       dir,
		"SLINKERD_ACCRUAL_CONSECUTIVE_FAILURES": "1000000",
	}
	for k, v := range env {
		vars[k] = v
	}
	return startSlinkerd(t, vars)
}

func TestCrossTalk(t *testing.T) {
	seed := crossSeed(t)
	t.Logf("seed %d (ADVERSARIAL_SEED replays a run); %d callers x %d requests", seed, crossClients, crossRequests)
	forEachPath(t, func(t *testing.T, env map[string]string) {
		ports := make([]int, crossOrigins)
		for i := range ports {
			ports[i] = startOrigin(t, chaosScript(seed)).port
		}
		p := startCrossProxy(t, env, ports...)

		n := crossCounts{seed: seed}
		var wg sync.WaitGroup
		for i := range crossClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crossCaller(p.URL(), seed, i, &n)
			}()
		}
		wg.Wait()
		t.Logf("%s: %d own answers, %d errors, %d other statuses, %d answers meant for another request",
			strings.TrimPrefix(t.Name(), "TestCrossTalk/"), n.own, n.errors, n.other, len(n.violations))
		for i, v := range n.violations {
			if i == 20 {
				t.Errorf("… and %d more", len(n.violations)-20)
				break
			}
			t.Errorf("cross-talk: %s", v)
		}
		if n.own < crossClients*crossRequests/3 {
			t.Errorf("only %d of %d requests got their own answer; two in three origins answer correctly", n.own, crossClients*crossRequests)
		}
	})
}

// crossCaller sends crossRequests tagged requests, one at a time, on its
// own keep-alive connection pool, and tallies what comes back.
func crossCaller(base string, seed uint64, i int, n *crossCounts) {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	tr := &http.Transport{Protocols: protos, DisableCompression: true, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	for j := range crossRequests {
		tag := fmt.Sprintf("c%02d-r%03d", i, j)
		method := http.MethodGet
		var body io.Reader
		switch k := rng.IntN(10); {
		case k < 2:
			method, body = http.MethodPost, strings.NewReader("body of "+tag)
		case k < 3:
			method = http.MethodHead
		}
		req, _ := http.NewRequest(method, base+"/x/"+tag, body)
		req.Host = "x"
		req.Header.Set("X-Tag", tag)
		resp, err := client.Do(req)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		n.mu.Lock()
		n.tally(tag, method, resp, got, err)
		n.mu.Unlock()
	}
}

// tally classifies one answer; the caller holds n.mu.
func (n *crossCounts) tally(tag, method string, resp *http.Response, body []byte, err error) {
	if resp != nil {
		// Whatever else happened, a foreign tag anywhere is cross-talk.
		if h := resp.Header.Get("X-Tag"); h != "" && h != tag {
			n.violations = append(n.violations, fmt.Sprintf("%s %s got %d with X-Tag %q (whose origin answered: %s)",
				method, tag, resp.StatusCode, h, misbehaviourNames[pick(n.seed, h)]))
			return
		}
		for _, m := range tagPattern.FindAllString(string(body), -1) {
			if m != tag {
				n.violations = append(n.violations, fmt.Sprintf("%s %s got %d with body %q (whose origin answered: %s)",
					method, tag, resp.StatusCode, trunc(string(body), 80), misbehaviourNames[pick(n.seed, m)]))
				return
			}
		}
	}
	switch {
	case err != nil:
		n.errors++
	case resp.StatusCode >= 500:
		n.errors++
	case resp.Header.Get("X-Tag") == tag && (method == http.MethodHead || resp.StatusCode != 200 || string(body) == tag):
		n.own++
	default:
		n.other++
	}
}
