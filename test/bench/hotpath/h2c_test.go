package hotpath_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// startH2CBackend serves h2c with prior knowledge (and HTTP/1.1) and
// answers every request with 2 bytes.
func startH2CBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	ok := []byte("ok")
	srv := &http.Server{Protocols: protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(ok)
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// h2cClient is an HTTP/2 client with prior knowledge over one connection.
func h2cClient(tb testing.TB) *http.Client {
	tb.Helper()
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protos, MaxConnsPerHost: 1}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h2cGet sends one GET with Host bench and reads the body.
func h2cGet(tb testing.TB, c *http.Client, req *http.Request) {
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("status %d, l5d-err %q", resp.StatusCode, resp.Header.Get("l5d-err"))
	}
}

// BenchmarkProxyH2C is one proxied h2c request at a time over one
// HTTP/2 connection, caller to slinkerd to backend (slinkerd forwards
// HTTP/2 callers over h2c). The client and backend are Go's, which
// allocate; the same number of direct requests is measured first and
// subtracted, as in BenchmarkProxyHTTP1.
func BenchmarkProxyH2C(b *testing.B) {
	be := startH2CBackend(b)
	addr := startSlinkerd(b, be)
	newReq := func(target string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, "http://"+target+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = "bench"
		return req
	}
	pc, dc := h2cClient(b), h2cClient(b)
	preq, dreq := newReq(addr), newReq(be)
	for range 100 {
		h2cGet(b, pc, preq)
		h2cGet(b, dc, dreq)
	}
	c0 := readCounters()
	for range b.N {
		h2cGet(b, dc, dreq)
	}
	c1 := readCounters()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h2cGet(b, pc, preq)
	}
	b.StopTimer()
	c2 := readCounters()
	reportPerRequest(b, b.N, c1.sub(c0), c2.sub(c1))
}
