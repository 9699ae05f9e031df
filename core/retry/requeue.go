//lint:file-ignore SA1019 the transports still return x/net/http2's GoAwayError; recognising it is the point

package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/http2"
)

// Unprocessed is an error that knows whether the request it ends was
// provably never processed by a server: Requeueable trusts it.
type Unprocessed interface {
	error
	// Unprocessed reports whether no server acted on the request.
	Unprocessed() bool
}

// Requeueable reports whether err, the error of one attempt, proves that
// no server processed the request, so that it may be sent again at once,
// whatever its method, without being an application retry (it still
// withdraws from the [Budget]). It answers only "is it safe?"; whether
// time remains and the body can be replayed is the caller's business.
//
// requestWritten says whether any byte of this request — head or body —
// may have reached the connection. Pass true when unsure; false is a
// promise. Sound ways to know:
//
//   - Count the bytes written to the connection: wrap the dialled conn in
//     a [CountingConn], note Written() in httptrace's GotConn, and compare
//     after the failure. Exact for HTTP/1.1 (one request per connection at
//     a time); for HTTP/2 other streams' writes make it conservative.
//   - httptrace.ClientTrace.WroteHeaders: it fires once the whole request
//     head has been handed to the connection's buffer, which is no later
//     than a complete head can reach the server; before it, a server may
//     have seen part of a head but cannot have acted on it. Conservative:
//     it usually fires before anything is flushed.
//
// "The body was not consumed" is NOT enough: a bodiless POST is written
// in full without its (empty) body ever being read.
//
// Requeueable is true for:
//
//   - connection refused (syscall.ECONNREFUSED) and every dial error
//     (*net.OpError with Op "dial": refused, unreachable, DNS failure,
//     connect timeout). No connection, no request.
//
//   - HTTP/2 RST_STREAM or stream error REFUSED_STREAM
//     ([http2.StreamError]; net/http's bundled copy converts to it via
//     errors.As): RFC 9113 §8.7 guarantees no processing.
//
//   - HTTP/2 [http2.GoAwayError] with LastStreamID 0: the server processed
//     no stream of that connection (RFC 9113 §6.8). A GoAwayError does not
//     carry the failed stream's id and the transports hand it only to
//     streams at or below LastStreamID, which the server may have
//     processed; so any other LastStreamID is false. Streams above it fail
//     with the transport's "graceful shutdown GOAWAY" error instead (next
//     item).
//
//   - Errors that Go's transports define unexported and use only for
//     requests no server saw, recognised by their exact text at the end of
//     the error chain (errors.Is cannot reach them): net/http's "http:
//     server closed idle connection" (the server closed the connection
//     before the transport handed it our request; http.Transport retries
//     it itself only for idempotent methods), and golang.org/x/net/http2's
//     (or net/http's bundled) "received Server's graceful shutdown
//     GOAWAY", "received GOAWAY from server ErrCode:…" (the stream is above
//     LastStreamID), "client conn not usable" and "client conn could not
//     be established" (no stream was opened). The tests provoke the GOAWAY
//     texts, and usually the idle-connection one, from the real transports
//     of Go 1.26 and x/net 0.62, so an upgrade that changes them fails
//     there, not in production.
//
//   - When requestWritten is false: the connection was lost — io.EOF,
//     io.ErrUnexpectedEOF, ECONNRESET, EPIPE, ECONNABORTED, net.ErrClosed.
//     This is the pooled connection that died while idle (a Lambda thaw,
//     a NAT or keep-alive timeout): http.Transport retries it by itself
//     only when the body can be rewound, and otherwise returns the bare
//     read or write error, having dropped its own "nothing written" mark.
//     With bytes written, the same errors are ambiguous — the server may
//     have acted before it failed — and Requeueable is false.
//
//   - An error that says so itself: one with an Unprocessed() bool method
//     that returns true (Unprocessed), such as a transport's answer that
//     the service refused the call before running it (a Lambda
//     function's throttling, TooManyRequestsException).
//
// It is false for nil, for a cancelled request (context.Canceled: the
// caller is gone), for TLS handshake failures (they repeat), and for
// anything else, timeouts after the dial included.
//
// From Go 1.27, golang.org/x/net/http2 wraps net/http's HTTP/2 instead of
// carrying its own; the tests will tell whether these errors survive.
func Requeueable(err error, requestWritten bool) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if u, ok := errors.AsType[Unprocessed](err); ok && u.Unprocessed() {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	if se, ok := errors.AsType[http2.StreamError](err); ok {
		return se.Code == http2.ErrCodeRefusedStream
	}
	if ga, ok := errors.AsType[http2.GoAwayError](err); ok {
		return ga.LastStreamID == 0
	}
	if unprocessedByTransport(err) {
		return true
	}
	return !requestWritten && ConnectionLost(err)
}

// unprocessedByTransport reports whether the innermost error of err's
// chain is one of the unexported errors with which net/http and
// golang.org/x/net/http2 fail requests that never reached a server. They
// cannot be matched with errors.Is, hence the text; they are leaves made
// by errors.New or fmt.Errorf without %w.
func unprocessedByTransport(err error) bool {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	switch msg := err.Error(); msg {
	case "http: server closed idle connection", // net/http errServerClosedIdle
		"http2: Transport received Server's graceful shutdown GOAWAY", // errClientConnGotGoAway
		"http2: client conn not usable",                               // errClientConnUnusable
		"http2: client conn could not be established":                 // errClientConnNotEstablished
		return true
	default:
		// The first stream of a connection above a non-NO_ERROR GOAWAY's
		// LastStreamID (x/net http2 setGoAway).
		return strings.HasPrefix(msg, "http2: Transport received GOAWAY from server ErrCode:")
	}
}

// ConnectionLost reports whether err says the connection broke: io.EOF,
// io.ErrUnexpectedEOF, ECONNRESET, EPIPE, ECONNABORTED or net.ErrClosed,
// anywhere in its chain.
func ConnectionLost(err error) bool {
	return errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, net.ErrClosed)
}

// CountingConn is a net.Conn that counts the bytes written through it, so
// that a proxy can tell whether an attempt wrote anything (the
// requestWritten argument of [Requeueable]). Wrap the conn in the
// transport's DialContext; in httptrace's GotConn, find it again
// (GotConnInfo.Conn, or its NetConn() under TLS) and note Written(); after
// a failure, the request was written if Written() grew.
//
// It deliberately hides the wrapped conn's optional interfaces
// (io.ReaderFrom, CloseWrite), so that every byte passes through Write.
type CountingConn struct {
	net.Conn
	written atomic.Int64
}

// NewCountingConn wraps c.
func NewCountingConn(c net.Conn) *CountingConn { return &CountingConn{Conn: c} }

// Write writes p to the wrapped conn and counts the bytes written.
func (c *CountingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// Written returns the number of bytes written so far.
func (c *CountingConn) Written() int64 { return c.written.Load() }

var _ net.Conn = (*CountingConn)(nil)
