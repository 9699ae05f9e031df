//go:build unix

package h1client

import (
	"net"
	"syscall"
)

// ConnAlive says whether an idle keep-alive connection is still open: a
// non-blocking peek finds no data and no end of stream. An idle HTTP/1.1
// connection has nothing to read, so data there is as bad as a close.
func ConnAlive(c net.Conn) bool {
	var l liveness
	l.init(c)
	return l.check()
}

// liveness is ConnAlive for one connection checked on every reuse: the
// raw connection and the peek are set up once, so a check allocates
// nothing.
type liveness struct {
	raw   syscall.RawConn // nil: cannot peek, taken as alive
	peekf func(fd uintptr) bool
	alive bool
	b     [1]byte
}

func (l *liveness) init(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			l.raw = raw
		}
	}
	l.peekf = l.peek
}

func (l *liveness) peek(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), l.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	l.alive = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true // never wait
}

// check says whether the connection is open with nothing to read.
func (l *liveness) check() bool {
	if l.raw == nil {
		return true
	}
	l.alive = false
	return l.raw.Read(l.peekf) == nil && l.alive
}
