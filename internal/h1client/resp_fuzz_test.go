package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// respMethods are the request methods an input's first byte picks from.
var respMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// respSeeds are tricky response framings; the fuzz test reads each for
// every method of respMethods.
var respSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T, grpc-status\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nGrpc-Status: 0\r\nX-Other: 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\nleft",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\nrest",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\nX-Tag: lf\nContent-Length: 5\n\nhello",
	"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Bad : a\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nx-lower-case: a\r\nSET-COOKIE: a=1\r\nset-cookie: b=2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1  200 OK\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
	"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\nffffffffffffffff\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
}

// FuzzH1ResponseParse is a differential test of the direct client's
// response reader against net/http's http.ReadResponse, for the same
// request method (the input's first byte picks it; the rest is the
// response). Where net/http refuses, ours must refuse; ours may refuse
// more, but only for what h1resp.go names as stricter. Where both accept,
// the status, headers, ContentLength, TransferEncoding, Close, the
// trailer, the body's bytes to their end and where the response ends in
// the stream must agree.
//
//	go test -run '^$' -fuzz '^FuzzH1ResponseParse$' -fuzztime 10m -fuzzminimizetime 0 ./internal/proxy/
func FuzzH1ResponseParse(f *testing.F) {
	for _, s := range respSeeds {
		for m := range respMethods {
			f.Add(append([]byte{byte(m)}, s...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		compareResponseParse(t, respMethods[int(in[0])%len(respMethods)], in[1:])
	})
}

// respOutcome is what a reader made of one response stream.
type respOutcome struct {
	resp    *http.Response
	headErr error
	trailer http.Header // Trailer before the body is read
	body    []byte
	bodyErr error
	left    int // bytes of the stream not consumed
}

func parseWith(raw []byte, method string, ours bool) respOutcome {
	req := &http.Request{Method: method}
	src := bytes.NewReader(raw)
	br := bufio.NewReaderSize(src, 4096)
	var o respOutcome
	if ours {
		var p respParser
		o.resp, o.headErr = p.readResponse(br, req)
	} else {
		o.resp, o.headErr = http.ReadResponse(br, req)
	}
	if o.headErr != nil {
		return o
	}
	o.trailer = o.resp.Trailer.Clone()
	o.body, o.bodyErr = io.ReadAll(o.resp.Body)
	_ = o.resp.Body.Close()
	o.left = br.Buffered() + src.Len()
	return o
}

// stricter lists what our reader refuses and net/http takes, by the
// words of our error.
var stricter = []string{
	"status line", "obs-fold", "CR inside", "trailer line not ended by CRLF",
	"trailer field name",
}

func isStricter(err error) bool {
	for _, s := range stricter {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// compareResponseParse fails t where our reader and net/http's disagree
// on raw, read for a request of method.
func compareResponseParse(t *testing.T, method string, raw []byte) {
	t.Helper()
	want := parseWith(raw, method, false)
	got := parseWith(raw, method, true)
	if want.headErr != nil {
		if got.headErr == nil {
			t.Fatalf("net/http refuses the head (%v), ours takes it: %q", want.headErr, raw)
		}
		return
	}
	if got.headErr != nil {
		if !isStricter(got.headErr) {
			t.Fatalf("ours refuses a head net/http takes, for no stricter rule: %v: %q", got.headErr, raw)
		}
		return
	}
	w, g := want.resp, got.resp
	type head struct {
		Status                 string
		StatusCode             int
		Proto                  string
		ProtoMajor, ProtoMinor int
		Header                 http.Header
		ContentLength          int64
		TransferEncoding       []string
		Close                  bool
		Uncompressed           bool
		NoBody                 bool
		Trailer                http.Header
		Request                *http.Request
	}
	wh := head{w.Status, w.StatusCode, w.Proto, w.ProtoMajor, w.ProtoMinor, w.Header, w.ContentLength,
		w.TransferEncoding, w.Close, w.Uncompressed, w.Body == http.NoBody, want.trailer, w.Request}
	gh := head{g.Status, g.StatusCode, g.Proto, g.ProtoMajor, g.ProtoMinor, g.Header, g.ContentLength,
		g.TransferEncoding, g.Close, g.Uncompressed, g.Body == http.NoBody, got.trailer, g.Request}
	if !reflect.DeepEqual(wh, gh) {
		t.Fatalf("heads differ for %q:\nnet/http %+v\nours     %+v", raw, wh, gh)
	}
	switch {
	case want.bodyErr != nil && got.bodyErr == nil:
		t.Fatalf("net/http fails the body (%v), ours reads %q to its end: %q", want.bodyErr, got.body, raw)
	case want.bodyErr == nil && got.bodyErr != nil:
		if !isStricter(got.bodyErr) {
			t.Fatalf("ours fails a body net/http reads, for no stricter rule: %v: %q", got.bodyErr, raw)
		}
		return
	}
	if !bytes.Equal(want.body, got.body) {
		t.Fatalf("bodies differ for %q (errors %v, %v):\nnet/http %q\nours     %q", raw, want.bodyErr, got.bodyErr, want.body, got.body)
	}
	if want.bodyErr != nil {
		return
	}
	if !reflect.DeepEqual(w.Trailer, g.Trailer) {
		t.Fatalf("trailers differ for %q:\nnet/http %v\nours     %v", raw, w.Trailer, g.Trailer)
	}
	if want.left != got.left {
		t.Fatalf("the response ends at different places in %q: net/http leaves %d bytes, ours %d", raw, want.left, got.left)
	}
}
