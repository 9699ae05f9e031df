package httpserve_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/httpserve"
)

// Run serves a service whose handler calls /svc/users through a Client,
// until its context ends (or SIGTERM); then it drains and closes the
// Client.
func ExampleRun() {
	usersSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from users")
	}))
	defer usersSrv.Close()
	port := usersSrv.Listener.Addr().(*net.TCPAddr).Port

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port)}))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://users/", nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	})

	// Usually: httpserve.Run(context.Background(), c, mux), on :$PORT.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Run(ctx, c, mux, httpserve.WithListener(ln), httpserve.WithLogger(slog.New(slog.DiscardHandler)))
	}()

	resp, err := http.Get("http://" + ln.Addr().String() + "/profile")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	fmt.Println(resp.StatusCode, string(b))

	stop()
	fmt.Println("Run returned:", <-done)
	// Output:
	// 200 hello from users
	// Run returned: <nil>
}
