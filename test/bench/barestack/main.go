// Command barestack is slinkerd's own servers (internal/h1's loop, and
// internal/h2 for callers that open with the HTTP/2 preface) and clients
// (internal/h1client, internal/h2client) joined by the smallest handler
// that forwards: HTTP/1.1 to HTTP/1.1, h2c and gRPC to h2c, with no
// routing, no naming, no balancer, no retries, no metrics, no header
// rewriting. It sits between Go's floors (test/bench/bareproxy,
// test/bench/bareh2) and slinkerd, so that the bench can split
// slinkerd's cost per request into what its servers and clients cost
// (http.Request, http.Header maps, framing, timeouts, the connection pool
// and its checks) and what its routing and policy cost on top. It is for
// the benchmark notes of docs/performance.md, not for use.
//
//	go run ./test/bench/barestack -listen 127.0.0.1:14145 -upstream 127.0.0.1:8080 -upstream-grpc 127.0.0.1:8081
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
	"github.com/slinkerd/slinkerd/internal/h2"
	"github.com/slinkerd/slinkerd/internal/h2client"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14145", "address to listen on")
	upstream := flag.String("upstream", "", "host:port of the HTTP/1.1 and h2c backend")
	upstreamGRPC := flag.String("upstream-grpc", "", "host:port of the gRPC backend, for requests to Host "+hostGRPC+" (default: -upstream)")
	flag.Parse()
	if *upstreamGRPC == "" {
		*upstreamGRPC = *upstream
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var d net.Dialer
	f := &forwarder{
		h1:       h1client.New(h1client.Config{Dial: d.DialContext, IdleTimeout: 90 * time.Second, MaxIdle: 1024, MaxHeader: 1 << 20}),
		h2:       h2client.New(h2client.Config{Dial: d.DialContext, IdleTimeout: 90 * time.Second}),
		addr:     *upstream,
		addrGRPC: *upstreamGRPC,
	}
	h2srv := h2.NewServer(h2.Config{Handler: f})
	srv := h1.NewServer(h1.Config{Handler: f, HTTP2: func(c net.Conn) { _ = h2srv.ServeConn(c) }})
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = srv.ServeConn(c) }()
	}
}

// hostGRPC is the Host (:authority) of the bench's gRPC requests.
const hostGRPC = "bench-grpc"

// forwarder sends each request on as it came, HTTP/1.1 by HTTP/1.1 and
// HTTP/2 by h2c, and copies the response back: the caller's header map
// is the outgoing one, and the response's fields are copied into the
// writer's.
type forwarder struct {
	h1             *h1client.Client
	h2             *h2client.Client
	addr, addrGRPC string
}

// scratch is one request's outgoing copy and copy buffer, pooled so
// that the forwarder itself allocates nothing but the outgoing copy of
// an HTTP/2 request with a body.
type scratch struct {
	out http.Request
	buf [4096]byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && !h1client.Eligible(r) {
		http.Error(w, "barestack forwards HTTP/1.1 requests without a body or with a small one of known length", http.StatusNotImplemented)
		return
	}
	s := scratches.Get().(*scratch)
	defer scratches.Put(s)
	out := &s.out
	if r.ProtoMajor == 2 && r.ContentLength != 0 {
		// The h2c client may read a request body, and so the request,
		// after its RoundTrip returned: such a request is not reused.
		out = new(http.Request)
	}
	*out = *r
	if r.ContentLength == 0 {
		out.Body = nil
	}
	var resp *http.Response
	var err error
	if r.ProtoMajor == 2 {
		addr := f.addr
		if r.Host == hostGRPC {
			addr = f.addrGRPC
		}
		resp, _, err = f.h2.RoundTrip(r.Context(), out, addr, nil, 0)
	} else {
		out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
		resp, _, err = f.h1.RoundTrip(r.Context(), out, f.addr, nil, 0)
	}
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
	if _, err := io.CopyBuffer(w, resp.Body, s.buf[:]); err != nil {
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		wh[http.TrailerPrefix+k] = vv // gRPC's status
	}
}
