package slinkerd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/slinkerd/slinkerd"
)

// usersService starts a local service that answers with the Host it was
// called by and the traceparent it was sent, and returns the dtab that
// names it /svc/users.
func usersService() (dtab string, stop func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("Traceparent"); tp != "" {
			fmt.Fprintf(w, "users saw traceparent %s", tp)
			return
		}
		fmt.Fprintf(w, "hello from %s%s", r.Host, r.URL.Path)
	}))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port), srv.Close
}

// printResponse prints a response's status and body.
func printResponse(resp *http.Response, err error) {
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
}

// A Client routes a program's calls by their host: http://users/… is
// /svc/users, bound through the dtab.
func ExampleNew() {
	dtab, stop := usersService() // /svc/users=>/$/inet/127.0.0.1/<port>
	defer stop()

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": dtab}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	printResponse(c.HTTPClient().Get("http://users/profile"))
	// Output:
	// 200 hello from users/profile
}

// HTTPClient gives any code that takes an *http.Client the Client's
// routing; a per-call deadline comes from the request's context.
func ExampleClient_HTTPClient() {
	dtab, stop := usersService()
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": dtab}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	hc := c.HTTPClient()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://users/settings", nil)
	printResponse(hc.Do(req)) // https is routed the same way; TLS to the endpoint is the namer's
	// Output:
	// 200 hello from users/settings
}

// WithEnv configures a Client from a map of SLINKERD_* variables instead
// of the process's environment. A name the dtab does not bind fails with
// 502 and says why in l5d-err.
func ExampleWithEnv() {
	dtab, stop := usersService()
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":       dtab,
		"SLINKERD_DST_PREFIX": "/svc", // the default: http://users/ is /svc/users
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	printResponse(c.HTTPClient().Get("http://users/"))
	resp, err := c.HTTPClient().Get("http://orders/")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.Contains(resp.Header.Get("L5d-Err"), "/svc/orders"))

	// A bad variable fails New, naming it.
	_, err = slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": "/svc=>"}))
	fmt.Println(err != nil && strings.Contains(err.Error(), "SLINKERD_DTAB"))
	// Output:
	// 200 hello from users/
	// 502 true
	// true
}

// Handler wraps a server's handler so that the calls it makes with its
// request's context join the caller's trace.
func ExampleHandler() {
	dtab, stop := usersService()
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": dtab}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	h := slinkerd.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://users/", nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	}))

	// An incoming request, as a server would get it.
	rec := httptest.NewRecorder()
	in := httptest.NewRequest(http.MethodGet, "/", nil)
	in.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(rec, in)
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 200 users saw traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// ContextWithTrace carries an incoming request's trace headers in a
// context, for code that is not an http.Handler (a queue consumer, a
// Lambda function triggered by an event).
func ExampleContextWithTrace() {
	dtab, stop := usersService()
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{"SLINKERD_DTAB": dtab}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	incoming := http.Header{}
	incoming.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx := slinkerd.ContextWithTrace(context.Background(), incoming)

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://users/", nil)
	printResponse(c.HTTPClient().Do(req))
	// Output:
	// 200 users saw traceparent 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
}
