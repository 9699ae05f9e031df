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
	"time"

	"github.com/slinkerd/slinkerd/internal/conntrack"
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

	// watchDelay is how long a request runs before its connection is
	// watched for the caller hanging up: the constant watchDelay, unless
	// a test sets another.
	watchDelay time.Duration
}

// Server runs the loop on connections given to ServeConn.
type Server struct {
	cfg Config

	conns conntrack.Set[*conn]
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
	if cfg.watchDelay <= 0 {
		cfg.watchDelay = watchDelay
	}
	return &Server{cfg: cfg}
}

// ErrServerClosed is returned by ServeConn after Shutdown.
var ErrServerClosed = errors.New("h1: server closed")

// ServeConn serves nc until it closes, is handed off, or the server shuts
// down. It closes nc unless it hands it off.
func (s *Server) ServeConn(nc net.Conn) error {
	c := newConn(s, nc)
	if !s.conns.Add(c) {
		_ = nc.Close()
		return ErrServerClosed
	}
	if s.cfg.ConnState != nil {
		s.cfg.ConnState(nc, http.StateNew)
	}
	c.serve()
	s.conns.Remove(c)
	return nil
}

// Shutdown stops taking new connections, closes the idle ones, lets each
// active one finish its current response (then closes it), and waits for
// all of them until ctx is done; then it closes what is left and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	done := s.conns.Shutdown(func(c *conn) { c.closeIfIdle() })
	if done == nil {
		return nil
	}
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
			s.conns.Each(func(c *conn) { c.closeIfIdle() })
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() {
	s.conns.Close(func(c *conn) { _ = c.nc.Close() })
}
