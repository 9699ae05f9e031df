// Package h1 is slinkerd's own HTTP/1.x server connection loop: one
// goroutine per caller connection reads a request with one strict parse
// (ParseHead, which also refuses the heads that make request smuggling
// possible), calls the http.Handler on that goroutine, and writes the
// response straight to the connection's buffer. Keep-alive and
// pipelined requests are answered in order.
//
// What the loop does not take — the HTTP/2 prior-knowledge preface,
// upgrades (Upgrade, CONNECT), Expect: 100-continue — it hands to
// Config.Fallback at a request boundary, with the bytes it has read but
// not consumed replayed first, so one listener still serves every
// protocol (net/http's server takes them in slinkerd).
package h1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server.
type Config struct {
	// Handler answers the requests. Required.
	Handler http.Handler
	// Fallback takes a connection the loop hands off: its reads replay
	// the bytes already read first. Nil closes such connections.
	Fallback func(net.Conn)
	// HTTP2, if not nil, takes the connections that open with the HTTP/2
	// client preface instead of Fallback (the preface replayed first).
	HTTP2 func(net.Conn)
	// ReadHeaderTimeout bounds reading a request head once its first
	// byte came. Defaults to 10s (when 0); negative means no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection (and for the first one). Defaults to 60s (when 0);
	// negative means no limit.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request head, request line included; larger
	// gets 431. Defaults to 64 KiB.
	MaxHeaderBytes int
	// MaxHeaders caps the number of header lines; more gets 431.
	// Defaults to DefaultMaxHeaders (100, near HAProxy's 101).
	MaxHeaders int
	// MaxDiscardBytes is how much of a request body the handler left
	// unread is read and dropped to keep the connection; a longer rest
	// closes it. Defaults to 256 KiB.
	MaxDiscardBytes int64
	// ConnState, if not nil, is told of each connection's state changes,
	// as http.Server.ConnState. A connection handed off gets no
	// StateClosed from here.
	ConnState func(net.Conn, http.ConnState)
	// Logger receives connection errors at debug level. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Server runs the loop on connections given to ServeConn.
type Server struct {
	cfg Config

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown atomic.Bool
	done     chan struct{} // closed when the last connection ends after Shutdown
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.MaxHeaders <= 0 {
		cfg.MaxHeaders = DefaultMaxHeaders
	}
	if cfg.MaxDiscardBytes <= 0 {
		cfg.MaxDiscardBytes = 256 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, conns: make(map[*conn]struct{})}
}

// ErrServerClosed is returned by ServeConn after Shutdown.
var ErrServerClosed = errors.New("h1: server closed")

// ServeConn serves nc until it closes, is handed off, or the server shuts
// down. It closes nc unless it hands it off.
func (s *Server) ServeConn(nc net.Conn) error {
	c := newConn(s, nc)
	if !s.track(c, true) {
		_ = nc.Close()
		return ErrServerClosed
	}
	if s.cfg.ConnState != nil {
		s.cfg.ConnState(nc, http.StateNew)
	}
	c.serve()
	s.track(c, false)
	return nil
}

func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutdown.Load() {
			return false
		}
		s.conns[c] = struct{}{}
		return true
	}
	delete(s.conns, c)
	if s.shutdown.Load() && len(s.conns) == 0 && s.done != nil {
		close(s.done)
		s.done = nil
	}
	return true
}

// Shutdown stops taking new connections, closes the idle ones, lets each
// active one finish its current response (then closes it), and waits for
// all of them until ctx is done; then it closes what is left and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	if len(s.conns) == 0 {
		s.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	s.done = done
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
			// A connection that was active when Shutdown began closes
			// itself after its response; one that turned idle in between
			// is closed here.
			s.mu.Lock()
			for c := range s.conns {
				c.closeIfIdle()
			}
			s.mu.Unlock()
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() {
	s.mu.Lock()
	s.shutdown.Store(true)
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
}
