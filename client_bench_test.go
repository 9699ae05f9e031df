package slinkerd_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/slinkerd/slinkerd"
)

// BenchmarkClientGET is what a call through the in-process Client costs
// beside the same call made directly (Direct): the difference is the
// proxy's work plus the in-memory hop, for docs/library.md.
//
//	go test -run '^$' -bench ClientGET -benchmem .
func BenchmarkClientGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port)}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	get := func(b *testing.B, hc *http.Client, url string) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := hc.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("Direct", func(b *testing.B) { get(b, srv.Client(), srv.URL) })
	b.Run("Client", func(b *testing.B) { get(b, c.HTTPClient(), "http://users/") })
}
