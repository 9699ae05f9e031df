package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/discovery/lambdafn"
	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/test/fakes/lambdastream"
)

// setup starts the fake Lambda API and a Transport whose real SDK client
// talks to it.
func setup(t *testing.T) (*lambdastream.Server, *lambdafn.Transport) {
	t.Helper()
	srv, err := lambdastream.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	client := lambdafn.NewClient(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	tr, err := lambdafn.New(lambdafn.Config{Client: client})
	require.NoError(t, err)
	return srv, tr
}

// request is a request to the endpoint of fn (qualifier qual, streamed or
// not), as the proxy sends it.
func request(ctx context.Context, fn, qual string, stream bool, method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequestWithContext(ctx, method, target, body)
	r.Host = "orders"
	r.URL.Scheme = "http"
	r.URL.Host = lambdafn.Address(fn, qual, stream).HostPort()
	return r
}

// roundTrip runs tr.RoundTrip(r) on its own goroutine.
func roundTrip(tr http.RoundTripper, r *http.Request) <-chan result {
	c := make(chan result, 1)
	go func() {
		resp, err := tr.RoundTrip(r)
		c <- result{resp, err}
	}()
	return c
}

type result struct {
	resp *http.Response
	err  error
}

func next(t *testing.T, srv *lambdastream.Server) *lambdastream.Invocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	inv, err := srv.Next(ctx)
	require.NoError(t, err)
	return inv
}

func wait(t *testing.T, c <-chan result) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the transport within 10s")
		return result{}
	}
}

func TestTransportInvoke(t *testing.T) {
	srv, tr := setup(t)
	r := request(t.Context(), "orders", "live", false, "POST", "/v1/orders?x=1", strings.NewReader(`{"n":1}`))
	r.Header.Set("Content-Type", "application/json")
	c := roundTrip(tr, r)

	inv := next(t, srv)
	assert.Equal(t, "orders", inv.Function)
	assert.Equal(t, "live", inv.Qualifier)
	assert.False(t, inv.Stream)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(inv.Event, &ev))
	assert.Equal(t, "/v1/orders", ev["rawPath"])
	assert.Equal(t, `{"n":1}`, ev["body"])
	inv.Reply(200, nil, []byte(`{"statusCode":201,"headers":{"x-a":"b"},"cookies":["s=1"],"body":"ok"}`))

	res := wait(t, c)
	require.NoError(t, res.err)
	assert.Equal(t, 201, res.resp.StatusCode)
	assert.Equal(t, "b", res.resp.Header.Get("X-A"))
	assert.Equal(t, "s=1", res.resp.Header.Get("Set-Cookie"))
	b, _ := io.ReadAll(res.resp.Body)
	assert.Equal(t, "ok", string(b))
}

func TestTransportFailures(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(*lambdastream.Invocation)
		status    int
		retryable bool
		msg       string
	}{
		{name: "function error", status: http.StatusBadGateway, msg: "failed with errorString (X-Amz-Function-Error: Unhandled): boom",
			answer: func(i *lambdastream.Invocation) {
				i.Reply(200, http.Header{"X-Amz-Function-Error": {"Unhandled"}}, []byte(`{"errorMessage":"boom","errorType":"errorString"}`))
			}},
		{name: "throttled", status: http.StatusTooManyRequests, retryable: true, msg: "throttled (TooManyRequestsException, ReservedFunctionConcurrentInvocationLimitExceeded)",
			answer: func(i *lambdastream.Invocation) { i.Throttle() }},
		{name: "no such function", status: http.StatusBadGateway, msg: "no function orders (ResourceNotFoundException)",
			answer: func(i *lambdastream.Invocation) {
				i.Reply(404, http.Header{"X-Amzn-Errortype": {"ResourceNotFoundException"}, "Content-Type": {"application/json"}},
					[]byte(`{"Type":"User","Message":"Function not found"}`))
			}},
		{name: "malformed answer", status: http.StatusBadGateway, msg: "malformed response",
			answer: func(i *lambdastream.Invocation) { i.Reply(200, nil, []byte(`{"statusCode":42}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tr := setup(t)
			c := roundTrip(tr, request(t.Context(), "orders", "", false, "GET", "/", nil))
			tt.answer(next(t, srv))
			res := wait(t, c)
			require.Error(t, res.err)
			var pe *proxy.Error
			require.True(t, errors.As(res.err, &pe), "a proxy error: %v", res.err)
			assert.Equal(t, tt.status, pe.Status)
			assert.Equal(t, tt.retryable, pe.Retryable)
			assert.Contains(t, pe.Error(), tt.msg)
		})
	}
}

func TestTransportBodyLimit(t *testing.T) {
	srv, err := lambdastream.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	tr, err := lambdafn.New(lambdafn.Config{MaxRequestBytes: 4, Client: lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})})
	require.NoError(t, err)
	_, err = tr.RoundTrip(request(t.Context(), "orders", "", false, "POST", "/", strings.NewReader("12345")))
	var pe *proxy.Error
	require.True(t, errors.As(err, &pe), "a proxy error: %v", err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, pe.Status)
}

// TestTransportDeadline: the invocation runs under the request's
// context, so the caller's deadline ends it.
func TestTransportDeadline(t *testing.T) {
	srv, tr := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	c := roundTrip(tr, request(ctx, "orders", "", false, "GET", "/", nil))
	inv := next(t, srv)
	cancel()
	res := wait(t, c)
	require.Error(t, res.err)
	assert.ErrorIs(t, res.err, context.Canceled)
	select {
	case <-inv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the invocation's HTTP request did not end with the caller's context")
	}
}

// TestTransportStream: a streamed answer's prelude sets status and
// headers, and its body arrives chunk by chunk, before the function ends.
func TestTransportStream(t *testing.T) {
	srv, tr := setup(t)
	c := roundTrip(tr, request(t.Context(), "feed", "", true, "GET", "/events", nil))
	inv := next(t, srv)
	assert.True(t, inv.Stream)
	assert.Equal(t, "feed", inv.Function)
	require.NoError(t, inv.Chunk([]byte(`{"statusCode":202,"headers":{"Content-Type":"text/event-stream"},"cookies":["a=1"]}`)))
	require.NoError(t, inv.Chunk([]byte("\x00\x00\x00\x00\x00\x00\x00\x00data: one\n")))
	res := wait(t, c)
	require.NoError(t, res.err)
	defer res.resp.Body.Close()
	assert.Equal(t, 202, res.resp.StatusCode)
	assert.Equal(t, "text/event-stream", res.resp.Header.Get("Content-Type"))
	assert.Equal(t, "a=1", res.resp.Header.Get("Set-Cookie"))

	buf := make([]byte, 64)
	n, err := res.resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "data: one\n", string(buf[:n]), "the first chunk arrives before the second is sent")
	require.NoError(t, inv.Chunk([]byte("data: two\n")))
	n, err = res.resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "data: two\n", string(buf[:n]))
	require.NoError(t, inv.Complete("", ""))
	rest, err := io.ReadAll(res.resp.Body)
	require.NoError(t, err)
	assert.Empty(t, rest)
}

func TestTransportStreamErrors(t *testing.T) {
	t.Run("error before the prelude", func(t *testing.T) {
		srv, tr := setup(t)
		c := roundTrip(tr, request(t.Context(), "feed", "", true, "GET", "/", nil))
		inv := next(t, srv)
		require.NoError(t, inv.Complete("Unhandled", "boom"))
		res := wait(t, c)
		var pe *proxy.Error
		require.True(t, errors.As(res.err, &pe), "a proxy error: %v", res.err)
		assert.Equal(t, http.StatusBadGateway, pe.Status)
		assert.Contains(t, pe.Error(), "failed with Unhandled")
	})
	t.Run("error mid-stream", func(t *testing.T) {
		srv, tr := setup(t)
		c := roundTrip(tr, request(t.Context(), "feed", "", true, "GET", "/", nil))
		inv := next(t, srv)
		require.NoError(t, inv.Chunk([]byte("no prelude here")))
		res := wait(t, c)
		require.NoError(t, res.err)
		defer res.resp.Body.Close()
		assert.Equal(t, 200, res.resp.StatusCode)
		buf := make([]byte, 64)
		n, err := res.resp.Body.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "no prelude here", string(buf[:n]))
		require.NoError(t, inv.Complete("Unhandled", "late"))
		_, err = io.ReadAll(res.resp.Body)
		require.ErrorContains(t, err, "failed with Unhandled while streaming")
	})
	t.Run("stream cut without InvokeComplete", func(t *testing.T) {
		srv, tr := setup(t)
		c := roundTrip(tr, request(t.Context(), "feed", "", true, "GET", "/", nil))
		inv := next(t, srv)
		require.NoError(t, inv.Chunk([]byte("part")))
		res := wait(t, c)
		require.NoError(t, res.err)
		defer res.resp.Body.Close()
		inv.Abort()
		_, err := io.ReadAll(res.resp.Body)
		require.Error(t, err, "a cut stream is not a clean end")
	})
}

// TestEmulatorErrors: with the Lambda endpoint overridden, the Runtime
// Interface Emulator's function errors (a runtime error report with a
// 200 or a 502, and no X-Amz-Function-Error) are function errors.
func TestEmulatorErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		msg    string
	}{
		{name: "returned error", status: 200, body: `{"errorMessage":"no","errorType":"errorString"}`, msg: "failed with errorString (X-Amz-Function-Error: Unhandled): no"},
		{name: "panic", status: 502, body: `{"errorMessage":"nil map","errorType":"plainError","stackTrace":[]}`, msg: "failed with plainError"},
		{name: "other 502", status: 502, body: `{"Message":"bad gateway"}`, msg: "lambda: invoking orders failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := lambdastream.Start()
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL())
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			tr, err := lambdafn.New(lambdafn.Config{})
			require.NoError(t, err)
			c := roundTrip(tr, request(t.Context(), "orders", "", false, "GET", "/", nil))
			next(t, srv).Reply(tt.status, http.Header{"Content-Type": {"application/json"}}, []byte(tt.body))
			res := wait(t, c)
			var pe *proxy.Error
			require.True(t, errors.As(res.err, &pe), "a proxy error: %v", res.err)
			assert.Equal(t, http.StatusBadGateway, pe.Status)
			assert.Contains(t, pe.Error(), tt.msg)
		})
	}
}
