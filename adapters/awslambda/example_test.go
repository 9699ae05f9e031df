package awslambda_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/awslambda"
)

// usersService starts a local service standing for the one a function
// calls, and returns the environment of a Lambda function whose dtab
// names it /svc/users.
func usersService() (env map[string]string, stop func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	return map[string]string{
		"AWS_LAMBDA_RUNTIME_API":   "127.0.0.1:9001", // set by Lambda
		"AWS_LAMBDA_FUNCTION_NAME": "orders-fn",
		"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", port),
	}, srv.Close
}

// get calls url through c with the invocation's context, so that the
// call carries the invocation's deadline and trace.
func get(ctx context.Context, c *slinkerd.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode, " ", string(b)), err
}

// Handle wraps the typed handler a function gives lambda.Start. Here
// the wrapped handler is called as lambda.Start would call it; the
// metrics of each invocation are written after it as one EMF line (to
// os.Stdout, and so to CloudWatch Logs, unless WithMetrics says
// otherwise).
func ExampleHandle() {
	env, stop := usersService()
	defer stop()
	var metrics bytes.Buffer
	c, err := slinkerd.New(slinkerd.WithEnv(env), slinkerd.WithMetrics(&metrics))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	type Event struct{ Service string }
	handler := awslambda.Handle(c, func(ctx context.Context, ev Event) (string, error) {
		return get(ctx, c, "http://"+ev.Service+"/")
	})
	// In main: lambda.Start(handler)

	out, err := handler(context.Background(), Event{Service: "users"})
	fmt.Println(out, err)
	fmt.Println("EMF lines:", strings.Count(metrics.String(), `"_aws"`))
	// Output:
	// 200 hello from users <nil>
	// EMF lines: 1
}

// Wrap wraps an aws-lambda-go lambda.Handler, for lambda.StartHandler.
// Here it is invoked with a JSON payload, as the Lambda runtime would.
func ExampleWrap() {
	env, stop := usersService()
	defer stop()
	c, err := slinkerd.New(slinkerd.WithEnv(env), slinkerd.WithMetrics(nil))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	type Event struct {
		Service string `json:"service"`
	}
	fn := func(ctx context.Context, ev Event) (string, error) {
		return get(ctx, c, "http://"+ev.Service+"/")
	}
	h := awslambda.Wrap(c, lambda.NewHandler(fn))
	// In main: lambda.StartHandler(h)

	payload, err := h.Invoke(context.Background(), []byte(`{"service":"users"}`))
	fmt.Println(string(payload), err)
	// Output:
	// "200 hello from users" <nil>
}
