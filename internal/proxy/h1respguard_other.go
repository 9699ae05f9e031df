//go:build !linux

package proxy

import "net"

// recvCounter cannot ask the kernel here: bytes an origin sends on an
// idle connection are then found only when the Transport reads them.
type recvCounter struct{}

func newRecvCounter(net.Conn) *recvCounter { return nil }

func (*recvCounter) received() (uint64, bool) { return 0, false }
