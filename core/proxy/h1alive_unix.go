//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// connAlive says whether an idle keep-alive connection is still open: a
// non-blocking peek finds no data and no end of stream. An idle HTTP/1.1
// connection has nothing to read, so data there is as bad as a close.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait
	})
	return err == nil && alive
}
