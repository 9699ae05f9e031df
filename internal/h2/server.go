// Package h2 is slinkerd's own HTTP/2 server for prior-knowledge h2c
// connections, the HTTP/2 sibling of internal/h1. It is shaped like
// grpc-go's transport rather than x/net/http2's server: per connection,
// one reader goroutine (the one that calls ServeConn) reads frames with
// x/net/http2's Framer and owns the stream table, and one writer goroutine
// drains a queue of frames and flushes only when the queue is empty, so
// frames written together leave in one write. Streams are structs; the
// only goroutine per stream is the one running the http.Handler, as in
// net/http and grpc-go.
//
// Flow control is per stream: a request body is buffered up to the stream
// window we offer, and WINDOW_UPDATE goes back as the handler reads, so a
// slow handler slows only its own stream. A response Write blocks while
// the peer's stream or connection window is empty.
//
// The hardening rules (rapid reset, control-frame, CONTINUATION and
// empty-DATA floods, header-list and HPACK limits, stream counts) are
// counters, documented where they are enforced in conn.go.
package h2

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/internal/conntrack"
)

// Config configures a Server.
type Config struct {
	// Handler answers the requests. Required.
	Handler http.Handler
	// MaxConcurrentStreams is the SETTINGS_MAX_CONCURRENT_STREAMS we
	// announce; a stream past it is refused with RST_STREAM
	// REFUSED_STREAM. Handlers still running after their stream was reset
	// count too: a request that arrives while that many run waits for
	// one to end, and more than 4× that many waiting ends the connection
	// with GOAWAY ENHANCE_YOUR_CALM (as x/net/http2). Defaults to 250.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize is the SETTINGS_MAX_HEADER_LIST_SIZE we announce,
	// in decoded bytes (RFC 9113 §6.5.2); a larger request head gets a
	// 431 answer, as net/http. The encoded header block, CONTINUATION
	// frames included, is bounded to 4× this plus 16 KiB before decoding
	// finishes. Defaults to 64 KiB.
	MaxHeaderListSize uint32
	// MaxReceiveBufferPerStream is the stream flow-control window we
	// offer, and so the most request body buffered per stream. Defaults
	// to 1 MiB.
	MaxReceiveBufferPerStream int32
	// MaxReceiveBufferPerConnection is the connection flow-control window
	// we offer. Defaults to 4 MiB.
	MaxReceiveBufferPerConnection int32
	// ReadHeaderTimeout bounds the wait for the client preface and the
	// peer's first SETTINGS. Defaults to 10s (when 0); negative means no
	// limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection with GOAWAY once it has had no
	// stream for that long. Defaults to 60s (when 0); negative means no
	// limit.
	IdleTimeout time.Duration
	// ConnState, if not nil, is told of each connection's state changes,
	// as http.Server.ConnState: StateActive when a stream opens on an
	// idle connection, StateIdle when its last stream ends.
	ConnState func(net.Conn, http.ConnState)
	// Logger receives handler panics at error level and connection
	// errors at debug level. Defaults to slog.Default().
	Logger *slog.Logger
}

// Server serves HTTP/2 on connections given to ServeConn.
type Server struct {
	cfg Config

	conns conntrack.Set[*conn]

	// Handler workers: a stream's handler runs on the worker that was
	// idle last (its stack and caches are the warmest), else on a new
	// one. A worker that has run a handler keeps its grown stack for the
	// next (a new goroutine per stream grows its stack on every request:
	// grpc-go's stream workers avoid the same cost). An idle worker waits
	// on a channel of its own, so handing it a stream is one send, with
	// no select and no timer to reset; the sweeper ends the workers that
	// stayed idle through a whole sweep period (workerIdle), and all of
	// them end when the server closes. Guarded by wmu.
	wmu      sync.Mutex
	idle     []*worker
	sweeping bool
	closed   bool
	sweep    chan struct{} // closed when the server closes: the sweeper ends
	gen      uint64        // sweeps so far
}

// worker is a handler worker, waiting on next when idle; a nil stream or
// a closed channel ends it. gen is the sweep generation in which it last
// became idle.
type worker struct {
	next chan *stream
	gen  uint64
}

// workerIdle is how long an idle handler worker waits for a stream, at
// least (at most twice as long).
const workerIdle = 10 * time.Second

// run runs st's handler, and then queued ones, on a worker.
func (s *Server) run(st *stream) {
	s.wmu.Lock()
	if n := len(s.idle); n > 0 {
		w := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		s.wmu.Unlock()
		w.next <- st // buffered: never waits
		return
	}
	if !s.sweeping && !s.closed {
		s.sweeping = true
		go s.sweeper()
	}
	s.wmu.Unlock()
	go s.work(&worker{next: make(chan *stream, 1)}, st)
}

// work runs handlers handed to w until it is ended.
func (s *Server) work(w *worker, st *stream) {
	for st != nil {
		st.c.runHandlers(st)
		s.wmu.Lock()
		if s.closed {
			s.wmu.Unlock()
			return
		}
		w.gen = s.gen
		s.idle = append(s.idle, w)
		s.wmu.Unlock()
		st = <-w.next
	}
}

// sweeper ends, every workerIdle, the workers that were already idle at
// the previous sweep and have not worked since.
func (s *Server) sweeper() {
	t := time.NewTicker(workerIdle)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.sweep:
			return
		}
		s.sweepIdle()
	}
}

// sweepIdle ends the workers that were already idle at the previous
// sweep, and starts a new sweep generation.
func (s *Server) sweepIdle() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// idle is in the order the workers became idle: the ones left from
	// before the last sweep are first.
	n := 0
	for n < len(s.idle) && s.idle[n].gen < s.gen {
		close(s.idle[n].next)
		n++
	}
	k := copy(s.idle, s.idle[n:])
	clear(s.idle[k:])
	s.idle = s.idle[:k]
	s.gen++
}

// stopWorkers ends the idle handler workers and the sweeper; workers
// running handlers end when they are done.
func (s *Server) stopWorkers() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.sweep)
	for i, w := range s.idle {
		close(w.next)
		s.idle[i] = nil
	}
	s.idle = nil
}

// Defaults of Config.
const (
	DefaultMaxConcurrentStreams          = 250
	DefaultMaxHeaderListSize             = 64 << 10
	DefaultMaxReceiveBufferPerStream     = 1 << 20
	DefaultMaxReceiveBufferPerConnection = 4 << 20
)

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if cfg.MaxReceiveBufferPerStream <= 0 {
		cfg.MaxReceiveBufferPerStream = DefaultMaxReceiveBufferPerStream
	}
	if cfg.MaxReceiveBufferPerConnection <= 0 {
		cfg.MaxReceiveBufferPerConnection = DefaultMaxReceiveBufferPerConnection
	}
	if cfg.MaxReceiveBufferPerConnection < initialWindow {
		cfg.MaxReceiveBufferPerConnection = initialWindow // the connection starts with that much
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, sweep: make(chan struct{})}
}

// ErrServerClosed is returned by ServeConn after Shutdown or Close.
var ErrServerClosed = errors.New("h2: server closed")

// ServeConn serves nc, whose first bytes are the client preface (HTTP/2
// with prior knowledge), until it closes or the server shuts down. It
// closes nc. It returns nil when the peer or a GOAWAY ended the
// connection cleanly, else what ended it.
func (s *Server) ServeConn(nc net.Conn) error {
	c := newConn(s, nc)
	if !s.conns.Add(c) {
		_ = nc.Close()
		return ErrServerClosed
	}
	defer s.conns.Remove(c)
	if s.cfg.ConnState != nil {
		s.cfg.ConnState(nc, http.StateNew)
	}
	return c.serve()
}

// Shutdown sends GOAWAY (naming the last stream it took) on every
// connection, lets the streams in flight finish, closes each connection
// as its last stream ends, and waits for all of them until ctx is done;
// then it closes what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.stopWorkers()
	done := s.conns.Shutdown(func(c *conn) { c.goAway() })
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
}

// Close closes every connection at once; their handlers see their
// requests' contexts cancelled.
func (s *Server) Close() error {
	defer s.stopWorkers()
	s.conns.Close(func(c *conn) { _ = c.nc.Close() })
	return nil
}
