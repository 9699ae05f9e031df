package lambdafn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/slinkerd/slinkerd/internal/proxy"
)

// events is the event stream of one streamed invocation.
type events interface {
	Events() <-chan types.InvokeWithResponseStreamResponseEvent
	Close() error
	Err() error
}

// invokeStream calls a response-streaming function and returns its
// answer once the prelude (status and headers) has arrived; the body
// streams on as the function writes it.
func (t *Transport) invokeStream(ctx context.Context, c Invoker, tg target, qual *string, payload []byte, r *http.Request) (*http.Response, error) {
	out, err := c.InvokeWithResponseStream(ctx, &lambda.InvokeWithResponseStreamInput{
		FunctionName: aws.String(tg.fn), Qualifier: qual, Payload: payload,
		InvocationType: types.ResponseStreamingInvocationTypeRequestResponse,
	})
	if err != nil {
		return nil, invokeError(tg.fn, err)
	}
	st := out.GetStream()
	if st == nil {
		return nil, fmt.Errorf("lambdafn: invoke %s with a response stream: no event stream", tg.fn)
	}
	b := &streamBody{ev: st, fn: tg.fn}
	resp, err := b.head(t.cfg.MaxPreludeBytes)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	resp.Body = b
	resp.Request = r
	return resp, nil
}

// streamBody is a streamed answer's body: the payload chunks after the
// prelude, ending at InvokeComplete (an error when it carries one, or
// when the stream ends without it).
type streamBody struct {
	ev   events
	fn   string
	buf  []byte // bytes received and not yet read
	done bool   // InvokeComplete without error has arrived
	err  error  // the stream's end, once known
}

// next waits for the next chunk; false at the stream's end (b.err or
// b.done say which).
func (b *streamBody) next() bool {
	if b.done || b.err != nil {
		return false
	}
	for ev := range b.ev.Events() {
		switch v := ev.(type) {
		case *types.InvokeWithResponseStreamResponseEventMemberPayloadChunk:
			if len(v.Value.Payload) == 0 {
				continue
			}
			b.buf = append(b.buf, v.Value.Payload...)
			return true
		case *types.InvokeWithResponseStreamResponseEventMemberInvokeComplete:
			if code := aws.ToString(v.Value.ErrorCode); code != "" {
				e := &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: function " + b.fn + " failed with " + code + " while streaming"}
				if d := aws.ToString(v.Value.ErrorDetails); d != "" {
					if len(d) > 256 {
						d = d[:256]
					}
					e.Err = errors.New(d)
				}
				b.err = e
				return false
			}
			b.done = true
			return false
		}
	}
	if err := b.ev.Err(); err != nil {
		b.err = fmt.Errorf("lambdafn: the response stream of %s failed: %w", b.fn, err)
	} else {
		b.err = fmt.Errorf("lambdafn: the response stream of %s ended without InvokeComplete: %w", b.fn, io.ErrUnexpectedEOF)
	}
	return false
}

// head reads up to the end of the prelude, or decides there is none.
func (b *streamBody) head(max int) (*http.Response, error) {
	for {
		more := b.next()
		if !more && b.err != nil && len(b.buf) == 0 {
			return nil, b.err
		}
		resp, rest, ok, err := splitPrelude(b.buf, !more)
		if err != nil {
			return nil, &proxy.Error{Status: http.StatusBadGateway, Msg: "lambda: function " + b.fn + " streamed a malformed prelude", Err: err}
		}
		if ok {
			b.buf = rest
			return resp, nil
		}
		if len(b.buf) > max {
			return nil, &proxy.Error{Status: http.StatusBadGateway,
				Msg: fmt.Sprintf("lambda: function %s streamed no end of its prelude within %d bytes", b.fn, max)}
		}
	}
}

// Read returns the bytes received, waiting for the next chunk when there
// are none.
func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if !b.next() {
			if b.err != nil {
				return 0, b.err
			}
			return 0, io.EOF
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	return n, nil
}

// Close ends the stream.
func (b *streamBody) Close() error {
	return b.ev.Close()
}
