// Package lambdastream is a local fake of the AWS Lambda Invoke API that
// speaks the real wire protocol (restJson1) for the two calls a proxy
// makes: Invoke (POST /2015-03-31/functions/{name}/invocations) and
// InvokeWithResponseStream (POST
// /2021-11-15/functions/{name}/response-streaming-invocations), whose
// answer is an application/vnd.amazon.eventstream body of PayloadChunk and
// InvokeComplete events, framed by aws-sdk-go-v2's own event-stream
// encoder so that the SDK's decoder accepts them. The Runtime Interface
// Emulator serves only Invoke; this fake stands in for the streaming call
// and for what the emulator cannot do (throttling).
//
// Tests point the real aws-sdk-go-v2 Lambda client at it
// (AWS_ENDPOINT_URL_LAMBDA or BaseEndpoint) and answer each call through
// its Go API, one event at a time: [Server.Next] hands out the next
// call, and [Invocation.Chunk] sends a chunk and flushes it, so a test can
// check that a chunk reached the client before it sends the next.
package lambdastream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Server is the fake. Its zero value is not usable: call Start.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	calls chan *Invocation
	done  chan struct{}
	wg    sync.WaitGroup
}

// Start listens on 127.0.0.1 and serves until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdastream: listen: %w", err)
	}
	s := &Server{ln: ln, calls: make(chan *Invocation), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) })
	mux.HandleFunc("POST /2021-11-15/functions/{name}/response-streaming-invocations", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
	s.srv = &http.Server{Handler: mux}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the endpoint, e.g. http://127.0.0.1:41234, for
// AWS_ENDPOINT_URL_LAMBDA.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, ending calls in progress.
func (s *Server) Close() error {
	close(s.done)
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// Next returns the next call, waiting for it until ctx is done.
func (s *Server) Next(ctx context.Context) (*Invocation, error) {
	select {
	case inv := <-s.calls:
		return inv, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("lambdastream: waiting for an invocation: %w", ctx.Err())
	}
}

// Invocation is one call, answered by its methods: Reply or Throttle for
// either call; Chunk then Complete for a streaming call.
type Invocation struct {
	// Function and Qualifier are the invoked function and its qualifier
	// ("" when none).
	Function, Qualifier string
	// Stream is set for InvokeWithResponseStream.
	Stream bool
	// Event is the request payload.
	Event []byte

	w       http.ResponseWriter
	ctx     context.Context
	enc     *eventstream.Encoder
	started bool
	end     chan struct{}
	once    sync.Once
	mu      sync.Mutex
	gone    error // why the handler returned; nothing may be written after
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, stream bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	inv := &Invocation{Function: r.PathValue("name"), Qualifier: r.URL.Query().Get("Qualifier"), Stream: stream,
		Event: body, w: w, ctx: r.Context(), enc: eventstream.NewEncoder(), end: make(chan struct{})}
	select {
	case s.calls <- inv:
	case <-r.Context().Done():
		return
	case <-s.done:
		return
	}
	var why error
	select {
	case <-inv.end:
		why = errors.New("the call was answered")
	case <-r.Context().Done():
		why = fmt.Errorf("the client went away: %w", context.Cause(r.Context()))
	case <-s.done:
		why = errors.New("the server closed")
	}
	inv.mu.Lock()
	inv.gone = why
	inv.mu.Unlock()
}

// finish ends the call: its handler returns.
func (i *Invocation) finish() { i.once.Do(func() { close(i.end) }) }

// Reply answers with status, header and body as they are, and ends the
// call; for Invoke, a 200 with the function's payload, or with
// X-Amz-Function-Error set for a function error.
func (i *Invocation) Reply(status int, header http.Header, body []byte) {
	defer i.finish()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.gone != nil {
		return
	}
	for k, vs := range header {
		i.w.Header()[k] = vs
	}
	i.w.WriteHeader(status)
	_, _ = i.w.Write(body)
}

// Throttle answers as Lambda does when the function's concurrency is
// exhausted: 429 TooManyRequestsException.
func (i *Invocation) Throttle() {
	h := http.Header{"Content-Type": {"application/json"}, "X-Amzn-Errortype": {"TooManyRequestsException"}}
	i.Reply(http.StatusTooManyRequests, h, []byte(`{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}`))
}

// Chunk sends one PayloadChunk event and flushes it. The first one sends
// the response head (200, application/vnd.amazon.eventstream).
func (i *Invocation) Chunk(b []byte) error {
	if !i.Stream {
		return errors.New("lambdastream: Chunk on a buffered Invoke")
	}
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue("PayloadChunk"))
	h.Set(":content-type", eventstream.StringValue("application/octet-stream"))
	return i.send(eventstream.Message{Headers: h, Payload: b})
}

// Complete sends the InvokeComplete event, with errorCode and details
// when they are not empty, and ends the call.
func (i *Invocation) Complete(errorCode, details string) error {
	defer i.finish()
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue("InvokeComplete"))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	var p strings.Builder
	p.WriteString("{")
	if errorCode != "" {
		fmt.Fprintf(&p, "%q:%q,%q:%q", "ErrorCode", errorCode, "ErrorDetails", details)
	}
	p.WriteString("}")
	return i.send(eventstream.Message{Headers: h, Payload: []byte(p.String())})
}

// Abort ends a streaming call without InvokeComplete: the connection's
// body ends early.
func (i *Invocation) Abort() { i.finish() }

// Done is closed when the client has gone away.
func (i *Invocation) Done() <-chan struct{} { return i.ctx.Done() }

func (i *Invocation) send(m eventstream.Message) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.gone != nil {
		return fmt.Errorf("lambdastream: cannot send an event: %w", i.gone)
	}
	if !i.started {
		i.started = true
		i.w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		i.w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		i.w.WriteHeader(http.StatusOK)
	}
	var buf bytes.Buffer
	if err := i.enc.Encode(&buf, m); err != nil {
		return fmt.Errorf("lambdastream: encode an event: %w", err)
	}
	if _, err := i.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("lambdastream: send an event: %w", err)
	}
	if f, ok := i.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}
