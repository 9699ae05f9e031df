//go:build !unix

package h1client

import "net"

// ConnAlive cannot peek here; a closed connection is found on use.
func ConnAlive(net.Conn) bool { return true }

// liveness cannot peek here either.
type liveness struct{}

func (*liveness) init(net.Conn) {}

func (*liveness) check() bool { return true }
