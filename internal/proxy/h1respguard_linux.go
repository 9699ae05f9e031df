//go:build linux

package proxy

import (
	"encoding/binary"
	"net"
	"syscall"
	"unsafe"
)

// tcpiBytesReceived is the offset of tcpi_bytes_received in Linux's
// struct tcp_info (include/uapi/linux/tcp.h, since Linux 4.1). The struct
// only ever grows at its end, and every field before this one is
// naturally aligned, so the offset is the same on every architecture.
const tcpiBytesReceived = 128

// recvCounter asks the kernel how many bytes of data a TCP connection has
// received, in order, since it was opened. It is set up once per
// connection, so that asking allocates nothing, and it takes no read
// lock: it may run while another goroutine is blocked reading.
type recvCounter struct {
	rc   syscall.RawConn
	fn   func(fd uintptr)
	info [256]byte
	n    uint64
	ok   bool
}

// newRecvCounter returns nil when c is not a socket it can ask about.
func newRecvCounter(c net.Conn) *recvCounter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &recvCounter{rc: rc}
	r.fn = func(fd uintptr) {
		l := uint32(len(r.info))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&r.info[0])), uintptr(unsafe.Pointer(&l)), 0)
		r.ok = errno == 0 && l >= tcpiBytesReceived+8
		if r.ok {
			r.n = binary.NativeEndian.Uint64(r.info[tcpiBytesReceived:])
		}
	}
	return r
}

// received returns the count, and whether the kernel told it. The caller
// serialises calls.
func (r *recvCounter) received() (uint64, bool) {
	if r == nil {
		return 0, false
	}
	r.ok = false
	if err := r.rc.Control(r.fn); err != nil {
		return 0, false
	}
	return r.n, r.ok
}
