package h2client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "slinkerd/internal/h2client.")
}

// readAll reads a response body to its end.
func readAll(t *testing.T, resp *http.Response) (string, error) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return string(b), err
}

// Concurrent requests share one connection, and each gets its own answer
// even when the origin answers them out of order, interleaved, one DATA
// frame of each at a time: no byte of one stream reaches another.
func TestStreamsShareAConnectionWithoutCrossTalk(t *testing.T) {
	const n = 20
	var conns atomic.Int32
	o := newOrigin(t, func(rc *rawConn) {
		conns.Add(1)
		var reqs []*request
		for len(reqs) < n {
			r, err := rc.readRequest(true)
			if err != nil {
				return
			}
			reqs = append(reqs, r)
		}
		for i := len(reqs) - 1; i >= 0; i-- {
			body := strings.Repeat(reqs[i].pseudo[":path"], 3)
			_ = rc.headers(reqs[i].id, false, "200", "content-length", fmt.Sprint(len(body)))
		}
		// Three rounds of one DATA frame per stream.
		for round := range 3 {
			for _, r := range reqs {
				_ = rc.data(r.id, round == 2, []byte(r.pseudo[":path"]))
			}
		}
	})
	c := newTestClient(t, Config{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := fmt.Sprintf("/stream-%02d", i)
			resp, _, err := c.RoundTrip(ctx, get(t, path), o.addr(), nil, 0)
			if !assert.NoError(t, err) {
				return
			}
			body, err := readAll(t, resp)
			assert.NoError(t, err)
			assert.Equal(t, strings.Repeat(path, 3), body)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, conns.Load(), "the requests shared one connection")
}

// An endpoint's SETTINGS_MAX_CONCURRENT_STREAMS is respected: the
// requests beyond it go on new connections.
func TestMaxConcurrentStreamsOpensConnections(t *testing.T) {
	const n = 3
	var conns atomic.Int32
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	c := newTestClient(t, Config{})
	// Every connection's SETTINGS allow one stream.
	limited := newOrigin(t, func(rc *rawConn) {
		conns.Add(1)
		for {
			r, err := rc.readRequest(true)
			if err != nil {
				return
			}
			arrived <- struct{}{}
			<-release
			_ = rc.respond(r.id, "ok")
		}
	}, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1})
	ctx := testCtx(t)
	// One request first, so that the SETTINGS are known before the rest.
	go func() { <-arrived; release <- struct{}{} }()
	resp, _, err := c.RoundTrip(ctx, get(t, "/"), limited.addr(), nil, 0)
	require.NoError(t, err)
	_, _ = readAll(t, resp)
	conns.Store(0)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _, err := c.RoundTrip(ctx, get(t, "/"), limited.addr(), nil, 0)
			if assert.NoError(t, err) {
				_, _ = readAll(t, resp)
			}
		})
	}
	for range n {
		<-arrived // all n in flight at once: each on its own connection
	}
	close(release)
	wg.Wait()
	assert.EqualValues(t, n-1, conns.Load(), "the first connection took one stream, and each other request opened one")
}

// The responses a real server would never send fail the exchange with a
// clear error; none passes as a good response.
func TestMalformedResponses(t *testing.T) {
	cases := []struct {
		name   string
		answer func(rc *rawConn, id uint32)
		want   string
	}{
		{"no :status", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "", "a", "b") }, "malformed :status"},
		{":status of 4 digits", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "2000") }, "malformed :status"},
		{":status not a number", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "2x0") }, "malformed :status"},
		{"request pseudo-header", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "200", ":path", "/") }, "malformed frame"},
		{"connection header", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "200", "connection", "close") }, "connection-specific"},
		{"transfer-encoding", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, true, "200", "transfer-encoding", "chunked")
		}, "connection-specific"},
		{"upper-case field name", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "200", "X-Upper", "1") }, "malformed frame"},
		{"101", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "101") }, "101"},
		{"1xx with END_STREAM", func(rc *rawConn, id uint32) { _ = rc.headers(id, true, "103") }, "interim"},
		{"too many 1xx", func(rc *rawConn, id uint32) {
			for range MaxInformational + 1 {
				_ = rc.headers(id, false, "103", "link", "</a>")
			}
		}, "informational"},
		{"malformed content-length", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, true, "200", "content-length", "1,2")
		}, "Content-Length"},
		{"disagreeing content-lengths", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, true, "200", "content-length", "1", "content-length", "2")
		}, "Content-Length"},
		{"body longer than content-length", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, false, "200", "content-length", "2")
			_ = rc.data(id, true, []byte("abc"))
		}, "Content-Length 2"},
		{"body shorter than content-length", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, false, "200", "content-length", "5")
			_ = rc.data(id, true, []byte("abc"))
		}, "Content-Length 5"},
		{"END_STREAM on the head after content-length", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, true, "200", "content-length", "5")
		}, "Content-Length 5"},
		{"DATA before the head", func(rc *rawConn, id uint32) { _ = rc.data(id, true, []byte("abc")) }, "before a response head"},
		{"trailer without END_STREAM", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, false, "200")
			_ = rc.data(id, false, []byte("abc"))
			_ = rc.headers(id, false, "", "grpc-status", "0")
		}, "second HEADERS"},
		{"pseudo-header in a trailer", func(rc *rawConn, id uint32) {
			_ = rc.headers(id, false, "200")
			_ = rc.headers(id, true, "200")
		}, "pseudo-header"},
		{"header list over the limit", func(rc *rawConn, id uint32) {
			x := strings.Repeat("x", 1500)
			_ = rc.headers(id, true, "200", "a", x, "b", x, "c", x)
		}, "over the proxy's limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resets := make(chan http2.ErrCode, 1)
			o := newOrigin(t, func(rc *rawConn) {
				r, err := rc.readRequest(true)
				if err != nil {
					return
				}
				tc.answer(rc, r.id)
				if code, ok := rc.awaitReset(r.id); ok {
					resets <- code
				}
			})
			c := newTestClient(t, Config{MaxHeaderListSize: 4096})
			resp, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
			if err == nil {
				_, err = readAll(t, resp)
			}
			require.Error(t, err, "a malformed response must not pass")
			assert.Contains(t, err.Error(), tc.want)
			select {
			case code := <-resets:
				assert.NotEqual(t, http2.ErrCodeNo, code)
			case <-testCtx(t).Done():
				t.Fatal("the origin was not told the stream was reset")
			}
		})
	}
}

// A body after a 204 never reaches the caller: the exchange fails, or
// ends at the head with no body, whichever the DATA's arrival allows.
func TestNoBodyAfter204(t *testing.T) {
	o := newOrigin(t, func(rc *rawConn) {
		r, err := rc.readRequest(true)
		if err != nil {
			return
		}
		_ = rc.headers(r.id, false, "204")
		_ = rc.data(r.id, true, []byte("abc"))
		rc.awaitReset(r.id)
	})
	c := newTestClient(t, Config{})
	resp, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
	if err != nil {
		assert.Contains(t, err.Error(), "204")
		return
	}
	body, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, 204, resp.StatusCode)
	assert.Empty(t, body)
}

// Frames on a stream the client never opened are a connection error:
// the connection ends with GOAWAY PROTOCOL_ERROR, and the stream that was
// open fails rather than receive them.
func TestFramesOnUnopenedStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(rc *rawConn, open uint32)
	}{
		{"DATA on a higher stream", func(rc *rawConn, open uint32) { _ = rc.data(open+2, false, []byte("stolen")) }},
		{"DATA on an even stream", func(rc *rawConn, open uint32) { _ = rc.data(2, false, []byte("stolen")) }},
		{"HEADERS on a higher stream", func(rc *rawConn, open uint32) { _ = rc.headers(open+2, true, "200") }},
		{"PUSH_PROMISE", func(rc *rawConn, open uint32) {
			_ = rc.write(func() error {
				return rc.fr.WritePushPromise(http2.PushPromiseParam{StreamID: open, PromiseID: 2, EndHeaders: true, BlockFragment: []byte{0x82}})
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goaway := make(chan http2.ErrCode, 1)
			o := newOrigin(t, func(rc *rawConn) {
				r, err := rc.readRequest(true)
				if err != nil {
					return
				}
				tc.send(rc, r.id)
				_ = rc.respond(r.id, "too late")
				if code, ok := rc.awaitGoAway(); ok {
					goaway <- code
				}
			})
			c := newTestClient(t, Config{})
			resp, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
			if err == nil {
				_, err = readAll(t, resp)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "PROTOCOL_ERROR")
			select {
			case code := <-goaway:
				assert.Equal(t, http2.ErrCodeProtocol, code)
			case <-testCtx(t).Done():
				t.Fatal("no GOAWAY")
			}
		})
	}
}

// DATA beyond the window the client offered resets the stream with
// FLOW_CONTROL_ERROR; nothing past the window is buffered.
func TestFlowControlViolation(t *testing.T) {
	resets := make(chan http2.ErrCode, 1)
	o := newOrigin(t, func(rc *rawConn) {
		r, err := rc.readRequest(true)
		if err != nil {
			return
		}
		_ = rc.headers(r.id, false, "200")
		chunk := make([]byte, 16384)
		for range 5 { // 80 KiB against a 64 KiB window
			_ = rc.data(r.id, false, chunk)
		}
		if code, ok := rc.awaitReset(0); ok {
			resets <- code
		}
	})
	c := newTestClient(t, Config{StreamWindow: 65536})
	resp, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
	require.NoError(t, err)
	select {
	case code := <-resets:
		assert.Equal(t, http2.ErrCodeFlowControl, code)
	case <-testCtx(t).Done():
		t.Fatal("no RST_STREAM")
	}
	_, err = readAll(t, resp)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "window")
}

// A GOAWAY fails the streams above its last stream ID as not processed:
// with a body (which the proxy may replay), the error says so and the
// proxy may send it elsewhere; without one, RoundTrip sends it again on a
// new connection itself, as net/http's transport does. The streams at or
// below the last stream ID finish.
func TestGoAwayLeavesLaterStreamsUnprocessed(t *testing.T) {
	for _, withBody := range []bool{false, true} {
		t.Run(fmt.Sprintf("body=%v", withBody), func(t *testing.T) {
			var conns atomic.Int32
			o := newOrigin(t, func(rc *rawConn) {
				if conns.Add(1) > 1 {
					for {
						r, err := rc.readRequest(true)
						if err != nil {
							return
						}
						_ = rc.respond(r.id, "second")
					}
				}
				a, err := rc.readRequest(true)
				if err != nil {
					return
				}
				b, err := rc.readRequest(true)
				if err != nil {
					return
				}
				first := min(a.id, b.id)
				_ = rc.write(func() error { return rc.fr.WriteGoAway(first, http2.ErrCodeNo, nil) })
				_ = rc.respond(first, "first")
				_, _ = io.Copy(io.Discard, rc.br)
			})
			c := newTestClient(t, Config{})
			ctx := testCtx(t)
			type result struct {
				body    string
				err     error
				written bool
			}
			results := make(chan result, 2)
			for range 2 {
				go func() {
					req := get(t, "/")
					if withBody {
						req, _ = http.NewRequest(http.MethodPost, "http://svc/", strings.NewReader("payload"))
					}
					resp, written, err := c.RoundTrip(ctx, req, o.addr(), nil, 0)
					if err != nil {
						results <- result{err: err, written: written}
						return
					}
					body, err := readAll(t, resp)
					results <- result{body: body, err: err}
				}()
			}
			var bodies []string
			for range 2 {
				r := <-results
				if r.err == nil {
					bodies = append(bodies, r.body)
					continue
				}
				assert.True(t, withBody, "a bodiless request is sent again: %v", r.err)
				assert.True(t, retry.Requeueable(r.err, r.written), "%v must be requeueable", r.err)
				assert.False(t, r.written)
				bodies = append(bodies, "unprocessed")
			}
			slices.Sort(bodies)
			if withBody {
				assert.Equal(t, []string{"first", "unprocessed"}, bodies)
			} else {
				assert.Equal(t, []string{"first", "second"}, bodies)
			}
			resp, _, err := c.RoundTrip(ctx, get(t, "/"), o.addr(), nil, 0)
			require.NoError(t, err)
			body, err := readAll(t, resp)
			require.NoError(t, err)
			assert.Equal(t, "second", body)
			assert.EqualValues(t, 2, conns.Load())
		})
	}
}

// REFUSED_STREAM says the endpoint did not process the request.
func TestRefusedStreamIsUnprocessed(t *testing.T) {
	o := newOrigin(t, func(rc *rawConn) {
		r, err := rc.readRequest(true)
		if err != nil {
			return
		}
		_ = rc.write(func() error { return rc.fr.WriteRSTStream(r.id, http2.ErrCodeRefusedStream) })
		_, _ = io.Copy(io.Discard, rc.br)
	})
	c := newTestClient(t, Config{})
	_, written, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
	require.Error(t, err)
	assert.False(t, written)
	assert.True(t, retry.Requeueable(err, written))
}

// An endpoint that never answers fails the exchange after the head
// timeout, and is told with RST_STREAM CANCEL.
func TestResponseHeadTimeout(t *testing.T) {
	resets := make(chan http2.ErrCode, 1)
	o := newOrigin(t, func(rc *rawConn) {
		if _, err := rc.readRequest(true); err != nil {
			return
		}
		if code, ok := rc.awaitReset(0); ok {
			resets <- code
		}
	})
	c := newTestClient(t, Config{})
	_, written, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 20*time.Millisecond)
	require.ErrorIs(t, err, ErrResponseHeaderTimeout)
	assert.True(t, written)
	assert.Equal(t, http2.ErrCodeCancel, <-resets)
}

// Streams with different head timeouts share a connection's head watch:
// a short one armed after a very long one still fails after its own
// timeout (the watch looks more often), and the long one goes on waiting.
func TestResponseHeadTimeoutsShareTheWatch(t *testing.T) {
	heard := make(chan struct{}, 2)
	var conns atomic.Int32
	o := newOrigin(t, func(rc *rawConn) {
		conns.Add(1)
		for range 2 {
			if _, err := rc.readRequest(true); err != nil {
				return
			}
			heard <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, rc.br)
	})
	c := newTestClient(t, Config{})
	longCtx, cancelLong := context.WithCancel(testCtx(t))
	longDone := make(chan error, 1)
	go func() {
		_, _, err := c.RoundTrip(longCtx, get(t, "/long"), o.addr(), nil, time.Hour)
		longDone <- err
	}()
	<-heard // the long stream is open and its head awaited

	// Were the watch left at the hour's period, this would outlast
	// testCtx's deadline instead.
	_, written, err := c.RoundTrip(testCtx(t), get(t, "/short"), o.addr(), nil, 40*time.Millisecond)
	require.ErrorIs(t, err, ErrResponseHeaderTimeout)
	assert.True(t, written)
	<-heard
	assert.Equal(t, int32(1), conns.Load(), "the two streams went on two connections")

	select {
	case err := <-longDone:
		t.Fatalf("the stream with an hour's timeout ended: %v", err)
	default:
	}
	cancelLong()
	require.ErrorIs(t, <-longDone, context.Canceled)
}

// A caller that goes away resets its stream at the origin.
func TestCancelResetsTheStream(t *testing.T) {
	resets := make(chan http2.ErrCode, 1)
	o := newOrigin(t, func(rc *rawConn) {
		r, err := rc.readRequest(true)
		if err != nil {
			return
		}
		_ = rc.headers(r.id, false, "200")
		_ = rc.data(r.id, false, []byte("part"))
		if code, ok := rc.awaitReset(0); ok {
			resets <- code
		}
	})
	c := newTestClient(t, Config{})
	ctx, cancel := context.WithCancel(testCtx(t))
	resp, _, err := c.RoundTrip(ctx, get(t, "/"), o.addr(), nil, 0)
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	cancel()
	assert.Equal(t, http2.ErrCodeCancel, <-resets)
	_, err = resp.Body.Read(buf)
	assert.ErrorIs(t, err, context.Canceled)
	_ = resp.Body.Close()
}

// A connection with a stream open that reads nothing is pinged, and
// closed when the ping goes unanswered.
func TestUnansweredPingClosesTheConnection(t *testing.T) {
	o := newOrigin(t, func(rc *rawConn) {
		if _, err := rc.readRequest(true); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, rc.br) // never answers, never pongs
	})
	c := newTestClient(t, Config{ReadIdleTimeout: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond})
	_, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), nil, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PING")
}

// goServer is Go's own h2c server with h as its handler.
func goServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: protos}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String()
}

// A response its reader does not read holds no more than its stream's
// window, and does not stall the connection's other streams.
func TestSlowReaderStallsOnlyItsStream(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	addr := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write(big)
			return
		}
		_, _ = io.WriteString(w, "small")
	}))
	c := newTestClient(t, Config{StreamWindow: 64 << 10, ConnWindow: 128 << 10})
	ctx := testCtx(t)
	slow, _, err := c.RoundTrip(ctx, get(t, "/big"), addr, nil, 0)
	require.NoError(t, err)
	defer slow.Body.Close()
	for range 5 {
		resp, _, err := c.RoundTrip(ctx, get(t, "/small"), addr, nil, 0)
		require.NoError(t, err)
		body, err := readAll(t, resp)
		require.NoError(t, err)
		assert.Equal(t, "small", body)
	}
	s := slow.Body.(*stream)
	s.cc.mu.Lock()
	buffered := len(s.buf) - s.off
	s.cc.mu.Unlock()
	assert.LessOrEqual(t, buffered, 64<<10, "no more than the stream's window is buffered")
	n, err := io.Copy(io.Discard, slow.Body)
	require.NoError(t, err)
	assert.EqualValues(t, len(big), n+int64(0))
}

// Request bodies stream under the endpoint's flow control, with a
// trailer; the response's trailer arrives with the body's end.
func TestRequestBodyTrailersAndResponseTrailers(t *testing.T) {
	addr := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Client"))
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "ok")
		w.Header().Set("X-Sum", fmt.Sprint(n))
	}))
	c := newTestClient(t, Config{})
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, "http://svc/up", pr)
	require.NoError(t, err)
	req.Trailer = http.Header{"X-Client": nil}
	const size = 3<<20 + 7 // past the endpoint's initial windows
	go func() {
		chunk := bytes.Repeat([]byte("y"), 100_000)
		left := size
		for left > 0 {
			k := min(left, len(chunk))
			if _, err := pw.Write(chunk[:k]); err != nil {
				return
			}
			left -= k
		}
		req.Trailer.Set("X-Client", "done")
		_ = pw.Close()
	}()
	resp, _, err := c.RoundTrip(testCtx(t), req, addr, nil, 0)
	require.NoError(t, err)
	body, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, "ok", body)
	assert.Equal(t, fmt.Sprint(size), resp.Trailer.Get("X-Sum"))
	assert.Equal(t, "done", resp.Header.Get("X-Req-Trailer"))
}

// Interim responses reach the Informer, in order, before the final one.
func TestInformational(t *testing.T) {
	o := newOrigin(t, func(rc *rawConn) {
		r, err := rc.readRequest(true)
		if err != nil {
			return
		}
		_ = rc.headers(r.id, false, "103", "link", "</a.css>")
		_ = rc.headers(r.id, false, "103", "link", "</b.css>")
		_ = rc.respond(r.id, "final")
		_, _ = io.Copy(io.Discard, rc.br)
	})
	c := newTestClient(t, Config{})
	var got []string
	resp, _, err := c.RoundTrip(testCtx(t), get(t, "/"), o.addr(), informer(func(code int, h http.Header) error {
		got = append(got, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}), 0)
	require.NoError(t, err)
	body, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, "final", body)
	assert.Equal(t, []string{"103 </a.css>", "103 </b.css>"}, got)
}

type informer func(int, http.Header) error

func (f informer) Informational(code int, h http.Header) error { return f(code, h) }

// A dial failure is the dial's error, which the proxy may requeue.
func TestDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newTestClient(t, Config{})
	_, written, err := c.RoundTrip(testCtx(t), get(t, "/"), addr, nil, 0)
	require.Error(t, err)
	assert.False(t, written)
	assert.True(t, retry.Requeueable(err, written))
	assert.True(t, errors.Is(err, errConnUnusable) == false)
}

// Many requests written at once by as many goroutines all reach the
// endpoint: a writer leaves its frames unflushed only for another writer
// to flush, so none stays in the buffer (the endpoint answers only once
// it has them all).
func TestConcurrentWritersLeaveNothingBuffered(t *testing.T) {
	const n = 200
	o := newOrigin(t, func(rc *rawConn) {
		var reqs []*request
		for len(reqs) < n {
			r, err := rc.readRequest(true)
			if err != nil {
				return
			}
			reqs = append(reqs, r)
		}
		for _, r := range reqs {
			_ = rc.respond(r.id, "ok")
		}
		_, _ = io.Copy(io.Discard, rc.br)
	}, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: n})
	c := newTestClient(t, Config{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _, err := c.RoundTrip(ctx, get(t, "/"), o.addr(), nil, 0)
			if !assert.NoError(t, err, "every request reaches the endpoint") {
				return
			}
			_, _ = readAll(t, resp)
		})
	}
	wg.Wait()
}
