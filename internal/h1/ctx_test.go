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
