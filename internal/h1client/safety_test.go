//go:build unix

package h1client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// taggedOrigin answers each request with the tag in its path
// ("/t/<tag>") as the body. To the first request it receives it sends
// first(tag) instead, which may carry bytes no request asked for.
// after, if set, is written once the first answer has been sent and
// the client has had the chance to pool the connection (the test
// signals it on idle).
func taggedOrigin(t *testing.T, first func(tag string) string, idle <-chan struct{}, after string) *rawServer {
	var once atomic.Bool
	return startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			head := readHead(br)
			if head == nil {
				return
			}
			tag := strings.TrimPrefix(strings.Fields(head[0])[1], "/t/")
			if once.CompareAndSwap(false, true) {
				_, _ = io.WriteString(c, first(tag))
				if after != "" {
					<-idle
					_, _ = io.WriteString(c, after)
				}
				continue
			}
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(tag), tag)
		}
	})
}

func taggedReq(t *testing.T, method, addr, tag string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+"/t/"+tag, nil)
	require.NoError(t, err)
	req.Host = "svc.example"
	return req
}

// The client never hands a caller bytes that answered another request:
// a connection whose exchange left bytes behind, or to which bytes
// arrived while it sat idle, is never used again. (Issue 14, defect 1;
// net/http's Transport closes such a connection with "Unsolicited
// response received on idle HTTP channel".)
func TestH1ClientNeverServesLeftoverBytes(t *testing.T) {
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
	cases := []struct {
		name   string
		method string
		first  func(tag string) string
		after  string // sent on the idle connection
	}{
		{name: "more bytes than Content-Length", method: "GET",
			first: func(tag string) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(tag), tag) + poison
			}},
		{name: "body on 204", method: "GET",
			first: func(string) string { return "HTTP/1.1 204 No Content\r\n\r\n" + poison }},
		{name: "body on 304", method: "GET",
			first: func(string) string { return "HTTP/1.1 304 Not Modified\r\n\r\n" + poison }},
		{name: "body after a HEAD response", method: "HEAD",
			first: func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" + poison }},
		{name: "chunked body with bytes after its end", method: "GET",
			first: func(tag string) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(tag), tag) + poison
			}},
		{name: "response arriving on an idle connection", method: "GET",
			first: func(tag string) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(tag), tag)
			},
			after: poison},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idle := make(chan struct{})
			s := taggedOrigin(t, tc.first, idle, tc.after)
			c := newTestH1Client()

			resp, _, err := c.RoundTrip(context.Background(), taggedReq(t, tc.method, s.addr(), "a1"), s.addr(), nil, 0)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
			close(idle)
			if tc.after != "" {
				// Wait until the unsolicited bytes are there to be seen.
				pc := c.host(s.addr()).idle
				require.Len(t, pc, 1)
				waitReadable(t, pc[0].nc)
			}

			for i := range 5 {
				tag := fmt.Sprintf("b%d", i)
				resp, _, err := c.RoundTrip(context.Background(), taggedReq(t, "GET", s.addr(), tag), s.addr(), nil, 0)
				if err != nil {
					continue // an error is allowed; another's response is not
				}
				assert.Equal(t, tag, readAll(t, resp), "request %d got bytes that answered another request", i)
			}
		})
	}
}

// waitReadable waits until c has bytes to read, without reading them:
// a peek that the runtime's poller retries when c becomes readable.
func waitReadable(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	rc, err := c.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	}))
}

// A status code outside 100–599 is refused with an error (Envoy answers
// 502), on the client: net/http's ResponseWriter panics on a code below
// 100, which leaked the endpoint's pending count. (Issue 14, defect 6.)
func TestH1ClientRefusesStatusCodesOutOfRange(t *testing.T) {
	for _, code := range []string{"000", "099", "600", "999"} {
		t.Run(code, func(t *testing.T) {
			s := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if readHead(br) != nil {
					_, _ = io.WriteString(c, "HTTP/1.1 "+code+" Odd\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			c := newTestH1Client()
			_, _, err := c.RoundTrip(context.Background(), taggedReq(t, "GET", s.addr(), "x"), s.addr(), nil, 0)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "status code")
			s.waitClosed(t, 1)
		})
	}
}
