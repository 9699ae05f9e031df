package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/lambdastream"
)

// The Lambda-target tests: slinkerd routes /svc/orders to a Lambda
// function through the Invoke API (discovery/lambdafn). The function is
// test/e2e/testdata/lambdafn, built with aws-lambda-go and run by the real
// Runtime Interface Emulator, which serves it as "function" at the real
// Invoke path; slinkerd's real SDK client reaches the emulator through
// AWS_ENDPOINT_URL_LAMBDA, with static fake credentials. The emulator does
// not serve InvokeWithResponseStream, so streaming runs against
// test/fakes/lambdastream, which speaks the event-stream encoding.

// lambdaEnv is slinkerd's environment for a Lambda API at endpoint.
func lambdaEnv(endpoint, dtab string) map[string]string {
	return map[string]string{
		"SLINKERD_DTAB":             dtab,
		"AWS_ENDPOINT_URL_LAMBDA":   endpoint,
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":     "secret",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// buildEchoFunction builds test/e2e/testdata/lambdafn as bootstrap in a
// temporary directory.
func buildEchoFunction(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", out, "./test/e2e/testdata/lambdafn")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./test/e2e/testdata/lambdafn: %s", b)
	return out
}

// echoed is what the test function saw.
type echoed struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	Path            string            `json:"path"`
	RawQuery        string            `json:"rawQuery"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Version         string            `json:"version"`
	DomainName      string            `json:"domainName"`
	TimeEpoch       int64             `json:"timeEpoch"`
}

func TestLambdaTarget(t *testing.T) {
	rie := startRIE(t, buildEchoFunction(t), false, map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "10"})
	endpoint := strings.TrimSuffix(rie.InvokeURL, "/2015-03-31/functions/function/invocations")
	p := startSlinkerd(t, lambdaEnv(endpoint, "/svc/orders=>/#/io.l5d.lambda/function"))
	client := newH1Client(t)

	send := func(t *testing.T, method, path string, body io.Reader, hdr http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, p.URL()+path, body)
		require.NoError(t, err)
		req.Host = "orders"
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}

	t.Run("echo", func(t *testing.T) {
		hdr := http.Header{"Content-Type": {"application/json"}, "X-Trace": {"a", "b"}, "Cookie": {"c1=1; c2=2"}}
		resp, b := send(t, "POST", "/v1/orders?id=7&tag=x&tag=y&status=202", strings.NewReader(`{"item":"tea"}`), hdr)
		require.Equal(t, 202, resp.StatusCode, "body: %s; l5d-err: %s", b, resp.Header.Get("l5d-err"))
		assert.Equal(t, "yes", resp.Header.Get("X-Echo"))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.ElementsMatch(t, []string{"session=abc; Path=/", "theme=dark"}, resp.Header.Values("Set-Cookie"))
		var e echoed
		require.NoError(t, json.Unmarshal(b, &e), "body: %s", b)
		assert.Equal(t, "2.0", e.Version)
		assert.Equal(t, "POST", e.Method)
		assert.Equal(t, "/v1/orders", e.RawPath)
		assert.Equal(t, "/v1/orders", e.Path)
		assert.Equal(t, "id=7&tag=x&tag=y&status=202", e.RawQuery)
		assert.Equal(t, map[string]string{"id": "7", "tag": "x,y", "status": "202"}, e.Query)
		assert.Equal(t, "a,b", e.Headers["x-trace"])
		assert.Equal(t, "orders", e.Headers["host"])
		assert.Equal(t, "/svc/orders", e.Headers["l5d-dst-service"])
		assert.Equal(t, []string{"c1=1", "c2=2"}, e.Cookies)
		assert.Equal(t, `{"item":"tea"}`, e.Body)
		assert.False(t, e.IsBase64Encoded)
		assert.Equal(t, "orders", e.DomainName)
		assert.NotZero(t, e.TimeEpoch)
	})

	t.Run("binary bodies", func(t *testing.T) {
		resp, b := send(t, "PUT", "/blob", strings.NewReader("\x00\x01\xff"), http.Header{"Content-Type": {"application/octet-stream"}})
		require.Equal(t, 202-1, resp.StatusCode, "body: %s", b) // the function's default status, 201
		var e echoed
		require.NoError(t, json.Unmarshal(b, &e))
		assert.True(t, e.IsBase64Encoded)
		assert.Equal(t, "AAH/", e.Body)

		resp, b = send(t, "GET", "/binary", nil, nil)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
		assert.Equal(t, []byte{0, 1, 2, 0xff}, b)
	})

	t.Run("a plain JSON answer is a 200", func(t *testing.T) {
		resp, b := send(t, "GET", "/plain", nil, nil)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.JSONEq(t, `{"plain":true}`, string(b))
	})

	t.Run("function errors are 502s naming the error type", func(t *testing.T) {
		for path, typ := range map[string]string{"/fail": "errorString", "/panic": "plainError"} {
			resp, b := send(t, "GET", path, nil, nil)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "%s: %s", path, b)
			assert.Contains(t, resp.Header.Get("l5d-err"), "lambda: function function failed with "+typ, path)
		}
		// The function still serves after its failures.
		resp, b := send(t, "GET", "/again", nil, nil)
		assert.Equal(t, 201, resp.StatusCode, "body: %s", b)
	})
}

// TestLambdaTargetStream: a response-streaming function's answer reaches
// the caller in pieces: the first chunk is read before the second is
// sent.
func TestLambdaTargetStream(t *testing.T) {
	fake, err := lambdastream.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = fake.Close() })
	env := lambdaEnv(fake.URL(), "/svc/feed=>/#/io.l5d.lambda.stream/feed/live;/svc/orders=>/#/io.l5d.lambda/orders")
	env["SLINKERD_SVC_POLICY"] = "/svc/orders=classifier:retryableRead5XX,retry-min-backoff:0,retry-max-backoff:0"
	p := startSlinkerd(t, env)
	client := newH1Client(t)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type answer struct {
		resp *http.Response
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL()+"/events", nil)
		req.Host = "feed"
		resp, err := client.Do(req)
		answers <- answer{resp, err}
	}()
	inv, err := fake.Next(ctx)
	require.NoError(t, err)
	assert.True(t, inv.Stream)
	assert.Equal(t, "feed", inv.Function)
	assert.Equal(t, "live", inv.Qualifier)
	require.NoError(t, inv.Chunk([]byte(`{"statusCode":200,"headers":{"Content-Type":"text/event-stream"}}`+"\x00\x00\x00\x00\x00\x00\x00\x00")))
	require.NoError(t, inv.Chunk([]byte("data: one\n\n")))
	a := recv(t, answers, 30*time.Second, "the streamed answer's head")
	require.NoError(t, a.err)
	defer a.resp.Body.Close()
	require.Equal(t, 200, a.resp.StatusCode, "l5d-err: %s", a.resp.Header.Get("l5d-err"))
	assert.Equal(t, "text/event-stream", a.resp.Header.Get("Content-Type"))

	r := bufio.NewReader(a.resp.Body)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: one\n", line, "the first chunk arrives while the function still runs")
	require.NoError(t, inv.Chunk([]byte("data: two\n\n")))
	require.NoError(t, inv.Complete("", ""))
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: two\n\n", string(rest))

	// call sends method / to orders and returns its answer once the fake
	// has answered each invocation with the answers, in turn.
	call := func(t *testing.T, method string, answers ...func(*lambdastream.Invocation)) (*http.Response, string) {
		t.Helper()
		got := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, method, p.URL()+"/", nil)
			req.Host = "orders"
			resp, err := client.Do(req)
			got <- answer{resp, err}
		}()
		for _, answer := range answers {
			inv, err := fake.Next(ctx)
			require.NoError(t, err)
			answer(inv)
		}
		a := recv(t, got, 30*time.Second, "the answer")
		require.NoError(t, a.err)
		defer a.resp.Body.Close()
		b, _ := io.ReadAll(a.resp.Body)
		return a.resp, string(b)
	}
	throttle := func(i *lambdastream.Invocation) { i.Throttle() }
	ok := func(i *lambdastream.Invocation) { i.Reply(200, nil, []byte(`{"statusCode":200,"body":"served"}`)) }

	t.Run("throttling is retried under the budget", func(t *testing.T) {
		resp, body := call(t, "GET", throttle, ok)
		assert.Equal(t, 200, resp.StatusCode, "l5d-err: %s", resp.Header.Get("l5d-err"))
		assert.Equal(t, "served", body)
	})
	t.Run("a throttled POST is requeued: the function never ran", func(t *testing.T) {
		resp, body := call(t, "POST", throttle, ok)
		assert.Equal(t, 200, resp.StatusCode, "l5d-err: %s", resp.Header.Get("l5d-err"))
		assert.Equal(t, "served", body)
	})
	t.Run("throttled until the proxy gives up is a retryable 429", func(t *testing.T) {
		// Every invocation is throttled; the proxy requeues under its cap
		// and budget, then answers.
		got := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", p.URL()+"/", nil)
			req.Host = "orders"
			resp, err := client.Do(req)
			got <- answer{resp, err}
		}()
		tries := 0
		var a answer
	loop:
		for {
			nctx, cancel := context.WithCancel(ctx)
			invs := make(chan *lambdastream.Invocation, 1)
			go func() {
				if inv, err := fake.Next(nctx); err == nil {
					invs <- inv
				}
			}()
			select {
			case inv := <-invs:
				cancel()
				tries++
				inv.Throttle()
			case a = <-got:
				cancel()
				break loop
			case <-time.After(30 * time.Second):
				cancel()
				t.Fatal("no answer and no invocation within 30s")
			}
		}
		require.NoError(t, a.err)
		defer a.resp.Body.Close()
		assert.Greater(t, tries, 1, "the throttled call was requeued")
		assert.LessOrEqual(t, tries, 11, "at most 10 requeues")
		assert.Equal(t, http.StatusTooManyRequests, a.resp.StatusCode)
		assert.Equal(t, "true", a.resp.Header.Get("l5d-retryable"))
		assert.Contains(t, a.resp.Header.Get("l5d-err"), "TooManyRequestsException")
	})
}
