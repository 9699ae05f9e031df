package h2client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// readyBody is a request body with a Ready method, as the proxy's bodies
// over slinkerd's HTTP/2 server have: ready holds what a Read returns at
// once; after it, Read waits for more (more, then EOF), unless eof is set.
type readyBody struct {
	mu      sync.Mutex
	ready   []byte
	eof     bool        // the body ends after ready
	more    chan []byte // later parts; closed at the end
	readErr error       // what Read fails with once ready is read
	closed  atomic.Bool
	// released: Released was called; closedAtRelease: the body was
	// closed by then.
	released, closedAtRelease atomic.Bool
	reads                     atomic.Int32  // Read calls
	waited                    atomic.Bool   // a Read blocked
	started                   chan struct{} // closed at the first Read that blocks
	once                      sync.Once
}

func (b *readyBody) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ready) > 0 || b.eof || b.readErr != nil
}

func (b *readyBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	b.mu.Lock()
	if len(b.ready) > 0 {
		n := copy(p, b.ready)
		b.ready = b.ready[n:]
		b.mu.Unlock()
		return n, nil
	}
	if b.readErr != nil {
		b.mu.Unlock()
		return 0, b.readErr
	}
	if b.eof {
		b.mu.Unlock()
		return 0, io.EOF
	}
	b.mu.Unlock()
	b.waited.Store(true)
	if b.started != nil {
		b.once.Do(func() { close(b.started) })
	}
	part, ok := <-b.more
	if !ok {
		return 0, io.EOF
	}
	b.mu.Lock()
	b.ready = part
	b.mu.Unlock()
	return b.Read(p)
}

func (b *readyBody) Close() error { b.closed.Store(true); return nil }

func (b *readyBody) Released() {
	b.closedAtRelease.Store(b.closed.Load())
	b.released.Store(true)
}

func post(t *testing.T, body io.ReadCloser) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://svc/echo", body)
	require.NoError(t, err)
	return req
}

// A request body that is already there goes with the HEADERS: the
// endpoint gets it whole, with END_STREAM on its DATA (or on the HEADERS
// when it is empty), and the body is closed without a Read that waits.
func TestReadyBodyGoesWithTheHeaders(t *testing.T) {
	type seen struct {
		headersEnded bool
		body         string
	}
	got := make(chan seen, 1)
	o := newOrigin(t, func(rc *rawConn) {
		for {
			r, err := rc.readRequest(false)
			if err != nil {
				return
			}
			ended := r.ended
			if !ended {
				rc.pending[r.id] = r // read on to its END_STREAM
				if r, err = rc.readRequest(true); err != nil {
					return
				}
			}
			got <- seen{ended, string(r.body)}
			_ = rc.respond(r.id, "ok")
		}
	})
	c := newTestClient(t, Config{})
	for _, tc := range []struct {
		name     string
		body     string
		empty    bool
		released bool
	}{
		{name: "small", body: "hello, endpoint", released: true},
		// The early read fills its buffer before it sees the end: the
		// body's writer sends END_STREAM, and the body is not released.
		{name: "one frame", body: string(bytes.Repeat([]byte("x"), maxEarly))},
		{name: "empty", empty: true, released: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &readyBody{ready: []byte(tc.body), eof: true}
			resp, written, err := c.RoundTrip(testCtx(t), post(t, b), o.addr(), nil, 0)
			require.NoError(t, err)
			assert.True(t, written)
			// Sent whole with the HEADERS: released before RoundTrip
			// returned, and closed before that.
			assert.Equal(t, tc.released, b.released.Load(), "released by the time RoundTrip returns")
			assert.Equal(t, tc.released, b.closedAtRelease.Load(), "closed before it is released")
			body, err := readAll(t, resp)
			require.NoError(t, err)
			assert.Equal(t, "ok", body)
			s := <-got
			assert.Equal(t, tc.body, s.body)
			assert.Equal(t, tc.empty, s.headersEnded, "END_STREAM on the HEADERS only for an empty body")
			assert.True(t, b.closed.Load(), "the body is closed")
			assert.False(t, b.waited.Load(), "no Read waited")
		})
	}
}

// A body that is there in part, or is more than one frame, or meets a
// window too small for it, is sent whole: what was read early first,
// then the rest as it comes.
func TestReadyBodyInPartsArrivesWhole(t *testing.T) {
	addr := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	t.Run("rest arrives later", func(t *testing.T) {
		c := newTestClient(t, Config{})
		b := &readyBody{ready: []byte("first "), more: make(chan []byte), started: make(chan struct{})}
		go func() {
			<-b.started
			b.more <- []byte("second")
			close(b.more)
		}()
		resp, _, err := c.RoundTrip(testCtx(t), post(t, b), addr, nil, 0)
		require.NoError(t, err)
		body, err := readAll(t, resp)
		require.NoError(t, err)
		assert.Equal(t, "first second", body)
		assert.False(t, b.released.Load(), "a body its writer goroutine sent is never released")
	})
	t.Run("larger than an early read", func(t *testing.T) {
		c := newTestClient(t, Config{})
		big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: past the windows
		b := &readyBody{ready: append([]byte(nil), big...), eof: true}
		resp, _, err := c.RoundTrip(testCtx(t), post(t, b), addr, nil, 0)
		require.NoError(t, err)
		body, err := readAll(t, resp)
		require.NoError(t, err)
		assert.Equal(t, len(big), len(body))
		assert.True(t, body == string(big))
		assert.False(t, b.released.Load(), "a body its writer goroutine sent is never released")
	})
}

// A ready body whose Read fails fails the request before anything is
// sent, with the read's error, and the body is closed.
func TestReadyBodyReadError(t *testing.T) {
	addr := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := newTestClient(t, Config{})
	boom := errors.New("caller went away")
	b := &readyBody{readErr: boom}
	_, written, err := c.RoundTrip(testCtx(t), post(t, b), addr, nil, 0)
	require.ErrorIs(t, err, boom)
	assert.False(t, written)
	assert.True(t, b.closed.Load())
	assert.False(t, b.released.Load(), "a failed request's body is not released")
}

// A request whose header list is over the endpoint's
// SETTINGS_MAX_HEADER_LIST_SIZE fails before anything of it is encoded
// or sent; one within the limit, even by a byte, is sent, and the
// connection's HPACK state stays in step (the next request decodes).
func TestRequestHeaderListLimit(t *testing.T) {
	const limit = 400
	got := make(chan string, 4)
	o := newOrigin(t, func(rc *rawConn) {
		for {
			r, err := rc.readRequest(true)
			if err != nil {
				return
			}
			got <- r.header.Get("x-pad")
			_ = rc.respond(r.id, "ok")
		}
	}, http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: limit})
	c := newTestClient(t, Config{})
	ctx := testCtx(t)
	// The list's size of a GET to http://svc/ with one x-pad field: the
	// four pseudo-header fields and x-pad, each 32 bytes more than its
	// name and value (RFC 9113 §6.5.2).
	base := len(":method") + len("GET") + len(":scheme") + len("http") + len(":authority") + len("svc") + len(":path") + len("/") + 4*32 +
		len("x-pad") + 32
	send := func(pad int) error {
		req := get(t, "/")
		req.Header.Set("X-Pad", strings.Repeat("p", pad))
		resp, _, err := c.RoundTrip(ctx, req, o.addr(), nil, 0)
		if err != nil {
			return err
		}
		_, err = readAll(t, resp)
		return err
	}
	require.NoError(t, send(1)) // the connection, and the endpoint's SETTINGS
	<-got
	err := send(limit - base + 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the endpoint's limit")
	require.NoError(t, send(limit-base), "exactly at the limit is sent")
	assert.Len(t, <-got, limit-base)
	require.NoError(t, send(3))
	assert.Equal(t, "ppp", <-got)
}

// zeroReadyBody says a Read is ready, yet its first Read gives nothing;
// then it gives the body.
type zeroReadyBody struct {
	readyBody
	readies atomic.Int32
	zeros   atomic.Int32
}

func (b *zeroReadyBody) Ready() bool { b.readies.Add(1); return true }

func (b *zeroReadyBody) Read(p []byte) (int, error) {
	if b.zeros.Add(1) == 1 {
		return 0, nil
	}
	return b.readyBody.Read(p)
}

// A body whose Ready says yes while its Read gives nothing does not keep
// the early read asking (it would spin on a body that never gives): what
// the body gives later is sent by its writer.
func TestReadyBodyThatGivesNothing(t *testing.T) {
	addr := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	c := newTestClient(t, Config{})
	b := &zeroReadyBody{readyBody: readyBody{ready: []byte("late"), eof: true}}
	resp, _, err := c.RoundTrip(testCtx(t), post(t, b), addr, nil, 0)
	require.NoError(t, err)
	body, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, "late", body)
	assert.EqualValues(t, 1, b.readies.Load(), "the early read stops at an empty Read")
}

// A field whose value is new with each request (l5d-reqid, a trace
// context, a deadline) goes as a never-indexed literal, so that it does
// not evict the entries the next requests use from either HPACK table;
// other fields are indexed as before, and every value arrives intact.
func TestUniqueFieldsNotIndexed(t *testing.T) {
	got := make(chan *request, 3)
	o := newOrigin(t, func(rc *rawConn) {
		for {
			r, err := rc.readRequest(true)
			if err != nil {
				return
			}
			got <- r
			_ = rc.respond(r.id, "ok")
		}
	})
	c := newTestClient(t, Config{})
	for i := range 3 {
		req, err := http.NewRequest(http.MethodGet, "http://svc/", nil)
		require.NoError(t, err)
		id := strings.Repeat(string(rune('a'+i)), 16)
		req.Header.Set("L5d-Reqid", id)
		req.Header.Set("Traceparent", "00-"+id+id+"-"+id+"-01")
		req.Header.Set("Grpc-Timeout", strconv.Itoa(100-i)+"m")
		req.Header.Set("X-Stable", "same")
		resp, _, err := c.RoundTrip(testCtx(t), req, o.addr(), nil, 0)
		require.NoError(t, err)
		_, err = readAll(t, resp)
		require.NoError(t, err)
		r := <-got
		assert.Equal(t, id, r.header.Get("L5d-Reqid"))
		assert.Equal(t, "00-"+id+id+"-"+id+"-01", r.header.Get("Traceparent"))
		assert.Equal(t, strconv.Itoa(100-i)+"m", r.header.Get("Grpc-Timeout"))
		assert.Equal(t, "same", r.header.Get("X-Stable"))
		assert.Equal(t, map[string]bool{"l5d-reqid": true, "traceparent": true, "grpc-timeout": true}, r.neverIndexed)
	}
}
