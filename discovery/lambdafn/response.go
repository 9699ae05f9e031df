package lambdafn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// result is a function's structured answer, as Function URLs read it
// (payload format 2.0), plus multiValueHeaders, which API Gateway's
// format 1.0 functions return.
type result struct {
	StatusCode        json.RawMessage     `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              *string             `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// newResponse turns a function's payload into an HTTP response, by the
// Function URL rules: a JSON object with a statusCode is a structured
// answer (status, headers, multi-value headers, cookies as Set-Cookie,
// body, base64 when isBase64Encoded); anything else is a 200 whose body
// is the payload itself, as application/json. A structured answer that
// cannot be read (a status outside 100-599, a body that is not base64) is
// an error: the function broke the contract.
func newResponse(payload []byte) (*http.Response, error) {
	resp := &http.Response{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header)}
	var res result
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &res) != nil || res.StatusCode == nil {
		resp.StatusCode = http.StatusOK
		resp.Header.Set("Content-Type", "application/json")
		setBody(resp, payload)
		return resp, nil
	}
	status, err := parseStatus(res.StatusCode)
	if err != nil {
		return nil, err
	}
	resp.StatusCode = status
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
	for k, v := range res.Headers {
		resp.Header.Set(k, v)
	}
	for _, c := range res.Cookies {
		resp.Header.Add("Set-Cookie", c)
	}
	var body []byte
	if res.Body != nil {
		if res.IsBase64Encoded {
			if body, err = base64.StdEncoding.DecodeString(*res.Body); err != nil {
				return nil, fmt.Errorf("lambdafn: the function's body is marked isBase64Encoded but is not base64: %w", err)
			}
		} else {
			body = []byte(*res.Body)
		}
	}
	setBody(resp, body)
	return resp, nil
}

// parseStatus reads statusCode, a number or a string of digits.
func parseStatus(raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, fmt.Errorf("lambdafn: the function's statusCode %s is not a number", raw)
		}
		if n, err = strconv.Atoi(s); err != nil {
			return 0, fmt.Errorf("lambdafn: the function's statusCode %q is not a number", s)
		}
	}
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("lambdafn: the function's statusCode %d is outside 100-599", n)
	}
	return n, nil
}

// setBody gives resp the in-memory body b, with its length.
func setBody(resp *http.Response, b []byte) {
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	resp.Body = io.NopCloser(bytes.NewReader(b))
}

// preludeDelimiter ends the JSON prelude of a streamed Function URL
// answer (awslambda.HttpResponseStream; aws-lambda-go's
// LambdaFunctionURLStreamingResponse): 8 NUL bytes.
var preludeDelimiter = make([]byte, 8)

// prelude is the head of a streamed answer.
type prelude struct {
	StatusCode json.RawMessage   `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
}

// splitPrelude looks for a streamed answer's prelude at the start of buf.
// It returns the response head and the body bytes that followed the
// delimiter, done=true when buf decides: it holds a prelude, or cannot
// start one (then the whole stream is the body of a 200, as Function URLs
// answer a function that streams without a prelude). done=false means more
// bytes are needed.
func splitPrelude(buf []byte, final bool) (head *http.Response, rest []byte, done bool, err error) {
	plain := func() (*http.Response, []byte, bool, error) {
		r := &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header), ContentLength: -1}
		r.Header.Set("Content-Type", "application/octet-stream")
		return r, buf, true, nil
	}
	trimmed := bytes.TrimLeft(buf, " \t\r\n")
	if len(trimmed) == 0 {
		if final {
			return plain()
		}
		return nil, nil, false, nil
	}
	if trimmed[0] != '{' {
		return plain()
	}
	i := bytes.Index(buf, preludeDelimiter)
	if i < 0 {
		if final {
			return plain()
		}
		return nil, nil, false, nil
	}
	var p prelude
	if err := json.Unmarshal(buf[:i], &p); err != nil {
		return plain()
	}
	r := &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header), ContentLength: -1}
	if p.StatusCode != nil {
		if r.StatusCode, err = parseStatus(p.StatusCode); err != nil {
			return nil, nil, true, err
		}
	}
	for k, v := range p.Headers {
		r.Header.Set(k, v)
	}
	for _, c := range p.Cookies {
		r.Header.Add("Set-Cookie", c)
	}
	r.Header.Del("Content-Length")
	return r, buf[i+len(preludeDelimiter):], true, nil
}
