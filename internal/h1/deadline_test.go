package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.set = append(c.set, t)
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.set...)
}

// A negative IdleTimeout or ReadHeaderTimeout means no limit (slinkerd's
// SLINKERD_IDLE_TIMEOUT=0 and SLINKERD_READ_HEADER_TIMEOUT=0): the loop
// sets no such deadline; with the defaults it does, and it keeps one idle
// deadline over kept-alive requests that come quickly, instead of a new
// one per request.
func TestLoopTimeoutsOffAndIdleDeadlineKept(t *testing.T) {
	cases := []struct {
		name             string
		idle, readHeader time.Duration
		wantDeadlines    func(t *testing.T, set []time.Time)
	}{
		{name: "no limits", idle: -1, readHeader: -1, wantDeadlines: func(t *testing.T, set []time.Time) {
			for _, d := range set {
				assert.True(t, d.IsZero(), "a read deadline %v was set with no limit configured", d)
			}
		}},
		{name: "defaults", wantDeadlines: func(t *testing.T, set []time.Time) {
			var armed []time.Time
			for _, d := range set {
				if !d.IsZero() {
					armed = append(armed, d)
				}
			}
			require.NotEmpty(t, armed, "no idle deadline")
			assert.Len(t, armed, 1, "three quick kept-alive requests share one idle deadline")
			assert.WithinDuration(t, time.Now().Add(60*time.Second), armed[0], 5*time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(Config{Handler: http.HandlerFunc(echoPath), IdleTimeout: tc.idle, ReadHeaderTimeout: tc.readHeader})
			client, server := net.Pipe()
			dc := &deadlineConn{Conn: server}
			done := make(chan struct{})
			go func() { defer close(done); _ = s.ServeConn(dc) }()
			require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
			br := bufio.NewReader(client)
			for _, p := range []string{"/a", "/b", "/c"} {
				_, err := io.WriteString(client, "GET "+p+" HTTP/1.1\r\nHost: h\r\n\r\n")
				require.NoError(t, err)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				require.NoError(t, resp.Body.Close())
			}
			tc.wantDeadlines(t, dc.deadlines())
			require.NoError(t, client.Close())
			<-done
			s.Close()
		})
	}
}
