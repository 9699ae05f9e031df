//lint:file-ignore SA1019 these tests drive x/net/http2 directly to produce its errors

package retry_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/slinkerd/slinkerd/core/retry"
)

// listen returns a TCP listener on 127.0.0.1, closed when the test ends.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// serveOnce runs handle on the first connection accepted by ln, and waits
// for it to return when the test ends.
func serveOnce(t *testing.T, ln net.Listener, handle func(c net.Conn)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		handle(c)
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
}

// post returns a non-idempotent request with a small body: what must
// never be sent twice by mistake.
func post(t *testing.T, ctx context.Context, addr string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/pay", strings.NewReader(`{"amount":100}`))
	require.NoError(t, err)
	return req
}

// testContext returns a context that ends with the test or after 10s, so
// that a broken transport fails the test instead of hanging it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// countingTransport returns an HTTP/1.1 transport whose connections count
// their writes; afterDial runs on each new connection first.
func countingTransport(t *testing.T, afterDial func(net.Conn) error) (*http.Transport, *atomic.Pointer[retry.CountingConn]) {
	var last atomic.Pointer[retry.CountingConn]
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if afterDial != nil {
				if err := afterDial(c); err != nil {
					_ = c.Close()
					return nil, err
				}
			}
			cc := retry.NewCountingConn(c)
			last.Store(cc)
			return cc, nil
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr, &last
}

func TestRequeueableConnectionRefused(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	_, err := (&http.Client{Transport: tr}).Do(post(t, testContext(t), addr))
	require.Error(t, err)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
	assert.True(t, retry.Requeueable(err, false))
	assert.True(t, retry.Requeueable(err, true), "no connection: nothing was sent, whatever the caller believes")
}

func TestRequeueableDialError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	_, err := tr.RoundTrip(post(t, testContext(t), "backend"))
	require.Error(t, err)
	require.ErrorIs(t, err, os.ErrNotExist, "a dial error other than ECONNREFUSED")
	assert.True(t, retry.Requeueable(err, false))
}

// TestRequeueableResetAfterTheRequestArrived is the case a requeue must
// never touch: the server read the POST, then the connection broke.
func TestRequeueableResetAfterTheRequestArrived(t *testing.T) {
	ln := listen(t)
	read := make(chan *http.Request, 1)
	serveOnce(t, ln, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			_, _ = io.ReadAll(req.Body)
		}
		read <- req
		reset(c)
	})
	tr, conn := countingTransport(t, nil)
	var wroteHeaders atomic.Bool
	ctx := httptrace.WithClientTrace(testContext(t), &httptrace.ClientTrace{
		WroteHeaders: func() { wroteHeaders.Store(true) },
	})

	_, err := tr.RoundTrip(post(t, ctx, ln.Addr().String()))
	require.Error(t, err)
	require.NotNil(t, <-read, "the server got the request")
	t.Logf("transport error: %v", err)

	assert.True(t, wroteHeaders.Load())
	assert.Positive(t, conn.Load().Written())
	assert.False(t, retry.Requeueable(err, true))
	assert.True(t, retry.Requeueable(err, false),
		"the same error with nothing written is a requeue: requestWritten is what keeps this POST from running twice")
}

// TestRequeueableResetBeforeAnythingWasWritten is a dead pooled
// connection (a Lambda thaw, a NAT timeout): the server's reset is there
// before the transport writes a byte.
func TestRequeueableResetBeforeAnythingWasWritten(t *testing.T) {
	ln := listen(t)
	dialled := make(chan struct{})
	serveOnce(t, ln, func(c net.Conn) {
		<-dialled // resetting earlier would fail the dial itself
		reset(c)
	})
	tr, conn := countingTransport(t, func(c net.Conn) error {
		// Wait for the reset, so that the connection is dead before the
		// transport writes to it.
		close(dialled)
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			return fmt.Errorf("want the server's reset, got %w", err)
		}
		return nil
	})

	_, err := tr.RoundTrip(post(t, testContext(t), ln.Addr().String()))
	require.Error(t, err)
	t.Logf("transport error: %v", err)
	require.NotNil(t, conn.Load(), "the dial succeeded")

	written := conn.Load().Written() > 0
	assert.False(t, written)
	assert.True(t, retry.Requeueable(err, written))
}

// h2Backend serves one HTTP/2 (h2c, prior knowledge) connection with a
// raw framer and answers the first request's HEADERS with answer; when
// answer returns false, the server closes the connection.
func h2Backend(t *testing.T, answer func(fr *http2.Framer, stream uint32) (keepOpen bool)) string {
	ln := listen(t)
	serveOnce(t, ln, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		if fr.WriteSettings() != nil {
			return
		}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() && fr.WriteSettingsAck() != nil {
					return
				}
			case *http2.HeadersFrame:
				if !answer(fr, f.StreamID) {
					return
				}
			}
		}
	})
	return ln.Addr().String()
}

// h2RoundTrip sends one POST over a new HTTP/2 connection to addr with
// golang.org/x/net/http2's ClientConn, which (unlike Transport.RoundTrip)
// returns the stream's error instead of retrying it itself.
func h2RoundTrip(t *testing.T, addr string) error {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(c)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	rsp, err := cc.RoundTrip(post(t, testContext(t), addr))
	if err == nil {
		_ = rsp.Body.Close()
	}
	return err
}

func TestRequeueableHTTP2(t *testing.T) {
	tests := []struct {
		name   string
		answer func(fr *http2.Framer, stream uint32) bool
		check  func(t *testing.T, err error)
		want   bool
	}{
		{
			name: "RST_STREAM REFUSED_STREAM",
			answer: func(fr *http2.Framer, stream uint32) bool {
				return fr.WriteRSTStream(stream, http2.ErrCodeRefusedStream) == nil
			},
			check: func(t *testing.T, err error) {
				var se http2.StreamError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, http2.ErrCodeRefusedStream, se.Code)
			},
			want: true,
		},
		{
			name: "RST_STREAM CANCEL",
			answer: func(fr *http2.Framer, stream uint32) bool {
				return fr.WriteRSTStream(stream, http2.ErrCodeCancel) == nil
			},
			check: func(t *testing.T, err error) {
				var se http2.StreamError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, http2.ErrCodeCancel, se.Code)
			},
			want: false,
		},
		{
			name: "graceful GOAWAY below the stream",
			answer: func(fr *http2.Framer, _ uint32) bool {
				return fr.WriteGoAway(0, http2.ErrCodeNo, nil) == nil
			},
			check: func(t *testing.T, err error) {
				assert.EqualError(t, err, "http2: Transport received Server's graceful shutdown GOAWAY")
			},
			want: true,
		},
		{
			name: "GOAWAY with an error below the first stream",
			answer: func(fr *http2.Framer, _ uint32) bool {
				return fr.WriteGoAway(0, http2.ErrCodeEnhanceYourCalm, nil) == nil
			},
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "http2: Transport received GOAWAY from server ErrCode:ENHANCE_YOUR_CALM")
			},
			want: true,
		},
		{
			name: "GOAWAY covering the stream, then close",
			answer: func(fr *http2.Framer, stream uint32) bool {
				_ = fr.WriteGoAway(stream, http2.ErrCodeNo, nil)
				return false
			},
			check: func(t *testing.T, err error) {
				var ga http2.GoAwayError
				require.ErrorAs(t, err, &ga)
				assert.Equal(t, uint32(1), ga.LastStreamID)
			},
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h2RoundTrip(t, h2Backend(t, tt.answer))
			require.Error(t, err)
			t.Logf("transport error: %v", err)
			tt.check(t, err)
			// HEADERS went out in every case: only what the server said
			// decides.
			assert.Equal(t, tt.want, retry.Requeueable(err, true))
		})
	}
}

func TestRequeueableErrors(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
	pipe := &net.OpError{Op: "write", Net: "tcp", Err: &os.SyscallError{Syscall: "write", Err: syscall.EPIPE}}
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "http://backend/pay", Err: err} }
	tests := []struct {
		name           string
		err            error
		want           bool // Requeueable(err, true)
		wantNotWritten bool // Requeueable(err, false)
	}{
		{name: "nil", err: nil},
		{name: "plain error", err: errors.New("boom")},
		{name: "connection refused", err: syscall.ECONNREFUSED, want: true, wantNotWritten: true},
		{name: "dial error in url.Error", err: urlErr(dial), want: true, wantNotWritten: true},
		{name: "DNS failure", err: urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "backend", IsNotFound: true}}), want: true, wantNotWritten: true},
		{name: "dial cancelled by the caller", err: urlErr(&net.OpError{Op: "dial", Err: fmt.Errorf("operation was canceled: %w", context.Canceled)})},
		{name: "caller cancelled", err: urlErr(context.Canceled)},
		{name: "deadline after the dial", err: urlErr(context.DeadlineExceeded)},
		{name: "read reset", err: urlErr(reset), wantNotWritten: true},
		{name: "write broken pipe", err: pipe, wantNotWritten: true},
		{name: "EOF", err: urlErr(io.EOF), wantNotWritten: true},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, wantNotWritten: true},
		{name: "connection aborted", err: syscall.ECONNABORTED, wantNotWritten: true},
		{name: "closed conn", err: fmt.Errorf("write: %w", net.ErrClosed), wantNotWritten: true},
		{name: "HTTP/1 broken after writing", err: fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", io.EOF), wantNotWritten: true},
		{name: "server closed idle connection", err: urlErr(errors.New("http: server closed idle connection")), want: true, wantNotWritten: true},
		{name: "client conn not usable", err: errors.New("http2: client conn not usable"), want: true, wantNotWritten: true},
		{name: "client conn not established", err: errors.New("http2: client conn could not be established"), want: true, wantNotWritten: true},
		{name: "REFUSED_STREAM", err: urlErr(http2.StreamError{StreamID: 3, Code: http2.ErrCodeRefusedStream}), want: true, wantNotWritten: true},
		{name: "PROTOCOL_ERROR stream", err: http2.StreamError{StreamID: 3, Code: http2.ErrCodeProtocol}},
		{name: "GOAWAY last stream 0", err: http2.GoAwayError{LastStreamID: 0, ErrCode: http2.ErrCodeNo}, want: true, wantNotWritten: true},
		{name: "GOAWAY last stream 7", err: http2.GoAwayError{LastStreamID: 7, ErrCode: http2.ErrCodeNo}},
		{name: "a sentinel's text inside another message", err: errors.New("proxy: http: server closed idle connection")},
		{name: "TLS verification", err: urlErr(x509.UnknownAuthorityError{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retry.Requeueable(tt.err, true), "request written")
			assert.Equal(t, tt.wantNotWritten, retry.Requeueable(tt.err, false), "nothing written")
		})
	}
}

func TestCountingConn(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	cc := retry.NewCountingConn(a)
	go func() { _, _ = io.Copy(io.Discard, b) }()
	n, err := cc.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	_, err = io.Copy(cc, strings.NewReader(" world"))
	require.NoError(t, err)
	assert.Equal(t, int64(11), cc.Written())
	_, isReaderFrom := any(cc).(io.ReaderFrom)
	assert.False(t, isReaderFrom, "no ReadFrom: every byte goes through Write")
}
