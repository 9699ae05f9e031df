package h2

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/internal/leakcheck"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzSeeds are valid frame sequences (after the preface), written with
// a Framer.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	build := func(write func(fr *http2.Framer, block func(fields ...string) []byte)) {
		var buf, hbuf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		enc := hpack.NewEncoder(&hbuf)
		block := func(fields ...string) []byte {
			hbuf.Reset()
			for i := 0; i+1 < len(fields); i += 2 {
				_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
			}
			return append([]byte(nil), hbuf.Bytes()...)
		}
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		write(fr, block)
		seeds = append(seeds, buf.Bytes())
	}
	get := []string{":method", "GET", ":scheme", "http", ":authority", "a.example", ":path", "/"}
	post := []string{":method", "POST", ":scheme", "http", ":authority", "a.example", ":path", "/echo", "content-length", "5", "trailer", "x-t"}
	build(func(fr *http2.Framer, block func(...string) []byte) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(get...), EndStream: true, EndHeaders: true})
	})
	build(func(fr *http2.Framer, block func(...string) []byte) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(post...), EndHeaders: true})
		_ = fr.WriteData(1, false, []byte("hel"))
		_ = fr.WriteData(1, false, []byte("lo"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("x-t", "v"), EndStream: true, EndHeaders: true})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(get...), EndStream: true, EndHeaders: true})
		_ = fr.WritePing(false, [8]byte{1, 2})
		_ = fr.WriteWindowUpdate(0, 1000)
	})
	build(func(fr *http2.Framer, block func(...string) []byte) {
		b := block(append(get, "x-long", string(bytes.Repeat([]byte("z"), 40)))...)
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:10], EndStream: true})
		_ = fr.WriteContinuation(1, false, b[10:20])
		_ = fr.WriteContinuation(1, true, b[20:])
		_ = fr.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 10})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(post...), EndHeaders: true})
		_ = fr.WriteRSTStream(5, http2.ErrCodeCancel)
		_ = fr.WriteGoAway(5, http2.ErrCodeNo, nil)
	})
	return seeds
}

// serverMarks name the server's own goroutines (connections, writers,
// handlers), for leak checks while the test's goroutines still run.
var serverMarks = []string{"internal/h2.(*conn)", "internal/h2.(*writer)", "internal/h2.(*stream)", "internal/h2.(*Server)"}

// FuzzServerFrames feeds a fuzzed byte stream after the preface to a
// server on a net.Pipe: no panic, the server stops soon after the peer
// closes, and no goroutine outlives it.
func FuzzServerFrames(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(w, r.Body)
			w.Header().Set(http.TrailerPrefix+"X-Got", r.Trailer.Get("X-T"))
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(Config{Handler: handler, Logger: logger, MaxConcurrentStreams: 8, ReadHeaderTimeout: -1, IdleTimeout: -1})
		cli, srv := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.ServeConn(srv) }()
		read := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, cli)
			close(read)
		}()
		_ = cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := cli.Write([]byte(clientPreface)); err == nil {
			_, _ = cli.Write(data)
		}
		_ = cli.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not stop after the peer closed")
		}
		<-read
		// Idle handler workers belong to the server, not the connection.
		_ = s.Close()
		if leaks := leakcheck.Leaked(5*time.Second, serverMarks...); leaks != "" {
			t.Fatalf("goroutines left:\n%s", leaks)
		}
	})
}
