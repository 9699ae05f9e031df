package h1

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A caller that hangs up while its request runs ends the request's
// context (the loop's background read sees the EOF), and the hook set
// on it, as the HTTP/1.1 client sets one, runs.
func TestLoopCallerGoneEndsContext(t *testing.T) {
	ended := make(chan error, 1)
	hooked := make(chan struct{})
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := r.Context().(interface{ SetCancelHook(func()) bool })
		if !ok || !h.SetCancelHook(func() { close(hooked) }) {
			t.Error("the request's context takes no cancel hook")
			close(hooked)
		}
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(10 * time.Second):
			ended <- nil
		}
	}), nil)
	c, _ := dial(t, addr)
	_, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	// The close may come before or after the handler starts: either way
	// the context ends.
	require.NoError(t, c.Close())
	select {
	case <-hooked:
	case <-time.After(10 * time.Second):
		t.Fatal("the cancel hook did not run when the caller hung up")
	}
	assert.ErrorIs(t, <-ended, context.Canceled)
}

// A request that follows others on a kept-alive connection has its own
// hang-up noticed: the watch's timer is for that request's delay, not
// for one an earlier request set. (The first handler's pause puts the
// last request's start well after the first request set the timer, so
// that a timer carried over from it would fire before the last
// request's delay is up; the test passes however long the pause takes.)
func TestLoopCallerGoneAfterEarlierRequests(t *testing.T) {
	ended := make(chan error, 1)
	addr, _, _ := serveLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pause":
			time.Sleep(50 * time.Millisecond)
			fallthrough
		case "/fast":
			_, _ = io.WriteString(w, "ok")
			return
		}
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(10 * time.Second):
			ended <- nil
		}
	}), func(cfg *Config) { cfg.watchDelay = 200 * time.Millisecond })
	c, br := dial(t, addr)
	for _, path := range []string{"/pause", "/fast"} {
		_, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, "ok", string(b))
	}
	_, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-ended, context.Canceled)
}
