package retry_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/core/retry"
)

// teapot retries 418 and otherwise classifies as the default
// classifier does.
var teapot = retry.ClassifierFunc(func(r retry.Response) retry.Class {
	if r.Err == nil && r.Status == http.StatusTeapot {
		return retry.RetryableFailure
	}
	return retry.NonRetryable5XX.Classify(r)
})

// A program registers its classifiers from an init function.
func init() { retry.RegisterClassifier("example.teapot", teapot) }

// RegisterClassifier adds a classifier that SLINKERD_CLASSIFIER and the
// classifier key of SLINKERD_SVC_POLICY can name. Here /svc/pot's policy
// names it, and a slinkerd.Client retries the pot's first answer, 418.
func ExampleRegisterClassifier() {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		fmt.Fprint(w, "coffee")
	}))
	defer srv.Close()

	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"SLINKERD_DTAB":       fmt.Sprintf("/svc/pot=>/$/inet/127.0.0.1/%d", srv.Listener.Addr().(*net.TCPAddr).Port),
		"SLINKERD_SVC_POLICY": "/svc/pot=classifier:example.teapot",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	resp, err := c.HTTPClient().Post("http://pot/brew", "text/plain", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(b))
	fmt.Println("calls to the pot:", calls.Load())
	// Output:
	// 200 coffee
	// calls to the pot: 2
}
