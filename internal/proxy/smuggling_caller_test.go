package proxy_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pathOrigin is an origin that records the path of every request it
// gets. With readBody it reads the request body to its end before it
// answers; without, it answers at once.
type pathOrigin struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
}

func startPathOrigin(t *testing.T, readBody bool) *pathOrigin {
	t.Helper()
	o := &pathOrigin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.paths = append(o.paths, r.URL.Path)
		o.mu.Unlock()
		if readBody {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return // the proxy gave up on the request
			}
		}
		_, _ = io.WriteString(w, "origin "+r.URL.Path)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *pathOrigin) saw() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.paths...)
}

// selfSignedFiles writes a certificate for 127.0.0.1 and its key to a
// temporary directory.
func selfSignedFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// startCallerProxy serves a Proxy that routes every Host to origin, on a
// cleartext listener or, with useTLS, a TLS one; it returns a dialer for
// raw connections to it.
func startCallerProxy(t *testing.T, origin string, useTLS bool, mut func(*proxy.Config)) func(t *testing.T) net.Conn {
	t.Helper()
	ns := &bind.Namers{}
	require.NoError(t, ns.Add("/#/static", staticNamer{"web": {origin}}))
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/#/static/web"), Namers: ns})
	require.NoError(t, err)
	cfg := proxy.Config{Interpreter: in}
	if mut != nil {
		mut(&cfg)
	}
	p, err := proxy.New(cfg)
	require.NoError(t, err)
	scfg := proxy.ServerConfig{Addr: "127.0.0.1:0"}
	if useTLS {
		scfg.TLSCertFile, scfg.TLSKeyFile = selfSignedFiles(t)
	}
	srv, err := proxy.Listen(scfg, p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	addr := srv.Addr().String()
	return func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		if useTLS {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // a test's own certificate
			require.NoError(t, tc.Handshake())
			c = tc
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

// readResponses reads responses from c until the proxy closes it (or the
// deadline passes, which fails the test), and returns their statuses.
func readResponses(t *testing.T, c net.Conn) []int {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	var got []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the proxy kept the connection open after %v", got)
			// EOF, or a reset after the answer: the connection is closed.
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Logf("connection ended with %v", err)
			}
			return got
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		got = append(got, resp.StatusCode)
		if err != nil {
			return got
		}
	}
}

// TestCallerMalformedChunkedBodyClosesTheConnection is the smuggling
// probe of issue 14 (defect 2): a chunked body that breaks its framing,
// followed by more requests on the same connection. RFC 9112 §7.1 and
// net/http without full duplex: whatever follows a framing error is not
// a request. The caller gets exactly one answer, then the connection
// closes, and the origin never sees what followed the error.
func TestCallerMalformedChunkedBodyClosesTheConnection(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n" +
		"POST /smuggled-clte HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /smuggled-last HTTP/1.1\r\nHost: web\r\n\r\n"
	head := "POST /first HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name     string
		body     string // the malformed chunked body; smuggled follows it
		readBody bool   // the origin reads the body before it answers
		status   []int  // the one answer the caller gets is one of these
	}{
		{"bad chunk CRLF", "3\r\nabcXX", true, []int{400}},
		{"bad chunk CRLF, LF only", "3\r\nabc\nX", true, []int{400}},
		{"bad chunk size", "zz\r\nabc\r\n", true, []int{400}},
		{"empty chunk size", "\r\nabc\r\n", true, []int{400}},
		{"chunk size overflow", "10000000000000003\r\nabc\r\n", true, []int{400}},
		{"chunk line with a bare LF", "3\nabc\r\n", true, []int{400}},
		{"CR inside a chunk line", "3\r;x\r\nabc\r\n", true, []int{400}},
		{"space before a chunk extension", "3 ;x\r\nabc\r\n", true, []int{400}},
		{"bad trailer", "3\r\nabc\r\n0\r\nnot a header line\r\n\r\n", true, []int{400}},
		{"trailer without a name", "3\r\nabc\r\n0\r\n: v\r\n\r\n", true, []int{400}},
		// The origin's answer and the body's error race in the transport:
		// either answer is right, as long as it is the only one.
		{"bad chunk CRLF, origin answers first", "3\r\nabcXX", false, []int{200, 400}},
	}
	for _, useTLS := range []bool{false, true} {
		listener := "cleartext"
		if useTLS {
			listener = "TLS"
		}
		for _, tt := range tests {
			t.Run(listener+"/"+tt.name, func(t *testing.T) {
				t.Parallel() // each waits for net/http's graceful close
				origin := startPathOrigin(t, tt.readBody)
				dial := startCallerProxy(t, strings.TrimPrefix(origin.srv.URL, "http://"), useTLS, nil)
				c := dial(t)
				_, err := io.WriteString(c, head+tt.body+smuggled)
				require.NoError(t, err)
				got := readResponses(t, c)
				if assert.Len(t, got, 1, "exactly one answer, then the connection closes: %v", got) {
					assert.Contains(t, tt.status, got[0])
				}
				for _, p := range origin.saw() {
					assert.NotContains(t, p, "smuggled", "the origin served a request that followed a framing error")
				}
			})
		}
	}
}

// TestCallerGoodChunkedBodiesKeepTheConnection: the same connection
// carries well-formed chunked bodies (extensions, trailers, a body the
// origin does not read) one after another.
func TestCallerGoodChunkedBodiesKeepTheConnection(t *testing.T) {
	origin := startPathOrigin(t, true)
	for _, useTLS := range []bool{false, true} {
		dial := startCallerProxy(t, strings.TrimPrefix(origin.srv.URL, "http://"), useTLS, nil)
		c := dial(t)
		reqs := "POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n" +
			"POST /b HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\t\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n" +
			"GET /c HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"
		_, err := io.WriteString(c, reqs)
		require.NoError(t, err)
		assert.Equal(t, []int{200, 200, 200}, readResponses(t, c), "tls=%v", useTLS)
	}
}

// TestCallerChunkedBodyInlinedOnlyWhenArrived: a small chunked request
// body that has arrived whole with its head goes to the origin with a
// Content-Length and no Transfer-Encoding (as nginx's request buffering
// sends it), the request pipelined after it intact; a body still
// arriving is passed on chunked, as it comes, without the proxy waiting
// for it.
func TestCallerChunkedBodyInlinedOnlyWhenArrived(t *testing.T) {
	type seen struct {
		path string
		cl   int64
		te   []string
		body string
	}
	got := make(chan seen, 8)
	headSeen := make(chan struct{}, 8)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headSeen <- struct{}{}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		got <- seen{r.URL.Path, r.ContentLength, r.TransferEncoding, string(b)}
		_, _ = io.WriteString(w, "origin "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	dial := startCallerProxy(t, strings.TrimPrefix(origin.URL, "http://"), false, nil)

	// Arrived whole: one write, with a trailer, and a GET after it.
	c := dial(t)
	_, err := io.WriteString(c, "POST /whole HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 1\r\n\r\n"+
		"GET /next HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	assert.Equal(t, []int{200, 200}, readResponses(t, c))
	s := <-got
	assert.Equal(t, seen{"/whole", 12, nil, "hello, world"}, s)
	assert.Equal(t, "/next", (<-got).path)
	<-headSeen
	<-headSeen

	// An empty chunked body, arrived: no body, Content-Length 0.
	c = dial(t)
	_, err = io.WriteString(c, "POST /empty HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n")
	require.NoError(t, err)
	assert.Equal(t, []int{200}, readResponses(t, c))
	assert.Equal(t, seen{"/empty", 0, nil, ""}, <-got)
	<-headSeen

	// Still arriving: the first chunk comes with the head, the rest only
	// once the origin has the request, which it can only have chunked.
	c = dial(t)
	_, err = io.WriteString(c, "POST /streamed HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n")
	require.NoError(t, err)
	select {
	case <-headSeen:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy waited for the rest of a body that was still arriving")
	}
	_, err = io.WriteString(c, "7\r\n, world\r\n0\r\n\r\n")
	require.NoError(t, err)
	assert.Equal(t, []int{200}, readResponses(t, c))
	assert.Equal(t, seen{"/streamed", -1, []string{"chunked"}, "hello, world"}, <-got)
}
