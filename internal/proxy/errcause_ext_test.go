package proxy_test

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hungOrigin accepts connections and never answers; the test's cleanup
// closes them.
func hungOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// Every failed call says why in l5d-err: which path ended negative and
// why, the dial error, and which timeout fired while waiting for whom; on
// the direct path and on net/http's alike.
func TestErrorsSayWhy(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run("fast="+strconv.FormatBool(fast), func(t *testing.T) { testErrorsSayWhy(t, fast) })
	}
}

func testErrorsSayWhy(t *testing.T, fast bool) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	require.NoError(t, dead.Close())
	hung := hungOrigin(t)

	dtab := "/svc/nope=>/#/static/nope;/svc/dead=>/#/static/dead;/svc/hung=>/#/static/hung;" +
		"/svc/slow=>/#/static/hung;/svc/late=>/#/static/hung;/svc/neg=>~;/svc/nonamer=>/#/io.l5d.nope/x"
	addr := startProxy(t, dtab, staticNamer{"dead": {deadAddr}, "hung": {hung}}, func(c *proxy.Config) {
		c.DisableFastPath = !fast
		c.Policy = func(p name.Path) (*proxy.Policy, error) {
			switch p.String() {
			case "/svc/hung":
				return &proxy.Policy{TotalTimeout: 150 * time.Millisecond}, nil
			case "/svc/slow":
				return &proxy.Policy{AttemptTimeout: 100 * time.Millisecond, TotalTimeout: 10 * time.Second}, nil
			}
			return &proxy.Policy{}, nil
		}
	})
	// callerDeadline is an l5d-ctx-deadline 200ms from now.
	callerDeadline := func() map[string]string {
		now := time.Now()
		return map[string]string{"l5d-ctx-deadline": strconv.FormatInt(now.UnixNano(), 10) + " " + strconv.FormatInt(now.Add(200*time.Millisecond).UnixNano(), 10)}
	}

	cases := []struct {
		name   string
		host   string
		hdr    func() map[string]string
		status int
		want   []string
	}{
		{name: "namer has no such name", host: "nope", status: 502,
			want: []string{"no route to /svc/nope", "/#/static/nope: the namer has no such name"}},
		{name: "no namer configured", host: "nonamer", status: 502,
			want: []string{"/#/io.l5d.nope/x: no namer is configured for it"}},
		{name: "no dtab entry", host: "unlisted", status: 502,
			want: []string{"/svc/unlisted: no dtab entry matches it"}},
		{name: "negated by a dentry", host: "neg", status: 502,
			want: []string{"dtab entry 5 (/svc/neg=>~) makes it negative"}},
		{name: "dial refused", host: "dead", status: 502,
			want: []string{deadAddr, "connection refused"}},
		{name: "total timeout", host: "hung", status: 504,
			want: []string{"the total timeout of 150ms passed", "waiting for " + hung}},
		{name: "attempt timeout", host: "slow", status: 504,
			want: []string{"per-attempt timeout (100ms)", hung}},
		{name: "caller's deadline", host: "late", hdr: callerDeadline, status: 504,
			want: []string{"the caller's deadline passed", "waiting for " + hung}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr map[string]string
			if tc.hdr != nil {
				hdr = tc.hdr()
			}
			resp := get(t, addr, tc.host, "/", hdr)
			assert.Equal(t, tc.status, resp.StatusCode)
			msg := resp.Header.Get("l5d-err")
			for _, w := range tc.want {
				assert.True(t, strings.Contains(msg, w), "l5d-err %q lacks %q", msg, w)
			}
		})
	}
}
