package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd"
	"github.com/slinkerd/slinkerd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "github.com/slinkerd/slinkerd", "net/http.(*persistConn)", "net/http.(*conn).serve")
}

// seen is what the backend was sent.
type seen struct {
	host, dstService, deadline, trace string
}

// startBackend starts the "users" service: it answers with the path it
// was asked for and reports each request's headers on the returned
// channel.
func startBackend(t *testing.T) (port int, requests <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{
			host:       r.Host,
			dstService: r.Header.Get("L5d-Dst-Service"),
			deadline:   r.Header.Get("L5d-Ctx-Deadline"),
			trace:      r.Header.Get("X-Amzn-Trace-Id"),
		}
		_, _ = io.WriteString(w, "users answered "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port, ch
}

// syncBuffer is a bytes.Buffer safe for the Client's Flush and the
// test's reads.
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

// newClient builds the Client as main does, from the environment a
// Lambda function has (given as a map), with /svc routed through the
// io.l5d.fs namer to a directory whose file "users" lists the backend.
func newClient(t *testing.T, port int, metrics *syncBuffer) *slinkerd.Client {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), fmt.Appendf(nil, "127.0.0.1 %d\n", port), 0o644))
	c, err := slinkerd.New(slinkerd.WithEnv(map[string]string{
		"AWS_LAMBDA_RUNTIME_API":   "127.0.0.1:9001",
		"AWS_LAMBDA_FUNCTION_NAME": "library-lambda",
		"SLINKERD_DTAB":            "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR":          dir,
	}), slinkerd.WithMetrics(metrics))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// TestInvoke invokes the function's handler the way aws-lambda-go does
// (lambda.NewHandler(...).Invoke with the invocation's context): the
// service named in the event is reached through the dtab and the fs
// namer, its answer is returned, the invocation's deadline and
// X-Amzn-Trace-Id reach it, and the invocation's metrics are written as
// EMF after it.
func TestInvoke(t *testing.T) {
	port, requests := startBackend(t)
	metrics := &syncBuffer{}
	c := newClient(t, port, metrics)
	h := lambda.NewHandler(handler(c))

	const traceID = "Root=1-65a0b1c2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	//lint:ignore SA1029 aws-lambda-go stores the trace id under this plain string key
	ctx = context.WithValue(ctx, "x-amzn-trace-id", traceID)

	payload, err := h.Invoke(ctx, []byte(`{"service":"users","path":"/profile"}`))
	require.NoError(t, err)
	var got Result
	require.NoError(t, json.Unmarshal(payload, &got), "payload %s", payload)
	assert.Equal(t, Result{Status: http.StatusOK, Body: "users answered /profile"}, got)

	var s seen
	select {
	case s = <-requests:
	default:
		t.Fatal("the backend got no request")
	}
	assert.Equal(t, "users", s.host)
	assert.Equal(t, "/svc/users", s.dstService)
	assert.Equal(t, traceID, s.trace, "the invocation's X-Amzn-Trace-Id")
	fields := strings.Fields(s.deadline)
	require.Len(t, fields, 2, "l5d-ctx-deadline %q", s.deadline)
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	require.NoError(t, err)
	assert.WithinDuration(t, deadline, time.Unix(0, ns), time.Millisecond, "the invocation's deadline")

	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	require.Len(t, lines, 1, "one EMF line after the invocation:\n%s", metrics.String())
	var emf struct {
		AWS          json.RawMessage `json:"_aws"`
		FunctionName string
		Service      string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &emf))
	assert.NotEmpty(t, emf.AWS)
	assert.Equal(t, "library-lambda", emf.FunctionName)
	assert.Equal(t, "/svc/users", emf.Service)
}

// TestInvokeErrors: an event without a service fails the invocation; a
// service the dtab cannot route is slinkerd's 502, returned as the
// answer.
func TestInvokeErrors(t *testing.T) {
	port, _ := startBackend(t)
	c := newClient(t, port, &syncBuffer{})
	h := lambda.NewHandler(handler(c))
	tests := []struct {
		name       string
		event      string
		wantErr    string
		wantStatus int
	}{
		{name: "no service", event: `{}`, wantErr: errNoService.Error()},
		{name: "unknown service", event: `{"service":"orders"}`, wantStatus: http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			payload, err := h.Invoke(ctx, []byte(tt.event))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			var got Result
			require.NoError(t, json.Unmarshal(payload, &got))
			assert.Equal(t, tt.wantStatus, got.Status, "body %q", got.Body)
		})
	}
}
