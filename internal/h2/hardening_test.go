package h2

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockingHandler's handlers wait for release, whatever their context
// says, as a slow backend would; started gets one value per handler.
type blockingHandler struct {
	started chan struct{}
	release chan struct{}
}

func newBlocking() *blockingHandler {
	return &blockingHandler{started: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (h *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- struct{}{}
	<-h.release
}

// expectGoAway reads until a GOAWAY, which must carry code.
func expectGoAway(t *testing.T, r *rawConn, code http2.ErrCode) {
	t.Helper()
	ga := r.goAwayOrClose()
	require.NotNil(t, ga, "the connection closed without GOAWAY")
	assert.Equal(t, code, ga.ErrCode, "GOAWAY %s", ga.DebugData())
}

// Rapid reset (CVE-2023-44487): handlers of streams the peer reset still
// count against MaxConcurrentStreams (as x/net), new streams wait for a
// slot, and more than 4× the limit waiting ends the connection.
func TestRapidResetStreamsWaitingForHandlers(t *testing.T) {
	h := newBlocking()
	ts := startServer(t, Config{MaxConcurrentStreams: 10, Handler: h})
	defer close(h.release)
	r := dialRaw(t, ts.addr)
	for id := uint32(1); id < 20; id += 2 {
		require.NoError(t, r.request(id, true, "/"))
	}
	for range 10 {
		<-h.started
	}
	for id := uint32(1); id < 20; id += 2 {
		require.NoError(t, r.fr.WriteRSTStream(id, http2.ErrCodeCancel))
	}
	id := uint32(21)
	// Every handler slot is taken by a handler whose stream is reset: new
	// streams are taken (they are within the limit the peer sees) but
	// wait; 40 may wait, the 41st ends the connection.
	for range pendingFactor*10 + 1 {
		if err := r.request(id, true, "/"); err != nil {
			break
		}
		if err := r.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		id += 2
	}
	expectGoAway(t, r, http2.ErrCodeEnhanceYourCalm)
	assert.Len(t, h.started, 0, "no handler started past the limit")
}

// Rapid reset with handlers that end at once: the premature-reset ratio
// rule ends the connection.
func TestRapidResetRatio(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})})
	r := dialRaw(t, ts.addr)
	go func() { _, _ = io.Copy(io.Discard, r.nc) }() // read nothing back; see below
	var err error
	for id := uint32(1); err == nil && id < 2*(minPrematureResets+10); id += 2 {
		if err = r.request(id, true, "/"); err == nil {
			err = r.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}
	select {
	case err := <-ts.errs:
		var ce connError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, http2.ErrCodeEnhanceYourCalm, ce.code)
		assert.Contains(t, ce.reason, "rapid reset")
	case <-time.After(20 * time.Second):
		t.Fatal("the connection was not ended")
	}
}

// More streams than MaxConcurrentStreams at once: RST_STREAM
// REFUSED_STREAM.
func TestStreamLimitRefuses(t *testing.T) {
	h := newBlocking()
	ts := startServer(t, Config{MaxConcurrentStreams: 2, Handler: h})
	defer close(h.release)
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, true, "/"))
	require.NoError(t, r.request(3, true, "/"))
	require.NoError(t, r.request(5, true, "/"))
	rs := r.waitFor("RST_STREAM 5", isRST(5)).(*http2.RSTStreamFrame)
	assert.Equal(t, http2.ErrCodeRefusedStream, rs.ErrCode)
}

// smallBuffers makes a TCP connection's send buffer small, so a peer
// that does not read blocks our writes soon. Its receive buffer keeps
// its size: a 4 KB one overflows (the kernel counts each small segment's
// whole buffer against it) under a flood of 17-byte frames, and the
// dropped segments come back on TCP's retransmission backoff, seconds
// later, so that a flood stalled for longer than the test waited.
func smallBuffers(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
}

func dialSmall(t *testing.T, addr string) *rawConn {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	r := newRaw(t, nc)
	r.start()
	return r
}

// PING and SETTINGS floods from a peer that reads none of the answers:
// once 10000 answers wait in the write queue, the connection closes.
func TestControlFrameFloods(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flood func(fr *http2.Framer) error
		want  string // the error that ends the connection
	}{
		{"PING", func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) }, errTooManyControl.Error()},
		// SETTINGS meet their own cap (maxPeerSettings) before the queue's.
		{"SETTINGS", func(fr *http2.Framer) error {
			return fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
		}, "too many SETTINGS frames"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{Handler: http.NotFoundHandler()}, smallBuffers)
			r := dialSmall(t, ts.addr)
			// The flood goes out in 64 KB writes, not a segment per frame.
			bw := bufio.NewWriterSize(r.nc, 64<<10)
			fr := http2.NewFramer(bw, nil)
			var err error
			for i := 0; err == nil && i < 200000; i++ {
				if err = tc.flood(fr); err == nil && i%1000 == 999 {
					err = bw.Flush()
				}
			}
			if err == nil {
				_ = bw.Flush()
			}
			select {
			case err := <-ts.errs:
				assert.ErrorContains(t, err, tc.want)
			case <-time.After(20 * time.Second):
				t.Fatal("the connection was not closed")
			}
		})
	}
}

// A header block that never ends (CVE-2024-27316): empty CONTINUATION
// frames are bounded by bytes read, whatever the decoder has seen.
func TestContinuationFlood(t *testing.T) {
	ts := startServer(t, Config{MaxHeaderListSize: 1024, Handler: http.NotFoundHandler()})
	r := dialRaw(t, ts.addr)
	go func() {
		require.NoError(t, r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.block("/"), EndStream: true}))
		for {
			if err := r.fr.WriteContinuation(1, false, nil); err != nil {
				return
			}
		}
	}()
	expectGoAway(t, r, http2.ErrCodeEnhanceYourCalm)
	assert.ErrorContains(t, <-ts.errs, "header block too large")
}

// Many empty DATA frames without END_STREAM.
func TestEmptyDataFlood(t *testing.T) {
	h := newBlocking()
	ts := startServer(t, Config{Handler: h})
	defer close(h.release)
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, false, "/", ":method", "POST"))
	for range maxEmptyFrames + 1 {
		require.NoError(t, r.fr.WriteData(1, false, nil))
	}
	expectGoAway(t, r, http2.ErrCodeEnhanceYourCalm)
}

// A request head over MaxHeaderListSize gets 431, as net/http.
func TestHeaderListTooLarge(t *testing.T) {
	ts := startServer(t, Config{MaxHeaderListSize: 4096, Handler: http.NotFoundHandler()})
	r := dialRaw(t, ts.addr)
	var extra []string
	for i := range 10 {
		extra = append(extra, "x-big-"+strconv.Itoa(i), strings.Repeat("v", 500))
	}
	require.NoError(t, r.request(1, true, "/", extra...))
	f := r.waitFor("HEADERS 1", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	assert.Equal(t, "431", f.PseudoValue("status"))
	assert.True(t, f.StreamEnded())
	// The connection goes on.
	require.NoError(t, r.request(3, true, "/"))
	f = r.waitFor("HEADERS 3", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	assert.Equal(t, "404", f.PseudoValue("status"))
}

// Our encoder honours the peer's SETTINGS_HEADER_TABLE_SIZE up to 4096;
// our decoder refuses a table larger than the 4096 we allow.
func TestHPACKTableSizes(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Repeated", strings.Repeat("r", 100))
	})})
	for _, size := range []uint32{0, 1 << 20} {
		t.Run(strconv.Itoa(int(size)), func(t *testing.T) {
			nc, err := net.Dial("tcp", ts.addr)
			require.NoError(t, err)
			defer nc.Close()
			r := newRaw(t, nc)
			allowed := min(size, 4096)
			r.fr.ReadMetaHeaders = hpack.NewDecoder(allowed, nil)
			_, err = nc.Write([]byte(clientPreface))
			require.NoError(t, err)
			require.NoError(t, r.fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: size}))
			r.waitFor("SETTINGS ACK", func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && s.IsAck() })
			for id := uint32(1); id <= 5; id += 2 {
				require.NoError(t, r.request(id, true, "/"))
				f := r.waitFor("HEADERS", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
				var got string
				for _, hf := range f.RegularFields() {
					if hf.Name == "x-repeated" {
						got = hf.Value
					}
				}
				assert.Equal(t, strings.Repeat("r", 100), got) // decoding failed otherwise
			}
		})
	}
	t.Run("peer table too large", func(t *testing.T) {
		r := dialRaw(t, ts.addr)
		r.enc.SetMaxDynamicTableSizeLimit(1 << 20)
		r.enc.SetMaxDynamicTableSize(1 << 20) // emits a size update of 1 MiB
		require.NoError(t, r.request(1, true, "/"))
		expectGoAway(t, r, http2.ErrCodeCompression)
	})
}

// Frames that break RFC 9113's stream rules.
func TestStreamRules(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.NotFound(w, r)
	})})
	for _, tc := range []struct {
		name string
		send func(r *rawConn) error
		code http2.ErrCode
	}{
		{"even stream ID", func(r *rawConn) error { return r.request(2, true, "/") }, http2.ErrCodeProtocol},
		{"DATA on an idle stream", func(r *rawConn) error { return r.fr.WriteData(7, true, []byte("x")) }, http2.ErrCodeProtocol},
		// A stream ID at or below the highest seen names a closed stream
		// (RFC 9113 §5.1: HEADERS there is a connection error).
		{"decreasing stream ID", func(r *rawConn) error {
			if err := r.request(5, true, "/"); err != nil {
				return err
			}
			return r.request(3, true, "/")
		}, http2.ErrCodeStreamClosed},
		{"window overflow", func(r *rawConn) error { return r.fr.WriteWindowUpdate(0, maxWindow) }, http2.ErrCodeFlowControl},
		{"PUSH_PROMISE", func(r *rawConn) error {
			return r.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: r.block("/"), EndHeaders: true})
		}, http2.ErrCodeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, ts.addr)
			require.NoError(t, tc.send(r))
			expectGoAway(t, r, tc.code)
		})
	}
	t.Run("content-length mismatch", func(t *testing.T) {
		r := dialRaw(t, ts.addr)
		require.NoError(t, r.request(1, false, "/", ":method", "POST", "content-length", "3"))
		require.NoError(t, r.fr.WriteData(1, true, []byte("four")))
		rs := r.waitFor("RST_STREAM 1", isRST(1)).(*http2.RSTStreamFrame)
		assert.Equal(t, http2.ErrCodeProtocol, rs.ErrCode)
	})
	t.Run("uppercase header name", func(t *testing.T) {
		r := dialRaw(t, ts.addr)
		require.NoError(t, r.request(1, true, "/", "X-Upper", "v"))
		rs := r.waitFor("RST_STREAM 1", isRST(1)).(*http2.RSTStreamFrame)
		assert.Equal(t, http2.ErrCodeProtocol, rs.ErrCode)
	})
	t.Run("missing :path", func(t *testing.T) {
		r := dialRaw(t, ts.addr)
		require.NoError(t, r.request(1, true, ""))
		rs := r.waitFor("RST_STREAM 1", isRST(1)).(*http2.RSTStreamFrame)
		assert.Equal(t, http2.ErrCodeProtocol, rs.ErrCode)
	})
}

// A slow reader of one stream's body does not slow another stream: the
// stream window bounds what is buffered, and only that stream waits.
func TestSlowHandlerSlowsOnlyItsStream(t *testing.T) {
	slowStarted := make(chan struct{})
	ts := startServer(t, Config{
		MaxReceiveBufferPerStream:     65535,
		MaxReceiveBufferPerConnection: 1 << 20,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(slowStarted)
				<-r.Context().Done() // never reads its body
				return
			}
			n, _ := io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
		})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, false, "/slow", ":method", "POST"))
	<-slowStarted
	// Fill the slow stream's window exactly; one more byte would be a
	// flow-control error.
	chunk := make([]byte, 16384)
	for sent := 0; sent < 65535; {
		n := min(len(chunk), 65535-sent)
		require.NoError(t, r.fr.WriteData(1, false, chunk[:n]))
		sent += n
	}
	// Another stream moves a body of most of its own window through the
	// same connection, and the server gives window back as it reads.
	require.NoError(t, r.request(3, false, "/fast", ":method", "POST"))
	const fast = 60000
	for sent := 0; sent < fast; {
		n := min(len(chunk), fast-sent)
		sent += n
		require.NoError(t, r.fr.WriteData(3, sent == fast, chunk[:n]))
	}
	var got []byte
	var updated3, updated0 bool
	for {
		f, err := r.next()
		require.NoError(t, err)
		switch f := f.(type) {
		case *http2.DataFrame:
			if f.StreamID == 3 {
				got = append(got, f.Data()...)
			}
		case *http2.WindowUpdateFrame:
			updated0 = updated0 || f.StreamID == 0
			updated3 = updated3 || f.StreamID == 3
		case *http2.RSTStreamFrame:
			t.Fatalf("unexpected RST_STREAM %v", f.ErrCode)
		}
		if f.Header().Flags.Has(http2.FlagDataEndStream) && f.Header().Type == http2.FrameData && f.Header().StreamID == 3 {
			break
		}
	}
	assert.Equal(t, strconv.Itoa(fast), string(got))
	t.Logf("WINDOW_UPDATE seen: stream 3 %v, connection %v", updated3, updated0)
	// One byte more on the slow stream is over its window.
	require.NoError(t, r.fr.WriteData(1, false, []byte{1}))
	rs := r.waitFor("RST_STREAM 1", isRST(1)).(*http2.RSTStreamFrame)
	assert.Equal(t, http2.ErrCodeFlowControl, rs.ErrCode)
}
