// Command barestack is slinkerd's own HTTP/1.1 server loop
// (internal/h1) and client (internal/h1client) joined by the smallest
// handler that forwards: no routing, no naming, no balancer, no retries,
// no metrics, no header rewriting. It sits between test/bench/bareproxy
// (Go's floor: bufio on both sides, nothing parsed) and slinkerd, so
// that the bench can split slinkerd's cost per request into what its
// server and client cost (http.Request, http.Header maps, framing,
// timeouts, the connection pool and its checks) and what its routing and
// policy cost on top. It is for the benchmark notes of
// docs/performance.md, not for use.
//
//	go run ./test/bench/barestack -listen 127.0.0.1:14145 -upstream 127.0.0.1:8080
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/internal/h1"
	"github.com/slinkerd/slinkerd/internal/h1client"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14145", "address to listen on")
	upstream := flag.String("upstream", "", "host:port of the HTTP/1.1 backend")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var d net.Dialer
	client := h1client.New(h1client.Config{Dial: d.DialContext, IdleTimeout: 90 * time.Second, MaxIdle: 1024, MaxHeader: 1 << 20})
	srv := h1.NewServer(h1.Config{Handler: &forwarder{client: client, addr: *upstream}})
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = srv.ServeConn(c) }()
	}
}

// forwarder sends each request on to addr as it came and copies the
// response back: the caller's header map is the outgoing one, and the
// response's fields are copied into the writer's.
type forwarder struct {
	client *h1client.Client
	addr   string
}

// scratch is one request's outgoing copy and copy buffer, pooled so
// that the forwarder itself allocates nothing.
type scratch struct {
	out http.Request
	buf [4096]byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := scratches.Get().(*scratch)
	defer scratches.Put(s)
	out := &s.out
	*out = *r
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, _, err := f.client.RoundTrip(r.Context(), out, f.addr, nil, 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	wh := w.Header()
	for k, vv := range resp.Header {
		wh[k] = vv
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.CopyBuffer(writerOnly{w}, resp.Body, s.buf[:]); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// writerOnly hides w's ReadFrom, so that io.CopyBuffer uses the buffer.
type writerOnly struct{ w http.ResponseWriter }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }
