// Command lambdafn is the Lambda function of test/e2e/lambdafn_test.go,
// built with github.com/aws/aws-lambda-go: it reads a Function URL event
// (payload format 2.0) and echoes what it saw — method, paths, query,
// headers, cookies and body — as JSON in a Function URL response. The
// path picks other behaviours:
//
//	/fail     returns an error (errorType errorString)
//	/panic    panics (errorType runtime.Error or a string)
//	/binary   answers a base64-encoded binary body
//	/plain    answers a JSON document that is not a Function URL response
//
// The query parameter status sets the answer's status (default 201).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// echo is what the function saw.
type echo struct {
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

func handle(_ context.Context, ev events.LambdaFunctionURLRequest) (json.RawMessage, error) {
	switch ev.RawPath {
	case "/fail":
		return nil, errors.New("the order service refused")
	case "/panic":
		var m map[string]int
		m["boom"]++ // a nil map: a runtime error
	case "/plain":
		return json.RawMessage(`{"plain":true}`), nil
	case "/binary":
		return json.Marshal(events.LambdaFunctionURLResponse{StatusCode: 200,
			Headers: map[string]string{"Content-Type": "application/octet-stream"},
			Body:    base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), IsBase64Encoded: true})
	}
	status := 201
	if s, err := strconv.Atoi(ev.QueryStringParameters["status"]); err == nil {
		status = s
	}
	b, err := json.Marshal(echo{Method: ev.RequestContext.HTTP.Method, RawPath: ev.RawPath, Path: ev.RequestContext.HTTP.Path,
		RawQuery: ev.RawQueryString, Query: ev.QueryStringParameters, Headers: ev.Headers, Cookies: ev.Cookies,
		Body: ev.Body, IsBase64Encoded: ev.IsBase64Encoded, Version: ev.Version,
		DomainName: ev.RequestContext.DomainName, TimeEpoch: ev.RequestContext.TimeEpoch})
	if err != nil {
		return nil, err
	}
	return json.Marshal(events.LambdaFunctionURLResponse{StatusCode: status,
		Headers: map[string]string{"Content-Type": "application/json", "X-Echo": "yes"},
		Cookies: []string{"session=abc; Path=/", "theme=dark"},
		Body:    string(b)})
}

func main() { lambda.Start(handle) }
