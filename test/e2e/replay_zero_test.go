package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRetryBufferZeroNeverReplays: SLINKERD_RETRY_BUFFER_BYTES=0 is
// documented as "bodies are never replayed", but 0 became 64 KiB on the
// way to the proxy and a POST reached the origin twice (defect 9 of issue
// 14). The origin answers 503 to every POST, which retryableAll5XX
// retries: with the buffer at 0 it sees the body exactly once; with the
// default buffer (the control) it sees it again.
func TestRetryBufferZeroNeverReplays(t *testing.T) {
	tests := []struct {
		name   string
		buffer string // SLINKERD_RETRY_BUFFER_BYTES; "" for the default
		once   bool   // the origin sees the POST body exactly once
	}{
		{name: "zero never replays", buffer: "0", once: true},
		{name: "default replays", buffer: "", once: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var posts atomic.Int64
			be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if b, _ := io.ReadAll(r.Body); r.Method == http.MethodPost && string(b) == "charge card" {
					posts.Add(1)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			env := map[string]string{
				"SLINKERD_DTAB":       inetDtab("pay", be.Port),
				"SLINKERD_CLASSIFIER": "retryableAll5XX",
				// No waits between retries: the control's 25 attempts are quick.
				"SLINKERD_RETRY_BACKOFF_MIN": "0s", "SLINKERD_RETRY_BACKOFF_MAX": "0s",
			}
			if tt.buffer != "" {
				env["SLINKERD_RETRY_BUFFER_BYTES"] = tt.buffer
			}
			p := startSlinkerd(t, env)

			req, err := http.NewRequest(http.MethodPost, p.URL()+"/charge", strings.NewReader("charge card"))
			require.NoError(t, err)
			req.Host = "pay"
			resp, err := newH1Client(t).Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())

			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			if tt.once {
				assert.Equal(t, int64(1), posts.Load(), "the origin saw the POST body once")
			} else {
				assert.Greater(t, posts.Load(), int64(1), "with a replay buffer the POST is retried")
			}
		})
	}
}
