package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/adapters/lambda"
)

func newRouter(t *testing.T, env map[string]string, opts ...lambda.RouterOption) *lambda.Router {
	t.Helper()
	r, err := lambda.NewRouter(loadConfig(t, env), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

func TestRouterRoutesByHost(t *testing.T) {
	be := newBackend(t)
	r := newRouter(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)},
		lambda.WithMetrics(nil))
	c := r.Client()

	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
		wantErr    bool // l5d-err set
	}{
		{name: "http URL names the service", url: "http://users/profile", wantStatus: 200, wantBody: "hello from users"},
		{name: "https URL is routed the same", url: "https://users/profile", wantStatus: 200, wantBody: "hello from users"},
		{name: "port is not part of the name", url: "http://users:8080/", wantStatus: 200, wantBody: "hello from users:8080"},
		{name: "unknown service", url: "http://orders/", wantStatus: 502, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Get(tt.url)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantErr {
				assert.NotEmpty(t, resp.Header.Get("L5d-Err"))
				return
			}
			assert.Equal(t, tt.wantBody, string(b))
			assert.Equal(t, "/svc/users", resp.Header.Get("X-Seen-Dst-Service"))
		})
	}
}

func TestRouterPropagatesDeadlineAndTrace(t *testing.T) {
	be := newBackend(t)
	r := newRouter(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)},
		lambda.WithMetrics(nil))
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	//lint:ignore SA1029 aws-lambda-go stores the trace id under this plain string key
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-65a0b1c2-0123456789abcdef01234567;Sampled=1")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://users/", nil)
	require.NoError(t, err)
	resp, err := r.Client().Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	fields := strings.Fields(resp.Header.Get("X-Seen-Deadline"))
	require.Len(t, fields, 2, "l5d-ctx-deadline %q", resp.Header.Get("X-Seen-Deadline"))
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	require.NoError(t, err)
	assert.WithinDuration(t, deadline, time.Unix(0, ns), time.Millisecond, "the backend gets the invocation's deadline")
	assert.Equal(t, "Root=1-65a0b1c2-0123456789abcdef01234567;Sampled=1", resp.Header.Get("X-Seen-Trace"))
}

// TestRouterWrapsAWSLambdaHandler runs a real aws-lambda-go handler,
// wrapped, the way lambda.StartHandler would invoke it.
func TestRouterWrapsAWSLambdaHandler(t *testing.T) {
	be := newBackend(t)
	metrics := &syncBuffer{}
	r := newRouter(t, map[string]string{
		"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
		"SLINKERD_LAMBDA_THAW_GAP": "0",
	}, lambda.WithMetrics(metrics))
	type in struct {
		Service string `json:"service"`
	}
	type out struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	fn := func(ctx context.Context, ev in) (out, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ev.Service+"/", nil)
		if err != nil {
			return out{}, err
		}
		resp, err := r.Client().Do(req)
		if err != nil {
			return out{}, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return out{Status: resp.StatusCode, Body: string(b)}, err
	}
	var h awslambda.Handler = r.Wrap(awslambda.NewHandler(fn))

	for i := range 2 {
		payload, err := h.Invoke(context.Background(), []byte(`{"service":"users"}`))
		require.NoError(t, err)
		var got out
		require.NoError(t, json.Unmarshal(payload, &got))
		assert.Equal(t, out{Status: 200, Body: "hello from users"}, got, "invocation %d", i)
	}
	assert.Equal(t, int64(2), be.conns.Load(), "SLINKERD_LAMBDA_THAW_GAP=0 closes pooled connections before each invocation")
	assert.Equal(t, 2, strings.Count(metrics.String(), `"_aws"`), "one EMF line per invocation:\n%s", metrics.String())

	// The typed wrapper, the shape lambda.Start takes.
	typed := lambda.Handle(r, fn)
	got, err := typed(context.Background(), in{Service: "users"})
	require.NoError(t, err)
	assert.Equal(t, 200, got.Status)
}
