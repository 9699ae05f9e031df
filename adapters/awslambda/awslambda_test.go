package awslambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awslambdaSDK "github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/adapters/awslambda"
)

// backend is an origin that echoes what slinkerd sent it, counting the
// connections it accepted.
type backend struct {
	conns atomic.Int64
	port  int
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Dst-Service", r.Header.Get("L5d-Dst-Service"))
		w.Header().Set("X-Seen-Deadline", r.Header.Get("L5d-Ctx-Deadline"))
		w.Header().Set("X-Seen-Trace", r.Header.Get("X-Amzn-Trace-Id"))
		_, _ = io.WriteString(w, "hello from "+r.Host)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	b.port = srv.Listener.Addr().(*net.TCPAddr).Port
	return b
}

// lambdaEnv is what Lambda sets in a classic function's environment,
// plus env.
func lambdaEnv(env map[string]string) map[string]string {
	out := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":   "127.0.0.1:9001",
		"AWS_LAMBDA_FUNCTION_NAME": "orders-fn",
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func newClient(t *testing.T, env map[string]string, opts ...slinkerd.Option) *slinkerd.Client {
	t.Helper()
	c, err := slinkerd.New(append([]slinkerd.Option{slinkerd.WithEnv(lambdaEnv(env))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInvocationDeadlineAndTrace(t *testing.T) {
	be := newBackend(t)
	c := newClient(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)},
		slinkerd.WithMetrics(nil))
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	//lint:ignore SA1029 aws-lambda-go stores the trace id under this plain string key
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-65a0b1c2-0123456789abcdef01234567;Sampled=1")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://users/", nil)
	require.NoError(t, err)
	resp, err := c.HTTPClient().Do(req)
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
	assert.Equal(t, "/svc/users", resp.Header.Get("X-Seen-Dst-Service"))
}

// TestWrapsAWSLambdaHandler runs a real aws-lambda-go handler, wrapped,
// the way lambda.StartHandler would invoke it.
func TestWrapsAWSLambdaHandler(t *testing.T) {
	be := newBackend(t)
	metrics := &syncBuffer{}
	c := newClient(t, map[string]string{
		"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
		"SLINKERD_LAMBDA_THAW_GAP": "0",
	}, slinkerd.WithMetrics(metrics))
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
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			return out{}, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return out{Status: resp.StatusCode, Body: string(b)}, err
	}
	var h awslambda.Handler = awslambdaWrap(c, fn)

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
	typed := awslambda.Handle(c, fn)
	got, err := typed(context.Background(), in{Service: "users"})
	require.NoError(t, err)
	assert.Equal(t, 200, got.Status)
}

// awslambdaWrap wraps fn as lambda.StartHandler would get it.
func awslambdaWrap[TIn, TOut any](c *slinkerd.Client, fn func(context.Context, TIn) (TOut, error)) awslambda.Handler {
	return awslambda.Wrap(c, awslambdaNewHandler(fn))
}

func awslambdaNewHandler[TIn, TOut any](fn func(context.Context, TIn) (TOut, error)) awslambda.Handler {
	return awslambdaSDK.NewHandler(fn)
}

// TestManagedInstancesKeepPool: no pooled connection is closed for a gap
// on Lambda Managed Instances, where nothing is frozen and other
// invocations are using the pool, even with SLINKERD_LAMBDA_THAW_GAP=0,
// which closes them at every invocation of classic Lambda.
func TestManagedInstancesKeepPool(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantConns int64
	}{
		{name: "classic closes after the gap", wantConns: 2},
		{name: "managed instances keep the pool", env: map[string]string{
			"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
			"AWS_LAMBDA_MAX_CONCURRENCY":     "64",
		}, wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newBackend(t)
			env := map[string]string{
				"SLINKERD_DTAB":            fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
				"SLINKERD_LAMBDA_THAW_GAP": "0",
			}
			for k, v := range tt.env {
				env[k] = v
			}
			c := newClient(t, env, slinkerd.WithMetrics(nil))
			get := func() {
				resp, err := c.HTTPClient().Get("http://users/")
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			c.Refresh(context.Background())
			get()
			c.Refresh(context.Background())
			get()
			assert.Equal(t, tt.wantConns, be.conns.Load(), "connections the backend accepted")
		})
	}
}

// TestEMFNamespaceAndDimensions: the invocation's metrics are written
// after it with the configured namespace and dimensions, timestamped
// inside the invocation.
func TestEMFNamespaceAndDimensions(t *testing.T) {
	be := newBackend(t)
	metrics := &syncBuffer{}
	c := newClient(t, map[string]string{
		"SLINKERD_DTAB":           fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
		"SLINKERD_EMF_NAMESPACE":  "Acme/Mesh",
		"SLINKERD_EMF_DIMENSIONS": "Environment=prod",
	}, slinkerd.WithMetrics(metrics))
	var start time.Time
	h := awslambda.Wrap(c, awslambda.HandlerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
		start = time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://users/", nil)
		resp, err := c.HTTPClient().Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		return nil, err
	}))
	_, err := h.Invoke(context.Background(), nil)
	require.NoError(t, err)
	after := time.Now()

	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	require.Len(t, lines, 1, metrics.String())
	var doc struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string     `json:"Namespace"`
				Dimensions [][]string `json:"Dimensions"`
			} `json:"CloudWatchMetrics"`
		} `json:"_aws"`
		FunctionName, Service, Environment string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &doc))
	require.Len(t, doc.AWS.CloudWatchMetrics, 1)
	assert.Equal(t, "Acme/Mesh", doc.AWS.CloudWatchMetrics[0].Namespace)
	assert.Equal(t, [][]string{{"FunctionName", "Service", "Environment"}}, doc.AWS.CloudWatchMetrics[0].Dimensions)
	assert.Equal(t, "orders-fn", doc.FunctionName)
	assert.Equal(t, "/svc/users", doc.Service)
	assert.Equal(t, "prod", doc.Environment)
	ts := time.UnixMilli(doc.AWS.Timestamp)
	assert.False(t, ts.Before(start.Truncate(time.Millisecond)) || ts.After(after), "Timestamp %v inside the invocation (%v to %v)", ts, start, after)
}
