// Command bareh2 is the floor of the frame-level HTTP/2 design that issue
// 17 asks for, for the benchmark notes of docs/performance.md: an h2c
// forwarder in Go built on golang.org/x/net/http2's Framer and hpack,
// with one reader goroutine per connection and no goroutine per stream.
// Each caller connection gets one upstream h2c connection of its own, so
// a caller's stream IDs are the upstream's. Headers and trailers are
// decoded and re-encoded (each side has its own HPACK tables, as a real
// proxy must); DATA is forwarded as it arrives, and every byte read is
// returned to its sender at once in WINDOW_UPDATEs, against windows of
// 1 MiB. It does nothing else: no routing, no policy, no flow control
// towards the reader (the benchmark's answers are small), no limits, no
// hardening. What it costs per request on a machine is what the design
// costs; it is not for use.
//
//	go run ./test/bench/bareh2 -listen 127.0.0.1:14143 -upstream 127.0.0.1:8080
//
// -listen and -upstream may list several pairs, comma-separated (the
// benchmark's h2c and gRPC ports); `go run ./test/bench/proxy -setups
// bareh2,…` runs it beside the others.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// window is the initial stream and connection window each side offers.
const window = 1 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:14143", "addresses to listen on, comma-separated")
	upstream := flag.String("upstream", "", "host:port of the h2c backend of each listen address, comma-separated")
	flag.Parse()
	ls, us := strings.Split(*listen, ","), strings.Split(*upstream, ",")
	if len(ls) != len(us) {
		log.Fatal("bareh2: -listen and -upstream must list as many addresses")
	}
	for i := range ls {
		ln, err := net.Listen("tcp", ls[i])
		if err != nil {
			log.Fatal(err)
		}
		go accept(ln, us[i])
	}
	select {}
}

func accept(ln net.Listener, upstream string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, upstream)
	}
}

// side is one connection: its framer, the buffered writer under it, and
// the HPACK encoder for what is written to it.
type side struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	mu   sync.Mutex // guards fr's writes, bw and enc
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func newSide(c net.Conn) *side {
	s := &side{conn: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}
	s.fr = http2.NewFramer(s.bw, s.br)
	s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	s.fr.MaxHeaderListSize = 64 << 10
	s.enc = hpack.NewEncoder(&s.hbuf)
	return s
}

// start writes the side's SETTINGS and a connection window update.
func (s *side) start() error {
	if err := s.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window},
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1000}); err != nil {
		return err
	}
	if err := s.fr.WriteWindowUpdate(0, window-65535); err != nil {
		return err
	}
	return s.bw.Flush()
}

// flushIfIdle flushes when the reader that fed this write has nothing
// more buffered: one write system call per batch of frames.
func (s *side) flushIfIdle(from *bufio.Reader) error {
	if from.Buffered() > 0 {
		return nil
	}
	return s.bw.Flush()
}

func serve(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	caller, up := newSide(c), newSide(u)

	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(caller.br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	if _, err := up.bw.WriteString(http2.ClientPreface); err != nil {
		return
	}
	if caller.start() != nil || up.start() != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { forward(up, caller); done <- struct{}{} }()
	go func() { forward(caller, up); done <- struct{}{} }()
	<-done
}

// forward reads frames from src and writes what they carry to dst until
// src fails.
func forward(src, dst *side) {
	defer dst.conn.Close()
	defer src.conn.Close()
	for {
		f, err := src.fr.ReadFrame()
		if err != nil {
			return
		}
		if err := handle(f, src, dst); err != nil {
			return
		}
	}
}

// handle forwards one frame, or answers it on src.
func handle(f http2.Frame, src, dst *side) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		dst.mu.Lock()
		defer dst.mu.Unlock()
		dst.hbuf.Reset()
		for _, hf := range f.Fields {
			if err := dst.enc.WriteField(hf); err != nil {
				return err
			}
		}
		if err := dst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: dst.hbuf.Bytes(),
			EndStream: f.StreamEnded(), EndHeaders: true}); err != nil {
			return err
		}
		return dst.flushIfIdle(src.br)
	case *http2.DataFrame:
		n := uint32(len(f.Data()))
		dst.mu.Lock()
		err := dst.fr.WriteData(f.StreamID, f.StreamEnded(), f.Data())
		if err == nil {
			err = dst.flushIfIdle(src.br)
		}
		dst.mu.Unlock()
		if err != nil || n == 0 {
			return err
		}
		// Give the sender its window back at once.
		src.mu.Lock()
		defer src.mu.Unlock()
		if err := src.fr.WriteWindowUpdate(0, n); err != nil {
			return err
		}
		if !f.StreamEnded() {
			if err := src.fr.WriteWindowUpdate(f.StreamID, n); err != nil {
				return err
			}
		}
		return src.flushIfIdle(src.br)
	case *http2.RSTStreamFrame:
		dst.mu.Lock()
		defer dst.mu.Unlock()
		if err := dst.fr.WriteRSTStream(f.StreamID, f.ErrCode); err != nil {
			return err
		}
		return dst.flushIfIdle(src.br)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		if err := src.fr.WriteSettingsAck(); err != nil {
			return err
		}
		return src.flushIfIdle(src.br)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		if err := src.fr.WritePing(true, f.Data); err != nil {
			return err
		}
		return src.flushIfIdle(src.br)
	}
	return nil // WINDOW_UPDATE, GOAWAY, PRIORITY: ignored here
}
