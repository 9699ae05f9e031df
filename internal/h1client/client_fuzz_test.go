package h1client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzH1ClientPooledConnection is the response-queue invariant of the
// HTTP/1.1 client (DESIGN.md §8): whatever bytes an origin answers the
// first request with — more than its framing says, a body where none
// belongs, a broken head, a response nobody asked for — the next request
// gets its own response or an error, never bytes of the first stream.
//
// The input's first byte picks the first request's method (GET or HEAD);
// the rest is what the origin sends in answer to it, in one write. Every
// later request on any connection is answered correctly, with its own tag.
//
// An input that leaves the first response unfinished makes the first
// exchange wait out its 20ms; minimizing such inputs stalls the fuzzer,
// so run it with -fuzzminimizetime 0:
//
//	go test -run '^$' -fuzz '^FuzzH1ClientPooledConnection$' -fuzztime 10m -fuzzminimizetime 0 ./internal/proxy
func FuzzH1ClientPooledConnection(f *testing.F) {
	for _, seed := range []string{
		"GHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
		"GHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
		"GHTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\nPOISON",
		"HHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
		"GHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nPOISON",
		"GHTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 6\r\n\r\nPOISON",
		"GHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"GHTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
		"GHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	} {
		f.Add([]byte(seed))
	}
	// One origin for the whole run (a listener per input would run out of
	// ports); each input installs its stream. Connections are closed with
	// a reset, so none is left in TIME_WAIT.
	o := &fuzzOriginState{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	f.Cleanup(func() {
		ln.Close()
		o.closeAll()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			o.track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				o.serve(c)
			}()
		}
	}()
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		method := http.MethodGet
		if in[0]&1 == 1 {
			method = http.MethodHead
		}
		o.reset(in[1:])
		defer o.closeAll()

		d := &net.Dialer{Timeout: time.Second}
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			return c, err
		}
		c := &Client{dial: dial, idleTimeout: time.Minute, maxIdle: 4, maxHeader: 64 << 10}
		defer c.CloseIdle()

		// The first exchange may fail, end, or wait for bytes that never
		// come: it is given a moment.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if resp, _, err := c.RoundTrip(ctx, fuzzReq(method, addr, "first"), addr, nil, 0); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		cancel()

		for i := range 2 {
			tag := fmt.Sprintf("second%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, _, err := c.RoundTrip(ctx, fuzzReq(http.MethodGet, addr, tag), addr, nil, 0)
			if err != nil {
				cancel()
				continue // an error is allowed
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			cancel()
			if err != nil {
				continue
			}
			if resp.StatusCode != http.StatusOK || string(b) != tag {
				t.Fatalf("request %q got %d %q: bytes that answered another request", tag, resp.StatusCode, b)
			}
		}
	})
}

// fuzzOriginState is the fuzz target's origin: it answers the request
// tagged "first" with the stream, once after each reset, and every other
// request with its tag.
type fuzzOriginState struct {
	mu     sync.Mutex
	stream []byte
	sent   bool
	conns  []net.Conn
}

func (o *fuzzOriginState) reset(stream []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stream, o.sent = stream, false
}

func (o *fuzzOriginState) track(c net.Conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.conns = append(o.conns, c)
}

// closeAll closes every connection the origin has accepted.
func (o *fuzzOriginState) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		_ = c.Close()
	}
	o.conns = o.conns[:0]
}

// next returns what to answer a request with: the stream, once.
func (o *fuzzOriginState) next() ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent {
		return nil, false
	}
	o.sent = true
	return o.stream, true
}

func (o *fuzzOriginState) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		tag := strings.TrimPrefix(req.URL.Path, "/t/")
		// Only the first request gets the stream: under load it may give
		// up before it reaches the origin, and the stream must not then
		// go to the next request.
		if tag == "first" {
			if stream, ok := o.next(); ok {
				if _, err := c.Write(stream); err != nil {
					return
				}
				continue
			}
		}
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(tag), tag); err != nil {
			return
		}
	}
}

func fuzzReq(method, addr, tag string) *http.Request {
	req, err := http.NewRequest(method, "http://"+addr+"/t/"+tag, nil)
	if err != nil {
		panic(err)
	}
	req.Host = "svc.example"
	return req
}
