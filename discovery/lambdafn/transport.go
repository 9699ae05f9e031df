package lambdafn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/internal/awsconf"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// Defaults for Config.
const (
	// DefaultMaxRequestBytes is Lambda's limit on a synchronous
	// invocation's request payload: 6 MiB.
	DefaultMaxRequestBytes = 6 << 20
	// DefaultMaxPreludeBytes bounds a streamed answer's prelude: 64 KiB.
	DefaultMaxPreludeBytes = 64 << 10
)

// Invoker is the part of the Lambda API the Transport calls;
// *lambda.Client implements it.
type Invoker interface {
	// Invoke calls a function and waits for its whole answer.
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
	// InvokeWithResponseStream calls a function and streams its answer.
	InvokeWithResponseStream(ctx context.Context, in *lambda.InvokeWithResponseStreamInput, opts ...func(*lambda.Options)) (*lambda.InvokeWithResponseStreamOutput, error)
}

// Config configures a Transport. The zero value is ready to use.
type Config struct {
	// Client invokes the functions. Nil means a *lambda.Client built on
	// first use by NewClient from the default AWS configuration: the SDK's
	// standard chain (config.LoadDefaultConfig: AWS_REGION, the default
	// credential chain, and the endpoint override AWS_ENDPOINT_URL_LAMBDA),
	// or in the Lambda layer's build (-tags slinkerd_noawsconfig) the same
	// variables from the environment alone.
	Client Invoker
	// MaxRequestBytes caps a request's body, which the event carries
	// whole; a larger one is answered 413 without an invocation. Defaults
	// to DefaultMaxRequestBytes (6 MiB), Lambda's own limit.
	MaxRequestBytes int64
	// MaxPreludeBytes caps the JSON prelude of a streamed answer; a
	// longer one is a 502. Defaults to DefaultMaxPreludeBytes (64 KiB).
	MaxPreludeBytes int
	// Clock stamps the events' time. Nil means the real clock.
	Clock clock.Clock
	// Logger logs client set-up failures. Nil means slog.Default().
	Logger *slog.Logger
}

// Transport is an http.RoundTripper that calls Lambda functions: the
// request's URL host is an endpoint of [Address], the request becomes a
// Function URL event and the function's answer the response. Failures
// are *proxy.Error values: 502 for a function error (l5d-err names its
// type), 429 (retryable) for throttling, 413 for a body over
// MaxRequestBytes. The invocation runs under the request's context, so
// its deadline is the caller's.
type Transport struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	client Invoker // cfg.Client, or built on first use
}

// New returns a Transport; it builds no client and calls nothing until
// its first request.
func New(cfg Config) (*Transport, error) {
	if cfg.MaxRequestBytes < 0 || cfg.MaxPreludeBytes < 0 {
		return nil, errors.New("lambdafn: MaxRequestBytes and MaxPreludeBytes must not be negative")
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxPreludeBytes == 0 {
		cfg.MaxPreludeBytes = DefaultMaxPreludeBytes
	}
	cfg.Clock = clock.Or(cfg.Clock)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Transport{cfg: cfg, log: log, client: cfg.Client}, nil
}

// invoker returns the client, building it on first use. A failure is not
// kept: the next request tries again.
func (t *Transport) invoker(ctx context.Context) (Invoker, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return t.client, nil
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		err = fmt.Errorf("lambdafn: load the AWS configuration: %w", err)
		t.log.Warn("lambdafn: cannot build the Lambda client", "err", err)
		return nil, err
	}
	t.client = NewClient(cfg)
	return t.client, nil
}

// NewClient returns a Lambda client from an AWS configuration, as the
// Transport uses it: with the SDK's retries off (the proxy's budget
// decides), and with a guard against a race between the SDK and net/http
// that could close the connection under a response stream.
func NewClient(cfg aws.Config) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.Retryer = aws.NopRetryer{}
		next := awsconf.SafeRequestBodies(o.HTTPClient)
		if o.BaseEndpoint != nil {
			next = emulatorErrors{next: next}
		}
		o.HTTPClient = next
	})
}

// emulatorErrors reads the function errors of the Runtime Interface
// Emulator as Lambda sends them. Lambda marks a function error with
// X-Amz-Function-Error and a 200; the emulator sends no header, and
// answers a returned error with a 200 and a panic with a 502, each with
// the runtime's error report as the body. An Invoke answer of 200 or 502
// without the header whose body is such a report (isRuntimeError) becomes
// a 200 with X-Amz-Function-Error: Unhandled. It is used only when the
// Lambda endpoint is overridden (AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL
// or the configuration's BaseEndpoint), where an emulator may answer.
type emulatorErrors struct {
	next awsconf.HTTPClient
}

// maxEmulatorBody bounds the answers emulatorErrors reads: Lambda's own
// response payload limit, 6 MiB.
const maxEmulatorBody = 6 << 20

// Do sends r and rewrites the emulator's function errors.
func (c emulatorErrors) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadGateway) ||
		resp.Header.Get("X-Amz-Function-Error") != "" || !strings.HasSuffix(r.URL.Path, "/invocations") ||
		resp.ContentLength > maxEmulatorBody {
		return resp, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEmulatorBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("lambdafn: read the Invoke answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if isRuntimeError(b) {
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		resp.Header.Set("X-Amz-Function-Error", "Unhandled")
	}
	return resp, nil
}

// RoundTrip invokes the function that r's URL host names.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(r)
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return resp, err
}

func (t *Transport) roundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	tg, err := parseHost(r.URL.Host)
	if err != nil {
		return nil, &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: bad endpoint", Err: err}
	}
	body, err := readBody(r, t.cfg.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(newEvent(r, body, t.cfg.Clock.Now(), requestID(r)))
	if err != nil {
		return nil, fmt.Errorf("lambdafn: encode the event for %s: %w", tg.fn, err)
	}
	c, err := t.invoker(ctx)
	if err != nil {
		return nil, &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: no client for " + tg.fn, Retryable: true, Err: err}
	}
	// The invocation is on its way: from here the request may have run,
	// and the proxy's response head timeout starts.
	if tr := httptrace.ContextClientTrace(ctx); tr != nil {
		if tr.WroteHeaders != nil {
			tr.WroteHeaders()
		}
		if tr.WroteRequest != nil {
			tr.WroteRequest(httptrace.WroteRequestInfo{})
		}
	}
	var qual *string
	if tg.qual != "" {
		qual = aws.String(tg.qual)
	}
	if tg.stream {
		return t.invokeStream(ctx, c, tg, qual, payload, r)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(tg.fn), Qualifier: qual, Payload: payload})
	if err != nil {
		return nil, invokeError(tg.fn, err)
	}
	if out.FunctionError != nil {
		return nil, functionError(tg.fn, aws.ToString(out.FunctionError), out.Payload)
	}
	resp, err := newResponse(out.Payload)
	if err != nil {
		return nil, &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: function " + tg.fn + " answered with a malformed response", Err: err}
	}
	resp.Request = r
	return resp, nil
}

// readBody reads r's body, up to limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &proxy.Error{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("lambda: request body of %d bytes is over the invocation limit of %d bytes", r.ContentLength, limit)}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err // the caller's body failed: the proxy says why
	}
	if int64(len(b)) > limit {
		return nil, &proxy.Error{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("lambda: request body is over the invocation limit of %d bytes", limit)}
	}
	return b, nil
}

// requestID is the event's requestContext.requestId: the caller's
// x-request-id when it sent one, otherwise a fresh random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// invokeError turns an Invoke API failure into a proxy error: throttling
// is a retryable 429 (the function did not run), a missing function or
// qualifier a 502, an over-large payload a 413; anything else is left to
// the proxy (a 502, a 504 past the deadline, a requeue for a refused
// connection).
func invokeError(fn string, err error) error {
	var tooMany *types.TooManyRequestsException
	if errors.As(err, &tooMany) {
		msg := "lambda: function " + fn + " is throttled (TooManyRequestsException"
		if tooMany.Reason != "" {
			msg += ", " + string(tooMany.Reason)
		}
		return &proxy.Error{Status: http.StatusTooManyRequests, Msg: msg + ")", Retryable: true, Err: err}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests {
		return &proxy.Error{Status: http.StatusTooManyRequests, Msg: "lambda: function " + fn + " is throttled (429)", Retryable: true, Err: err}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "RequestTooLargeException":
			return &proxy.Error{Status: http.StatusRequestEntityTooLarge, Msg: "lambda: the event for " + fn + " is over Lambda's payload limit", Err: err}
		case "ResourceNotFoundException":
			return &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: no function " + fn + " (ResourceNotFoundException)", Err: err}
		}
		return &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: invoking " + fn + " failed (" + api.ErrorCode() + ")", Err: err}
	}
	return fmt.Errorf("lambdafn: invoke %s: %w", fn, err)
}

// runtimeError is the error payload of a Lambda runtime: what the
// function returned or panicked with.
type runtimeError struct {
	ErrorMessage *string         `json:"errorMessage"`
	ErrorType    *string         `json:"errorType"`
	StackTrace   json.RawMessage `json:"stackTrace"`
}

// isRuntimeError says whether payload is a runtime's error report and
// nothing else: errorType and errorMessage, optionally stackTrace,
// requestId and cause (emulatorErrors).
func isRuntimeError(payload []byte) bool {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || p[0] != '{' || !bytes.Contains(p, []byte(`"errorType"`)) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(p, &m) != nil {
		return false
	}
	for k := range m {
		switch k {
		case "errorMessage", "errorType", "stackTrace", "requestId", "cause":
		default:
			return false
		}
	}
	_, hasType := m["errorType"]
	_, hasMsg := m["errorMessage"]
	return hasType && hasMsg
}

// functionError is the 502 of a function that failed: kind is
// X-Amz-Function-Error ("Unhandled", "Handled") or "", payload the
// runtime's report.
func functionError(fn, kind string, payload []byte) *proxy.Error {
	var re runtimeError
	_ = json.Unmarshal(payload, &re)
	typ := aws.ToString(re.ErrorType)
	if typ == "" {
		typ = kind
	}
	if typ == "" {
		typ = "Unknown"
	}
	msg := "lambda: function " + fn + " failed with " + typ
	if kind != "" {
		msg += " (X-Amz-Function-Error: " + kind + ")"
	}
	e := &proxy.Error{Status: http.StatusBadGateway, Msg: msg}
	if m := strings.TrimSpace(aws.ToString(re.ErrorMessage)); m != "" {
		if len(m) > 256 {
			m = m[:256]
		}
		e.Err = errors.New(m)
	}
	return e
}

var (
	_ http.RoundTripper = (*Transport)(nil)
	_ Invoker           = (*lambda.Client)(nil)
	_ lambda.HTTPClient = emulatorErrors{}
)
