package h2

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "slinkerd/internal/h2.")
}

// testServer is a Server on a 127.0.0.1 listener.
type testServer struct {
	*Server
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
	errs chan error // what each ServeConn returned
}

// startServer serves cfg on a 127.0.0.1 listener; each accepted
// connection goes through prepare (if any) first.
func startServer(t *testing.T, cfg Config, prepare ...func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: NewServer(cfg), addr: ln.Addr().String(), ln: ln, errs: make(chan error, 100)}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			for _, p := range prepare {
				p(nc)
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				err := ts.ServeConn(nc)
				select {
				case ts.errs <- err:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = ts.Close()
		ts.wg.Wait()
	})
	return ts
}

// h2cClient is net/http's client speaking h2c with prior knowledge.
func h2cClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// rawConn is a client that writes frames by hand.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// dialRaw connects, sends the preface and an empty SETTINGS.
func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	r := newRaw(t, nc)
	r.start()
	return r
}

func newRaw(t *testing.T, nc net.Conn) *rawConn {
	r := &rawConn{t: t, nc: nc}
	r.fr = http2.NewFramer(nc, nc)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.fr.MaxHeaderListSize = 1 << 20
	r.enc = hpack.NewEncoder(&r.buf)
	return r
}

func (r *rawConn) start() {
	if _, err := r.nc.Write([]byte(clientPreface)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		r.t.Fatal(err)
	}
}

// block encodes a request head for path plus extra name/value pairs.
func (r *rawConn) block(path string, extra ...string) []byte {
	r.buf.Reset()
	fields := []string{":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", path}
	for len(extra) >= 2 && strings.HasPrefix(extra[0], ":") {
		replaced := false
		for i := 0; i < len(fields); i += 2 {
			if fields[i] == extra[0] {
				fields[i+1], replaced = extra[1], true
			}
		}
		if !replaced {
			fields = append(fields, extra[:2]...)
		}
		extra = extra[2:]
	}
	fields = append(fields, extra...)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), r.buf.Bytes()...)
}

func (r *rawConn) request(id uint32, end bool, path string, extra ...string) error {
	return r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.block(path, extra...), EndStream: end, EndHeaders: true})
}

// next reads the next frame (deadline 10s).
func (r *rawConn) next() (http2.Frame, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return r.fr.ReadFrame()
}

// waitFor reads frames until match says yes; an error (EOF, a deadline)
// fails the test.
func (r *rawConn) waitFor(what string, match func(http2.Frame) bool) http2.Frame {
	r.t.Helper()
	for {
		f, err := r.next()
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// goAwayOrClose reads until a GOAWAY (returned) or the connection ends
// (nil).
func (r *rawConn) goAwayOrClose() *http2.GoAwayFrame {
	r.t.Helper()
	for {
		f, err := r.next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.t.Fatal("the connection is still open")
			}
			return nil
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga
		}
	}
}

func isRST(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		rs, ok := f.(*http2.RSTStreamFrame)
		return ok && rs.StreamID == id
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// concurrently runs f(0) to f(n-1), at most inFlight at a time, and
// returns when all have.
func concurrently(n, inFlight int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
