package retry_test

import (
	"net"
	"testing"
	"runtime"

	"golang.org/x/net/http2"
)

var keep []any

func TestZZLeak(t *testing.T) {
	ln := listen(t)
	go func() { c, _ := ln.Accept(); keep = append(keep, c) }()
	c, _ := net.Dial("tcp", ln.Addr().String())
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(c)
	keep = append(keep, cc)
	t.Log(err)
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Log(string(buf))
}
