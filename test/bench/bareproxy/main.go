// Command bareproxy is the floor of slinkerd's design, for the benchmark
// notes of docs/performance.md: an HTTP/1.1 forwarder in Go with one
// goroutine per caller connection, a bufio reader and writer on each side
// and one keep-alive upstream connection per caller connection, that
// does nothing else — no routing, no policy, no header rewriting, no
// safety checks, GET without bodies and Content-Length responses only.
// What it costs per request on a machine is what Go's network model
// costs for a proxy; it is not for use.
//
//	go run ./test/bench/bareproxy -listen 127.0.0.1:14142 -upstream 127.0.0.1:8080
package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14142", "address to listen on")
	upstream := flag.String("upstream", "", "host:port of the HTTP/1.1 backend")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, *upstream)
	}
}

var clPrefix = []byte("content-length:")

// copyHead copies one message head from r to w and returns its
// Content-Length (0 if none).
func copyHead(r *bufio.Reader, w *bufio.Writer) (int, error) {
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if _, err := w.Write(line); err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			return n, nil
		}
		if len(line) > len(clPrefix) && bytes.EqualFold(line[:len(clPrefix)], clPrefix) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(clPrefix):])))
		}
	}
}

func serve(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	cr, cw := bufio.NewReader(c), bufio.NewWriter(c)
	ur, uw := bufio.NewReader(u), bufio.NewWriter(u)
	for {
		if _, err := copyHead(cr, uw); err != nil {
			return
		}
		if uw.Flush() != nil {
			return
		}
		n, err := copyHead(ur, cw)
		if err != nil {
			return
		}
		if _, err := io.CopyN(cw, ur, int64(n)); err != nil {
			return
		}
		if cw.Flush() != nil {
			return
		}
	}
}
