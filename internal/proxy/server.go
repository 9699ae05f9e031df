package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h1"
	"github.com/slinkerd/slinkerd/internal/h1client"
	"github.com/slinkerd/slinkerd/internal/h2"
)

// ServerConfig configures the listener side of the proxy.
type ServerConfig struct {
	// Addr is the listen address. Defaults to 127.0.0.1:4140.
	Addr string
	// Listener, if not nil, is served instead of a TCP listener on Addr
	// (the in-process client serves an in-memory one).
	Listener net.Listener
	// TLSCertFile and TLSKeyFile, both set, serve TLS (ALPN h2 and
	// http/1.1) instead of cleartext HTTP/1.1 and h2c.
	TLSCertFile, TLSKeyFile string
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Defaults to 10s; negative means no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Defaults to 60s;
	// negative means never.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's header size; larger gets 431.
	// Defaults to 64 KiB.
	MaxHeaderBytes int
	// MaxConcurrentStreams caps HTTP/2 streams per connection. Defaults
	// to 250.
	MaxConcurrentStreams int
	// Logger receives server errors. Defaults to slog.Default().
	Logger *slog.Logger
	// ConnState, if not nil, is told of every client connection's state
	// changes (telemetry counts open connections with it).
	ConnState func(net.Conn, http.ConnState)
	// NetHTTPServer serves cleartext HTTP/1.x with net/http's server
	// instead of slinkerd's own connection loop (internal/h1), as
	// SLINKERD_FAST_PATH=off does. TLS listeners always use net/http's.
	NetHTTPServer bool
}

// ErrTLSCertificate is wrapped by Listen's error when the TLS certificate
// or key cannot be loaded.
var ErrTLSCertificate = errors.New("proxy: cannot load the TLS certificate")

// Server serves a Proxy on one listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
	tls bool

	// The own loop: it serves HTTP/1.x and hands what it does not take
	// (h2c and h2 after ALPN, upgrades, Expect) to srv through handed;
	// on cleartext, guarded as srv's own connections would be.
	loop    *h1.Server
	h2      *h2.Server // h2c callers on the own loop's listener; nil on TLS
	raw     net.Listener
	handed  *connQueue
	tlsCfg  *tls.Config // the loop's TLS: it does the handshakes
	hsTime  time.Duration
	closing atomic.Bool
}

// Listen opens the listener and prepares the server; Serve starts it.
// Opening first lets a caller (the Lambda extension) be sure the port is
// bound before it says it is ready.
func Listen(cfg ServerConfig, h http.Handler) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:4140"
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = 250
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: max(cfg.ReadHeaderTimeout, 0), // net/http: 0 is none
		IdleTimeout:       max(cfg.IdleTimeout, 0),
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		Protocols:         protos,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: cfg.MaxConcurrentStreams,
			// Bound what one connection can make us buffer.
			MaxReceiveBufferPerConnection: 4 << 20,
			MaxReceiveBufferPerStream:     1 << 20,
		},
		ErrorLog:  slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ConnState: cfg.ConnState,
	}
	s := &Server{srv: srv}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("proxy: TLS needs both a certificate and a key file")
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w %s and key %s: %w", ErrTLSCertificate, cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		protos.SetHTTP2(true)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.tls = true
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("proxy: listen on %s: %w", cfg.Addr, err)
		}
	}
	s.ln = ln
	if !s.tls {
		// Refuse the smuggling-prone heads net/http would normalise
		// (h1guard.go).
		s.ln = &guardListener{Listener: ln, maxHead: cfg.MaxHeaderBytes, log: cfg.Logger}
	}
	if !cfg.NetHTTPServer {
		s.raw = ln
		s.handed = newConnQueue(ln.Addr())
		if s.tls {
			s.ln = s.handed
			// net/http sets up h2 for the *tls.Conn it is given only when
			// its TLS config names h2 (shouldConfigureHTTP2ForServe).
			srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
			s.tlsCfg = srv.TLSConfig
			s.hsTime = cfg.ReadHeaderTimeout
		} else {
			s.ln = &guardListener{Listener: s.handed, maxHead: cfg.MaxHeaderBytes, log: cfg.Logger}
		}
		if cs := cfg.ConnState; cs != nil {
			// The loop reported StateNew of the connections it hands over.
			srv.ConnState = func(c net.Conn, st http.ConnState) {
				if g, ok := c.(*guardConn); ok && st == http.StateNew && h1.HandedOff(g.Conn) {
					return
				}
				cs(c, st)
			}
		}
		if !s.tls {
			// h2c with prior knowledge: slinkerd's own HTTP/2 server. (TLS
			// connections that chose h2 by ALPN still go to net/http's.)
			h2cs := cfg.ConnState
			if h2cs != nil {
				// The loop reported StateNew of the connections it hands over.
				h2cs = func(c net.Conn, st http.ConnState) {
					if st != http.StateNew {
						cfg.ConnState(c, st)
					}
				}
			}
			s.h2 = h2.NewServer(h2.Config{
				Handler:              h,
				MaxConcurrentStreams: uint32(cfg.MaxConcurrentStreams),
				MaxHeaderListSize:    uint32(cfg.MaxHeaderBytes),
				// Bound what one connection can make us buffer.
				MaxReceiveBufferPerConnection: 4 << 20,
				MaxReceiveBufferPerStream:     1 << 20,
				ReadHeaderTimeout:             cfg.ReadHeaderTimeout,
				IdleTimeout:                   cfg.IdleTimeout,
				ConnState:                     h2cs,
				Logger:                        cfg.Logger,
			})
		}
		var toH2 func(net.Conn)
		if s.h2 != nil {
			toH2 = func(c net.Conn) { go func() { _ = s.h2.ServeConn(c) }() }
		}
		s.loop = h1.NewServer(h1.Config{
			Handler:           h,
			Fallback:          s.handed.put,
			HTTP2:             toH2,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ConnState:         cfg.ConnState,
			Logger:            cfg.Logger,
		})
	}
	return s, nil
}

// connQueue is the listener net/http's server takes handed-off
// connections from.
type connQueue struct {
	addr  net.Addr
	ch    chan net.Conn
	done  chan struct{}
	close sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) put(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

// Accept returns the next handed-off connection.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept.
func (q *connQueue) Close() error {
	q.close.Do(func() { close(q.done) })
	return nil
}

// Addr is the proxy listener's address.
func (q *connQueue) Addr() net.Addr { return q.addr }

// acceptLoop accepts connections for the own loop, each on its own
// goroutine, until the listener closes.
func (s *Server) acceptLoop() error {
	var delay time.Duration
	for {
		c, err := s.raw.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// As net/http: back off on errors such as running out of
			// file descriptors, and go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if s.tlsCfg != nil {
			go s.serveTLS(c)
			continue
		}
		go func() { _ = s.loop.ServeConn(c) }()
	}
}

// serveTLS does the TLS handshake, bounded by the read-header timeout,
// then gives the connection to net/http's server if the caller chose h2
// by ALPN, else to the loop.
func (s *Server) serveTLS(c net.Conn) {
	tc := tls.Server(c, s.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), s.hsTime)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = c.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		s.handed.put(tc)
		return
	}
	_ = s.loop.ServeConn(tc)
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	var err error
	if s.loop != nil {
		errc := make(chan error, 1)
		// Serve, not ServeTLS, also for TLS: the connections it gets are
		// *tls.Conn whose handshake is done, and it sets up h2 for them.
		go func() { errc <- s.srv.Serve(s.ln) }()
		if err := s.acceptLoop(); err != nil {
			return err
		}
		err = <-errc
	} else if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, sends GOAWAY on HTTP/2 connections, and waits
// for in-flight requests until ctx is done, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.loop == nil {
		err := s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
		return err
	}
	s.closing.Store(true)
	_ = s.raw.Close()
	loopErr := make(chan error, 1)
	go func() { loopErr <- s.loop.Shutdown(ctx) }()
	h2Err := make(chan error, 1)
	go func() {
		if s.h2 == nil {
			h2Err <- nil
			return
		}
		h2Err <- s.h2.Shutdown(ctx)
	}()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return errors.Join(err, <-loopErr, <-h2Err)
}

// callerWriter returns the ResponseWriter to answer r with: w itself, or
// for an HTTP/1.0 caller a writer that drops 1xx responses. RFC 9110
// §15.2: "a server MUST NOT send a 1xx response to an HTTP/1.0 client";
// net/http's server sends whatever the handler writes, and both data
// paths pass an endpoint's 1xx on (the ReverseProxy through its client
// trace, the direct path through route.informational).
func callerWriter(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		return &interimWriter{ResponseWriter: w}
	}
	return w
}

// capInterim returns w, or a writer that passes at most MaxInformational
// interim responses on, as the direct path's client reads at most that
// many: the ReverseProxy passes on every 1xx an endpoint sends, before
// the attempt (transport.go) gives up on it.
func capInterim(w http.ResponseWriter) http.ResponseWriter {
	if _, ok := w.(*interimWriter); ok {
		return w
	}
	return &interimWriter{ResponseWriter: w, left: h1client.MaxInformational}
}

// interimWriter is a ResponseWriter that passes on at most left more
// interim (1xx) responses: none to an HTTP/1.0 caller.
type interimWriter struct {
	http.ResponseWriter
	left int
}

// WriteHeader drops the informational responses over the limit (101
// excepted: it ends the exchange, and the ReverseProxy decides on it).
func (w *interimWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if w.left <= 0 {
			return
		}
		w.left--
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *interimWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
