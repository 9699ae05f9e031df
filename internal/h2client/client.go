// Package h2client is slinkerd's own HTTP/2 client for cleartext endpoints
// with prior knowledge (h2c), gRPC servers among them. It is built on
// golang.org/x/net/http2's Framer and hpack, in the shape of grpc-go's
// transport: per connection one reader goroutine owns the frames coming
// in, writers share the connection's buffer under a lock and the last one
// out flushes it (one write system call per batch of frames), and a
// stream is a struct, not a goroutine. Connections are shared by every
// caller of an endpoint; a connection takes new streams up to the
// endpoint's SETTINGS_MAX_CONCURRENT_STREAMS, after which another one is
// opened.
//
// internal/proxy's attempt loop sends through Client.RoundTrip, which
// takes the endpoint, the context and the response-head timeout
// separately, as internal/h1client's does, so that an attempt needs no
// request copy, context or client trace of its own.
package h2client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/slinkerd/slinkerd/internal/h1client"
)

// Config configures a Client.
type Config struct {
	// Dial opens a connection to an endpoint. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IdleTimeout closes a connection that has had no stream for this
	// long. Zero: never.
	IdleTimeout time.Duration
	// MaxHeaderListSize caps a response's header list (and trailer), as
	// HPACK-decoded size (RFC 9113 §6.5.2). Defaults to 1 MiB.
	MaxHeaderListSize uint32
	// StreamWindow is the receive window offered per stream, in bytes:
	// the most of one response body buffered while its reader is slow.
	// Defaults to 1 MiB.
	StreamWindow int32
	// ConnWindow is the receive window offered per connection, in bytes.
	// It is given back as DATA arrives, so one slow stream never stalls
	// the others. Defaults to 4 MiB.
	ConnWindow int32
	// ReadIdleTimeout: a connection with streams open that has read no
	// frame for this long is sent a PING. Defaults to 30s; negative
	// means never.
	ReadIdleTimeout time.Duration
	// PingTimeout closes a connection whose PING is not answered in this
	// long, failing its streams. Defaults to 15s.
	PingTimeout time.Duration
}

// Client sends requests to h2c endpoints over shared connections.
type Client struct {
	cfg   Config
	mu    sync.Mutex
	hosts map[string]*host
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = 1 << 20
	}
	if cfg.StreamWindow <= 0 {
		cfg.StreamWindow = 1 << 20
	}
	if cfg.ConnWindow <= 0 {
		cfg.ConnWindow = 4 << 20
	}
	cfg.ConnWindow = max(cfg.ConnWindow, cfg.StreamWindow)
	if cfg.ReadIdleTimeout == 0 {
		cfg.ReadIdleTimeout = 30 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 15 * time.Second
	}
	return &Client{cfg: cfg, hosts: make(map[string]*host)}
}

// Informer receives informational (1xx) responses: the HTTP/1.1
// client's interface.
type Informer = h1client.Informer

// MaxInformational bounds the 1xx responses read before the final one,
// as on HTTP/1.1.
const MaxInformational = h1client.MaxInformational

// ErrResponseHeaderTimeout is the cause of an exchange whose endpoint sent
// no response head within RoundTrip's headTimeout: the HTTP/1.1 client's
// error, so that the proxy tells them apart from nothing else.
var ErrResponseHeaderTimeout = h1client.ErrResponseHeaderTimeout

// ErrTooManyInformational is an endpoint's answer of more than
// MaxInformational interim (1xx) responses (the HTTP/1.1 client's error).
var ErrTooManyInformational = h1client.ErrTooManyInformational

// unprocessedError fails a request that no server saw: its stream was
// above a GOAWAY's last stream ID, refused, or never opened. retry's
// Requeueable recognises it through its Unprocessed method.
type unprocessedError struct{ err error }

func (e *unprocessedError) Error() string     { return e.err.Error() + " (the request was not processed)" }
func (e *unprocessedError) Unwrap() error     { return e.err }
func (e *unprocessedError) Unprocessed() bool { return true }

// RoundTrip sends req to the h2c endpoint addr (host:port) under ctx
// (req's own context is not read) and returns its response, whose body
// must be read to its end or closed. written reports whether any of the
// request may have reached the endpoint.
//
// req.URL's path and query, req.Host (else the URL's host), the method,
// the header and the body are sent; hop-by-hop headers are not.
//
// A request body with a Released method is told, on the calling
// goroutine and before RoundTrip returns, when the client has sent it
// whole, closed it, and will neither read nor close it again: no
// goroutine of the client holds it (or the request) any more, so its
// owner may reuse them once RoundTrip returns. A body sent by a writer
// goroutine is never released so.
//
// Informational (1xx) responses go to info when it is not nil.
// headTimeout, if positive, bounds the wait for the response head once
// the request, body included, is sent; its expiry is an error that wraps
// ErrResponseHeaderTimeout.
func (c *Client) RoundTrip(ctx context.Context, req *http.Request, addr string, info Informer, headTimeout time.Duration) (*http.Response, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	h := c.host(addr)
	goaways := 0
	// A body that is already there (a gRPC message that came with its
	// caller's HEADERS) goes out with the request's HEADERS, in the same
	// write, and without a writer goroutine when it is whole. It is read
	// once there is a connection to send it on.
	var early earlyBody
	readEarly := req.Body != nil && req.Body != http.NoBody
	for {
		cc, err := h.get(ctx)
		if err != nil {
			early.release()
			return nil, false, err
		}
		if readEarly {
			readEarly = false
			if err := early.read(req.Body); err != nil {
				cc.unreserve()
				early.release()
				_ = req.Body.Close()
				return nil, false, &bodyReadError{err}
			}
		}
		resp, written, err := cc.roundTrip(ctx, req, &early, info, headTimeout)
		if err != nil && errors.Is(err, errConnUnusable) {
			continue // it closed or went away before the stream was opened
		}
		if err != nil && !written && (req.Body == nil || req.Body == http.NoBody) && goaways < maxGoAwayRetries && ctx.Err() == nil {
			if _, ok := errors.AsType[http2.GoAwayError](err); ok {
				// The endpoint is going away and did not process it: with no
				// body to replay, send it again on another connection, as
				// net/http's transport does, rather than spend the proxy's
				// retry budget on a graceful shutdown.
				goaways++
				continue
			}
		}
		return resp, written, err
	}
}

// maxGoAwayRetries bounds how many times RoundTrip sends a bodiless
// request again after GOAWAYs that left it unprocessed.
const maxGoAwayRetries = 3

// CloseIdle closes the connections that have no stream open.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	hosts := make([]*host, 0, len(c.hosts))
	for _, h := range c.hosts {
		hosts = append(hosts, h)
	}
	c.mu.Unlock()
	for _, h := range hosts {
		h.closeIdle()
	}
}

func (c *Client) host(addr string) *host {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hosts[addr]
	if h == nil {
		h = &host{c: c, addr: addr}
		c.hosts[addr] = h
	}
	return h
}

// host is one endpoint's connections.
type host struct {
	c    *Client
	addr string

	mu      sync.Mutex
	conns   []*conn
	dialing *dial // the dial in progress, if any
}

// dial is one connection being opened; waiters wait for done.
type dial struct {
	done chan struct{}
	cc   *conn
	err  error
}

// get returns a connection with a stream reserved on it: a shared one
// with room, else a new one.
func (h *host) get(ctx context.Context) (*conn, error) {
	for {
		h.mu.Lock()
		for _, cc := range h.conns {
			if cc.reserve() {
				h.mu.Unlock()
				return cc, nil
			}
		}
		d := h.dialing
		if d == nil {
			d = &dial{done: make(chan struct{})}
			h.dialing = d
			h.mu.Unlock()
			d.cc, d.err = h.open(ctx)
			h.mu.Lock()
			h.dialing = nil
			if d.err == nil {
				h.conns = append(h.conns, d.cc)
			}
			close(d.done)
			h.mu.Unlock()
			if d.err != nil {
				return nil, d.err
			}
			continue
		}
		h.mu.Unlock()
		select {
		case <-d.done:
			if d.err != nil {
				return nil, d.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// open dials and starts a connection. The dial is not cut short by one
// waiter's context alone, since others may wait for it: it has the
// dialer's own timeout.
func (h *host) open(ctx context.Context) (*conn, error) {
	nc, err := h.c.cfg.Dial(context.WithoutCancel(ctx), "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	cc, err := newConn(h, nc)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("h2c connection to %s: %w", h.addr, err)
	}
	return cc, nil
}

// remove drops a closed or draining connection from the pool.
func (h *host) remove(cc *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.conns {
		if x == cc {
			h.conns = append(h.conns[:i], h.conns[i+1:]...)
			return
		}
	}
}

func (h *host) closeIdle() {
	h.mu.Lock()
	conns := append([]*conn(nil), h.conns...)
	h.mu.Unlock()
	for _, cc := range conns {
		cc.closeIfIdle()
	}
}

// errConnUnusable fails a stream that could not be opened on a connection
// that closed or received GOAWAY in the meantime: RoundTrip tries another.
var errConnUnusable = errors.New("h2c connection not usable")

// connError is what a connection's failure gives its streams.
func connError(addr string, err error) error {
	if ga, ok := errors.AsType[http2.GoAwayError](err); ok {
		return fmt.Errorf("h2c connection to %s: %w", addr, ga)
	}
	return fmt.Errorf("h2c connection to %s lost: %w", addr, err)
}
