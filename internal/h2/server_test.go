package h2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

func TestRequestAndResponse(t *testing.T) {
	type seen struct {
		proto, method, host, uri, path, query, remote string
		cl                                            int64
		header                                        http.Header
	}
	got := make(chan seen, 1)
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Proto, r.Method, r.Host, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.RemoteAddr, r.ContentLength, r.Header.Clone()}
		w.Header().Set("X-Answer", "42")
		w.Header().Set("Connection", "close") // connection-specific: dropped
		_, _ = io.WriteString(w, "hello")
	})})
	c := h2cClient(t)
	req, _ := http.NewRequest("GET", "http://"+ts.addr+"/a/b?x=1", nil)
	req.Header.Set("X-Test", "v")
	req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello", string(body))
	assert.Equal(t, "42", resp.Header.Get("X-Answer"))
	assert.Empty(t, resp.Header.Get("Connection"))
	assert.Equal(t, int64(5), resp.ContentLength, "a small finished body gets a content-length")
	assert.NotEmpty(t, resp.Header.Get("Date"), "date is added, as net/http")
	s := <-got
	assert.Equal(t, "HTTP/2.0", s.proto)
	assert.Equal(t, "GET", s.method)
	assert.Equal(t, ts.addr, s.host)
	assert.Equal(t, "/a/b?x=1", s.uri)
	assert.Equal(t, "/a/b", s.path)
	assert.Equal(t, "x=1", s.query)
	assert.NotEmpty(t, s.remote)
	assert.Equal(t, int64(0), s.cl)
	assert.Equal(t, "v", s.header.Get("X-Test"))
	assert.Equal(t, "a=1; b=2", s.header.Get("Cookie"))
}

// A body much larger than every window goes both ways intact: flow
// control works in both directions.
func TestLargeBodiesEcho(t *testing.T) {
	ts := startServer(t, Config{
		MaxReceiveBufferPerStream:     70000,
		MaxReceiveBufferPerConnection: 100000,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, r.Body)
		})})
	c := h2cClient(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	for i := range payload {
		payload[i] ^= byte(i >> 12)
	}
	want := sha256.Sum256(payload)
	done := make(chan struct{})
	for range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := c.Post("http://"+ts.addr+"/echo", "application/octet-stream", bytes.NewReader(payload))
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			assert.NoError(t, err)
			assert.Equal(t, int64(len(payload)), n)
			assert.Equal(t, want[:], h.Sum(nil))
		}()
	}
	for range 3 {
		<-done
	}
}

func TestTrailersBothWays(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Declared")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Declared", "d:"+r.Trailer.Get("X-Req-Trailer"))
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})})
	c := h2cClient(t)
	req, _ := http.NewRequest("POST", "http://"+ts.addr+"/", io.NopCloser(strings.NewReader("abc")))
	req.Trailer = http.Header{"X-Req-Trailer": nil}
	req.Trailer.Set("X-Req-Trailer", "rt")
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "body", string(body))
	assert.Equal(t, "d:rt", resp.Trailer.Get("X-Declared"))
	assert.Equal(t, "late", resp.Trailer.Get("X-Late"))
}

func TestTrailersOnly(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "5")
	})})
	resp, err := h2cClient(t).Get("http://" + ts.addr + "/")
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "5", resp.Trailer.Get("Grpc-Status"))
}

func TestInformationalAndFlush(t *testing.T) {
	next := make(chan struct{})
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "first")
		require.NoError(t, http.NewResponseController(w).Flush())
		<-next
		_, _ = io.WriteString(w, "second")
	})})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, h["Link"]...)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+ts.addr+"/", nil)
	resp, err := h2cClient(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first", string(buf), "Flush sent the first part before the handler went on")
	close(next)
	rest, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "second", string(rest))
	assert.Equal(t, []string{"</style.css>; rel=preload"}, hints)
	assert.Equal(t, int64(-1), resp.ContentLength)
}

func TestResponseControllerMethods(t *testing.T) {
	errs := make(chan []error, 1)
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- []error{rc.EnableFullDuplex(), rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Now().Add(time.Second)), rc.Flush()}
	})})
	resp, err := h2cClient(t).Get("http://" + ts.addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	e := <-errs
	assert.NoError(t, e[0])
	assert.NoError(t, e[1])
	assert.ErrorIs(t, e[2], http.ErrNotSupported)
	assert.NoError(t, e[3])
}

func TestHeadAndNoContent(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(204)
			_, err := io.WriteString(w, "x")
			assert.ErrorIs(t, err, http.ErrBodyNotAllowed)
			return
		}
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "0123456789")
	})})
	c := h2cClient(t)
	resp, err := c.Head("http://" + ts.addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int64(10), resp.ContentLength)
	resp, err = c.Get("http://" + ts.addr + "/204")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 204, resp.StatusCode)
}

// A handler that panics resets its stream; ErrAbortHandler is not logged.
func TestHandlerPanic(t *testing.T) {
	logs := &lockedWriter{w: new(bytes.Buffer)}
	ts := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, true, "/abort"))
	rs := r.waitFor("RST_STREAM 1", isRST(1)).(*http2.RSTStreamFrame)
	assert.Equal(t, http2.ErrCodeInternal, rs.ErrCode)
	require.NoError(t, r.request(3, true, "/boom"))
	rs = r.waitFor("RST_STREAM 3", isRST(3)).(*http2.RSTStreamFrame)
	assert.Equal(t, http2.ErrCodeInternal, rs.ErrCode)
	assert.Equal(t, 1, strings.Count(logs.String(), "panic serving request"), logs.String())
}

// The request context ends when the peer resets the stream.
func TestContextCancelledOnReset(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		ended <- r.Context().Err()
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, true, "/"))
	<-started
	require.NoError(t, r.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
}

// A handler that returns before reading a body the client is still
// sending ends the stream, then resets it with NO_ERROR, as net/http.
func TestUnreadBodyResetNoError(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "early")
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, false, "/", ":method", "POST"))
	var sawEnd bool
	rs := r.waitFor("RST_STREAM 1", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
			sawEnd = true
		}
		return isRST(1)(f)
	}).(*http2.RSTStreamFrame)
	assert.True(t, sawEnd)
	assert.Equal(t, http2.ErrCodeNo, rs.ErrCode)
}

func TestShutdownLetsStreamsFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, true, "/"))
	<-started
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(ctxTimeout(t, 10*time.Second)) }()
	ga := r.waitFor("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	assert.Equal(t, uint32(1), ga.LastStreamID)
	assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
	close(release)
	r.waitFor("END_STREAM on 1", func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == 1 && d.StreamEnded()
	})
	assert.Nil(t, r.goAwayOrClose(), "the connection closes after its last stream")
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

func TestIdleTimeoutSendsGoAway(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 50 * time.Millisecond, Handler: http.NotFoundHandler()})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, true, "/"))
	ga := r.goAwayOrClose()
	require.NotNil(t, ga)
	assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
	assert.Equal(t, uint32(1), ga.LastStreamID)
}

// A handler's read deadline ends a Read of a body that stalls, with
// os.ErrDeadlineExceeded, as on net/http's HTTP/2 server; the bytes
// that came before it are read first, and a cleared deadline lets the
// body be read to its end.
func TestReadDeadline(t *testing.T) {
	got := make(chan string, 2)
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			got <- "SetReadDeadline: " + err.Error()
			return
		}
		b, err := io.ReadAll(r.Body)
		got <- fmt.Sprintf("%q %v", b, errors.Is(err, os.ErrDeadlineExceeded))
		if err := rc.SetReadDeadline(time.Time{}); err != nil {
			got <- "SetReadDeadline: " + err.Error()
			return
		}
		b, err = io.ReadAll(r.Body)
		got <- fmt.Sprintf("%q %v", b, err)
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, false, "/", ":method", "POST"))
	require.NoError(t, r.fr.WriteData(1, false, []byte("early")))
	select {
	case s := <-got:
		assert.Equal(t, `"early" true`, s)
	case <-ctxTimeout(t, 10*time.Second).Done():
		t.Fatal("the read deadline did not end the Read")
	}
	require.NoError(t, r.fr.WriteData(1, true, []byte("late")))
	select {
	case s := <-got:
		assert.Equal(t, `"late" <nil>`, s)
	case <-ctxTimeout(t, 10*time.Second).Done():
		t.Fatal("the body did not end after the deadline was cleared")
	}
}

// "Expect: 100-continue" gets a 100 when the handler first reads the
// body, as on net/http's server, and none when the handler answers
// without reading it.
func TestExpectContinue(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusExpectationFailed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})})
	r := dialRaw(t, ts.addr)
	require.NoError(t, r.request(1, false, "/", ":method", "POST", "expect", "100-continue"))
	h := r.waitFor("a 100 on stream 1", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok && f.Header().StreamID == 1
	}).(*http2.MetaHeadersFrame)
	assert.Equal(t, "100", h.PseudoValue("status"))
	require.NoError(t, r.fr.WriteData(1, true, []byte("body")))
	h = r.waitFor("the answer on stream 1", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok && f.Header().StreamID == 1
	}).(*http2.MetaHeadersFrame)
	assert.Equal(t, "200", h.PseudoValue("status"))

	require.NoError(t, r.request(3, false, "/refuse", ":method", "POST", "expect", "100-continue"))
	h = r.waitFor("the answer on stream 3", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok && f.Header().StreamID == 3
	}).(*http2.MetaHeadersFrame)
	assert.Equal(t, "417", h.PseudoValue("status"), "no 100 before an answer that did not read the body")
}

// Request and response state is reused from one stream to the next
// (reqState): each handler sees exactly its own request's header fields,
// path and query, and each response exactly the fields its handler set,
// however many streams ran before it on other requests' state.
func TestReusedStateCarriesNothingOver(t *testing.T) {
	var adopted sync.Map // request index → the header map its writer adopted
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Echo the request's own fields, in a stable order, and set a
		// response field named after the request's index only.
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			if strings.HasPrefix(k, "X-") {
				keys = append(keys, k+"="+strings.Join(r.Header[k], ","))
			}
		}
		sort.Strings(keys)
		i := r.URL.Query().Get("i")
		if len(w.Header()) != 0 {
			t.Errorf("request %s: response header not empty at start: %v", i, w.Header())
		}
		if n, _ := strconv.Atoi(i); n%2 == 0 {
			// Every other answer hands the writer a map of its own.
			m := http.Header{"X-Only-" + i: {i}}
			if !w.(interface{ AdoptHeader(http.Header) bool }).AdoptHeader(m) {
				t.Errorf("request %s: the writer refused an empty start", i)
			}
			_, _ = io.WriteString(w, r.URL.Path+"|"+strings.Join(keys, ";"))
			adopted.Store(i, m)
			return
		}
		w.Header().Set("X-Only-"+i, i)
		_, _ = io.WriteString(w, r.URL.Path+"|"+strings.Join(keys, ";"))
	})})
	c := h2cClient(t)
	const n = 200
	concurrently(n, 16, func(i int) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/p%d?i=%d", ts.addr, i, i), nil)
		// Request i carries i%5 fields of its own, one of them twice.
		var want []string
		for j := range i % 5 {
			k := fmt.Sprintf("X-F%d", j)
			v := fmt.Sprintf("%d-%d", i, j)
			req.Header.Add(k, v)
			if j == 1 {
				req.Header.Add(k, v+"b")
				v += "," + v + "b"
			}
			want = append(want, k+"="+v)
		}
		sort.Strings(want)
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, exp := string(body), fmt.Sprintf("/p%d|%s", i, strings.Join(want, ";")); got != exp {
			t.Errorf("request %d: handler saw %q, want %q", i, got, exp)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Only-") && k != fmt.Sprintf("X-Only-%d", i) {
				t.Errorf("request %d: response carries %s", i, k)
			}
		}
		if resp.Header.Get(fmt.Sprintf("X-Only-%d", i)) != fmt.Sprint(i) {
			t.Errorf("request %d: its own response field is missing: %v", i, resp.Header)
		}
	})
	// The writer never clears a map it adopted, nor lends it to the next
	// stream.
	seen := 0
	adopted.Range(func(k, v any) bool {
		seen++
		if h := v.(http.Header); len(h) != 1 || h.Get("X-Only-"+k.(string)) != k.(string) {
			t.Errorf("request %s: its adopted map changed after the stream: %v", k, h)
		}
		return true
	})
	assert.Equal(t, n/2, seen)
}

// A small answer with trailers, finished by its handler, gets no
// Content-Length (a gRPC answer passed on whole keeps the framing its
// origin gave it); without trailers it gets one, as on net/http.
func TestNoContentLengthWithTrailers(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "message")
		if r.URL.Path == "/trailers" {
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}
	})})
	c := h2cClient(t)
	for _, tc := range []struct {
		path   string
		length int64
	}{{"/trailers", -1}, {"/plain", 7}} {
		resp, err := c.Get("http://" + ts.addr + tc.path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "message", string(body))
		assert.Equal(t, tc.length, resp.ContentLength, tc.path)
		if tc.length < 0 {
			assert.Equal(t, "0", resp.Trailer.Get("Grpc-Status"))
		}
	}
}

func TestIdleWorkers(t *testing.T) {
	s := NewServer(Config{Handler: http.NotFoundHandler()})
	newWorker := func() *worker { return &worker{next: make(chan *stream, 1), gen: s.gen} }
	ended := func(w *worker) bool {
		select {
		case st, ok := <-w.next:
			require.Nil(t, st, "a stream was handed to a worker that should be idle")
			return !ok
		default:
			return false
		}
	}

	// A stream goes to the worker that became idle last.
	a, b := newWorker(), newWorker()
	s.idle = append(s.idle, a, b)
	st := &stream{}
	s.run(st)
	assert.Same(t, st, <-b.next)
	assert.False(t, ended(a))
	require.Equal(t, []*worker{a}, s.idle)

	// A worker ends at the second sweep after it became idle, not the
	// first.
	s.sweepIdle()
	assert.False(t, ended(a), "ended at the first sweep")
	c := newWorker() // idle since after that sweep
	s.idle = append(s.idle, c)
	s.sweepIdle()
	assert.True(t, ended(a), "still idle after two sweeps")
	assert.False(t, ended(c))
	require.Equal(t, []*worker{c}, s.idle)

	// Closing the server ends the idle workers and the sweeps.
	s.stopWorkers()
	assert.True(t, ended(c))
	assert.Empty(t, s.idle)
	s.stopWorkers() // twice is fine
}

// Header blocks queued while the writer is stuck in the middle of a batch
// (its socket's send buffer is small, so writes wait for the peer to
// read) never overwrite the
// blocks of that batch: every answer on a busy connection carries its
// own header fields, never another stream's, and decodes.
func TestHeaderBlocksOfABatchStayIntact(t *testing.T) {
	ts := startServer(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := r.URL.Query().Get("i")
		// A field long and different enough to be a literal each time.
		w.Header().Set("X-Only", strings.Repeat(i+"-", 40))
		w.Header().Set("X-Index", i)
		_, _ = w.Write(bytes.Repeat([]byte(i), 6<<10))
	})}, func(nc net.Conn) {
		_ = nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
	})
	c := h2cClient(t)
	const n = 300
	concurrently(n, 64, func(i int) {
		resp, err := c.Get(fmt.Sprintf("http://%s/?i=%d", ts.addr, i))
		if err != nil {
			t.Error(err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			return
		}
		is := strconv.Itoa(i)
		if got := resp.Header.Get("X-Index"); got != is {
			t.Errorf("request %d: answer says X-Index %q", i, got)
		}
		if got := resp.Header.Get("X-Only"); got != strings.Repeat(is+"-", 40) {
			t.Errorf("request %d: answer carries X-Only %q", i, got)
		}
		if !bytes.Equal(body, bytes.Repeat([]byte(is), 6<<10)) {
			t.Errorf("request %d: body is not its own", i)
		}
	})
}
