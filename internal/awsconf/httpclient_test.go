package awsconf_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/awsconf"
)

// closedEOFBody behaves as smithy-go's request body does: once closed,
// Read and WriteTo answer io.EOF.
type closedEOFBody struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func (b *closedEOFBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (b *closedEOFBody) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.EOF
	}
	return b.r.WriteTo(w)
}

func (b *closedEOFBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// captureClient keeps the request it was given.
type captureClient struct{ req *http.Request }

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	c.req = r
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// TestSafeRequestBodiesLastCopyAfterClose replays, step by step, the
// race that cut Lambda response streams: net/http's write loop copies
// the body, the SDK closes it once the response head is in, then the
// write loop copies what is left (io.Copy to io.Discard, which prefers
// the body's WriteTo). That last copy must end cleanly.
func TestSafeRequestBodiesLastCopyAfterClose(t *testing.T) {
	lastCopy := func(body io.ReadCloser) error {
		n, err := io.Copy(io.Discard, io.LimitReader(body, 5))
		require.NoError(t, err)
		require.EqualValues(t, 5, n)
		require.NoError(t, body.Close()) // the SDK, on the response
		_, err = io.Copy(io.Discard, body)
		return err
	}

	// As it was: io.EOF from WriteTo, which net/http takes as a failed
	// write and closes the connection.
	err := lastCopy(&closedEOFBody{r: bytes.NewReader([]byte("hello"))})
	assert.True(t, errors.Is(err, io.EOF), "the unwrapped body fails the last copy: %v", err)

	capture := &captureClient{}
	c := awsconf.SafeRequestBodies(capture)
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	require.NoError(t, err)
	req.Body, req.ContentLength = &closedEOFBody{r: bytes.NewReader([]byte("hello"))}, 5
	_, err = c.Do(req)
	require.NoError(t, err)
	_, hasWriteTo := capture.req.Body.(io.WriterTo)
	assert.False(t, hasWriteTo, "the body the transport gets has no WriteTo")
	assert.NoError(t, lastCopy(capture.req.Body))

	// Bodies without WriteTo, and none, pass as they are.
	plain := io.NopCloser(bytes.NewBufferString("x"))
	req.Body = struct{ io.ReadCloser }{plain}
	_, err = c.Do(req)
	require.NoError(t, err)
	assert.Equal(t, req.Body, capture.req.Body)
	req.Body = http.NoBody
	_, err = c.Do(req)
	require.NoError(t, err)
	assert.Equal(t, http.NoBody, capture.req.Body)
}
