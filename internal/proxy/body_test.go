package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCallerBodyTimeout reads request bodies through a callerBody with a
// 200ms timeout, over HTTP/1.1 and HTTP/2: a stalled body fails with a
// timeout bodyError after about 200ms, a body that keeps coming (more
// slowly than the timeout in all, never pausing that long) is read whole,
// and other read errors are tagged as the caller's.
func TestCallerBodyTimeout(t *testing.T) {
	const d = 200 * time.Millisecond
	type result struct {
		n       int64
		err     error
		took    time.Duration
		timeout *Error
	}
	results := make(chan result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb := &callerBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d}
		start := time.Now()
		n, err := io.Copy(io.Discard, cb)
		results <- result{n, err, time.Since(start), cb.callerError(r)}
		_ = cb.Close()
	})
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(h)
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			defer srv.Close()
			cproto := new(http.Protocols)
			if proto == "HTTP/2" {
				cproto.SetUnencryptedHTTP2(true)
			} else {
				cproto.SetHTTP1(true)
			}
			tr := &http.Transport{Protocols: cproto}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

			send := func(body io.Reader) {
				go func() {
					resp, err := c.Post(srv.URL, "text/plain", body)
					if err == nil {
						_ = resp.Body.Close()
					}
				}()
			}

			t.Run("stalled", func(t *testing.T) {
				pr, pw := io.Pipe()
				defer pw.Close()
				send(pr)
				_, err := pw.Write([]byte("abc"))
				require.NoError(t, err)
				r := <-results
				var be *bodyError
				require.True(t, errors.As(r.err, &be), "got %v", r.err)
				assert.True(t, be.timeout)
				assert.EqualValues(t, 3, r.n)
				assert.GreaterOrEqual(t, r.took, d)
				assert.Less(t, r.took, 5*d)
				require.NotNil(t, r.timeout)
				assert.Equal(t, http.StatusRequestTimeout, r.timeout.Status)
			})
			t.Run("slow but steady", func(t *testing.T) {
				pr, pw := io.Pipe()
				send(pr)
				go func() {
					tick := time.NewTicker(d / 2)
					defer tick.Stop()
					for range 6 {
						<-tick.C
						if _, err := pw.Write([]byte("x")); err != nil {
							return
						}
					}
					_ = pw.Close()
				}()
				r := <-results
				require.NoError(t, r.err)
				assert.EqualValues(t, 6, r.n)
				assert.Greater(t, r.took, d, "longer than one timeout in all")
				assert.Nil(t, r.timeout)
			})
		})
	}
}

// TestCallerBodyTagsErrors: a broken body is the caller's fault (400),
// an oversized one 413.
func TestCallerBodyTagsErrors(t *testing.T) {
	cb := &callerBody{ReadCloser: io.NopCloser(io.MultiReader(strings.NewReader("ab"), errReader{io.ErrUnexpectedEOF}))}
	_, err := io.ReadAll(cb)
	assert.Equal(t, http.StatusBadRequest, asProxyError(t.Context(), fmt.Errorf("transport: %w", err)).Status)

	rec := httptest.NewRecorder()
	mb := &callerBody{ReadCloser: http.MaxBytesReader(rec, io.NopCloser(strings.NewReader("abcdef")), 3)}
	_, err = io.ReadAll(mb)
	assert.Equal(t, http.StatusRequestEntityTooLarge, asProxyError(t.Context(), fmt.Errorf("transport: %w", err)).Status)

	// EOF stays EOF.
	ok := &callerBody{ReadCloser: io.NopCloser(strings.NewReader("x"))}
	b, err := io.ReadAll(ok)
	assert.NoError(t, err)
	assert.Equal(t, "x", string(b))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// readyBody is a request body that says whether a Read would wait, as
// slinkerd's HTTP/2 server's does.
type readyBody struct {
	io.Reader
	ready bool
}

func (b *readyBody) Ready() bool  { return b.ready }
func (b *readyBody) Close() error { return nil }

// TestCallerBodyReadyUnderLimit: with SLINKERD_MAX_REQUEST_BODY_BYTES
// set, the caller's body still says whether a Read would wait (the
// HTTP/2 client sends what is there with the HEADERS only then), and the
// limit still holds.
func TestCallerBodyReadyUnderLimit(t *testing.T) {
	for _, max := range []int64{0, 10} {
		t.Run(fmt.Sprint("max=", max), func(t *testing.T) {
			p := &Proxy{cfg: Config{MaxRequestBodyBytes: max}}
			body := &readyBody{Reader: strings.NewReader(strings.Repeat("x", 25)), ready: true}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body, r.ContentLength = body, -1
			cb, perr := p.limitBody(httptest.NewRecorder(), r)
			require.Nil(t, perr)
			require.NotNil(t, cb)
			assert.True(t, cb.Ready(), "the server's body has bytes ready")
			body.ready = false
			assert.False(t, cb.Ready(), "the server's body would wait")
			n, err := io.Copy(io.Discard, cb)
			if max == 0 {
				require.NoError(t, err)
				assert.EqualValues(t, 25, n)
				return
			}
			var mbe *http.MaxBytesError
			require.ErrorAs(t, err, &mbe, "the limit holds")
			assert.EqualValues(t, max, n)
		})
	}
}

// deadlineRecorder is a readDeadliner that counts the deadlines set.
type deadlineRecorder struct{ n int }

func (d *deadlineRecorder) SetReadDeadline(time.Time) error { d.n++; return nil }

// TestCallerBodyTimesOnlyReadsThatWait: with SLINKERD_BODY_READ_TIMEOUT,
// a read the caller's body says will not wait (a small body that came
// with its head) arms no timer; a read that may wait does.
func TestCallerBodyTimesOnlyReadsThatWait(t *testing.T) {
	body := &readyBody{Reader: strings.NewReader("abcdef"), ready: true}
	rec := &deadlineRecorder{}
	cb := &callerBody{ReadCloser: body, ready: body, rc: rec, d: time.Hour}
	buf := make([]byte, 3)
	n, err := cb.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(buf[:n]))
	assert.Nil(t, cb.timer, "a read that does not wait armed a timer")

	body.ready = false
	n, err = cb.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "def", string(buf[:n]))
	assert.NotNil(t, cb.timer, "a read that may wait is timed")
	assert.Zero(t, rec.n, "no deadline moved: nothing timed out")
}
