package app

import (
	"context"
	"net"
	"sync"
)

// MemListener is a net.Listener whose connections are in-memory pipes
// made by DialContext: the in-process client (the root package) serves
// the proxy on it, so a program routes through slinkerd with no port and
// no extra process.
type MemListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewMemListener returns a listener ready to Accept.
func NewMemListener() *MemListener {
	return &MemListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// loopback is the address both ends of a pipe report: the caller is in
// the same process, and the proxy's Forwarded and X-Forwarded-For need
// an IP address.
var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

// memConn is one end of a pipe with loopback addresses.
type memConn struct{ net.Conn }

// LocalAddr implements net.Conn.
func (memConn) LocalAddr() net.Addr { return loopback }

// RemoteAddr implements net.Conn.
func (memConn) RemoteAddr() net.Addr { return loopback }

// Accept implements net.Listener.
func (l *MemListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; pipes already accepted stay open.
func (l *MemListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *MemListener) Addr() net.Addr { return loopback }

// DialContext returns the client end of a new pipe whose server end the
// listener accepts. network and address are ignored: there is one server.
func (l *MemListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- memConn{server}:
		return memConn{client}, nil
	case <-l.done:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, &net.OpError{Op: "dial", Net: "pipe", Err: net.ErrClosed}
}

var _ net.Listener = (*MemListener)(nil)
