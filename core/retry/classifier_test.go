package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/retry"
)

const (
	success   = retry.Success
	failure   = retry.Failure
	retryable = retry.RetryableFailure
)

// allMethods are the methods the matrix tests try, including an unknown
// one and a lower-case spelling (methods are case-sensitive).
var allMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
	http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodPatch,
	http.MethodConnect, "PURGE", "get",
}

// TestHTTPClassifierMatrix checks every HTTP classifier against every
// method, a spread of statuses and the l5d-retryable header, against the
// spec written out as data: which methods each classifier retries.
func TestHTTPClassifierMatrix(t *testing.T) {
	reads := []string{"GET", "HEAD", "OPTIONS", "TRACE"}
	retries := map[retry.HTTPClassifier][]string{
		retry.NonRetryable5XX:        nil,
		retry.RetryableRead5XX:       reads,
		retry.RetryableIdempotent5XX: append(slices.Clone(reads), "PUT", "DELETE"),
		retry.RetryableAll5XX:        allMethods,
		retry.AllSuccessful:          nil,
	}
	statuses := []int{0, 99, 100, 200, 204, 301, 400, 404, 429, 499, 500, 502, 503, 504, 599, 600}
	headers := []struct {
		name   string
		h      http.Header
		marked bool
	}{
		{"no header", nil, false},
		{"l5d-retryable true", http.Header{"L5d-Retryable": {"true"}}, true},
		{"l5d-retryable TRUE lower-case key", http.Header{"l5d-retryable": {" TRUE "}}, true},
		{"l5d-retryable false", http.Header{"L5d-Retryable": {"false"}}, false},
		{"l5d-retryable junk", http.Header{"L5d-Retryable": {"yes"}}, false},
	}
	for c, methods := range retries {
		for _, m := range allMethods {
			for _, st := range statuses {
				for _, h := range headers {
					want := success
					switch {
					case c == retry.AllSuccessful:
					case st >= 100 && st < 500:
					case slices.Contains(methods, m), h.marked:
						want = retryable
					default:
						want = failure
					}
					name := fmt.Sprintf("%v/%s/%d/%s", c, m, st, h.name)
					got := c.Classify(retry.Response{Method: m, Status: st, Header: h.h})
					if got != want {
						t.Errorf("%s: got %v, want %v", name, got, want)
					}
				}
			}
		}
	}
}

func TestHTTPClassifiers(t *testing.T) {
	marked := http.Header{"L5d-Retryable": {"true"}}
	eof := fmt.Errorf("read: %w", io.EOF)
	tests := []struct {
		name string
		c    retry.Classifier
		r    retry.Response
		want retry.Class
	}{
		{"nonRetryable5XX GET 200", retry.NonRetryable5XX, retry.Response{Method: "GET", Status: 200}, success},
		{"nonRetryable5XX GET 404 is a success", retry.NonRetryable5XX, retry.Response{Method: "GET", Status: 404}, success},
		{"nonRetryable5XX GET 503", retry.NonRetryable5XX, retry.Response{Method: "GET", Status: 503}, failure},
		{"nonRetryable5XX POST 503 marked", retry.NonRetryable5XX, retry.Response{Method: "POST", Status: 503, Header: marked}, retryable},
		{"nonRetryable5XX 200 marked stays success", retry.NonRetryable5XX, retry.Response{Method: "POST", Status: 200, Header: marked}, success},
		{"nonRetryable5XX GET transport error", retry.NonRetryable5XX, retry.Response{Method: "GET", Err: eof}, failure},
		{"retryableRead5XX GET 500", retry.RetryableRead5XX, retry.Response{Method: "GET", Status: 500}, retryable},
		{"retryableRead5XX HEAD 503", retry.RetryableRead5XX, retry.Response{Method: "HEAD", Status: 503}, retryable},
		{"retryableRead5XX PUT 503", retry.RetryableRead5XX, retry.Response{Method: "PUT", Status: 503}, failure},
		{"retryableRead5XX POST 503", retry.RetryableRead5XX, retry.Response{Method: "POST", Status: 503}, failure},
		{"retryableRead5XX GET transport error", retry.RetryableRead5XX, retry.Response{Method: "GET", Err: eof}, retryable},
		{"retryableRead5XX GET attempt timeout", retry.RetryableRead5XX, retry.Response{Method: "GET", Err: context.DeadlineExceeded}, retryable},
		{"retryableRead5XX GET cancelled", retry.RetryableRead5XX, retry.Response{Method: "GET", Err: fmt.Errorf("x: %w", context.Canceled)}, failure},
		{"retryableRead5XX POST transport error", retry.RetryableRead5XX, retry.Response{Method: "POST", Err: eof}, failure},
		{"retryableRead5XX error ignores status and header", retry.RetryableRead5XX, retry.Response{Method: "POST", Status: 200, Header: marked, Err: eof}, failure},
		{"retryableIdempotent5XX PUT 502", retry.RetryableIdempotent5XX, retry.Response{Method: "PUT", Status: 502}, retryable},
		{"retryableIdempotent5XX DELETE 504", retry.RetryableIdempotent5XX, retry.Response{Method: "DELETE", Status: 504}, retryable},
		{"retryableIdempotent5XX PATCH 503", retry.RetryableIdempotent5XX, retry.Response{Method: "PATCH", Status: 503}, failure},
		{"retryableIdempotent5XX DELETE transport error", retry.RetryableIdempotent5XX, retry.Response{Method: "DELETE", Err: eof}, retryable},
		{"retryableAll5XX POST 503", retry.RetryableAll5XX, retry.Response{Method: "POST", Status: 503}, retryable},
		{"retryableAll5XX POST 201", retry.RetryableAll5XX, retry.Response{Method: "POST", Status: 201}, success},
		{"retryableAll5XX POST transport error", retry.RetryableAll5XX, retry.Response{Method: "POST", Err: eof}, retryable},
		{"retryableAll5XX POST cancelled", retry.RetryableAll5XX, retry.Response{Method: "POST", Err: context.Canceled}, failure},
		{"allSuccessful 500", retry.AllSuccessful, retry.Response{Method: "GET", Status: 500}, success},
		{"allSuccessful 500 marked", retry.AllSuccessful, retry.Response{Method: "GET", Status: 500, Header: marked}, success},
		{"allSuccessful transport error", retry.AllSuccessful, retry.Response{Method: "GET", Err: eof}, failure},
		{"ClassifierFunc", retry.ClassifierFunc(func(r retry.Response) retry.Class {
			if r.Status == 418 {
				return failure
			}
			return success
		}), retry.Response{Status: 418}, failure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.Classify(tt.r))
		})
	}
}

func TestClassifiersDoNotAllocate(t *testing.T) {
	h := http.Header{"Content-Type": {"application/grpc"}, "L5d-Retryable": {"true"}}
	tr := http.Header{"Grpc-Status": {"8"}}
	classifiers := []retry.Classifier{
		retry.NonRetryable5XX, retry.RetryableRead5XX, retry.RetryableIdempotent5XX,
		retry.RetryableAll5XX, retry.AllSuccessful, retry.GRPCDefault, retry.GRPCAlwaysRetryable,
	}
	rsps := []retry.Response{
		{Method: "POST", Status: 503, Header: h},
		{Method: "GET", Status: 200, Header: h, Trailer: tr},
		{Method: "GET", Err: io.EOF},
		{Method: "GET", Err: context.DeadlineExceeded},
	}
	for _, c := range classifiers {
		for _, r := range rsps {
			allocs := testing.AllocsPerRun(100, func() { _ = c.Classify(r) })
			assert.Zero(t, allocs, "%v %+v", c, r)
		}
	}
}

func TestClass(t *testing.T) {
	tests := []struct {
		name      string
		c         retry.Class
		isFailure bool
	}{
		{"success", success, false},
		{"failure", failure, true},
		{"retryable-failure", retryable, true},
		{"Class(9)", retry.Class(9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.name, tt.c.String())
			assert.Equal(t, tt.isFailure, tt.c.IsFailure())
		})
	}
}

func TestLookup(t *testing.T) {
	grpc148, err := retry.NewGRPCClassifier(retry.CodeUnavailable, retry.CodeResourceExhausted)
	require.NoError(t, err)
	tests := []struct {
		name     string
		input    string
		want     retry.Classifier
		wantName string
	}{
		{"nonRetryable5XX", "nonRetryable5XX", retry.NonRetryable5XX, "nonRetryable5XX"},
		{"retryableRead5XX", "retryableRead5XX", retry.RetryableRead5XX, "retryableRead5XX"},
		{"retryableIdempotent5XX", "retryableIdempotent5XX", retry.RetryableIdempotent5XX, "retryableIdempotent5XX"},
		{"retryableAll5XX", "retryableAll5XX", retry.RetryableAll5XX, "retryableAll5XX"},
		{"allSuccessful", "allSuccessful", retry.AllSuccessful, "allSuccessful"},
		{"case-insensitive", "RETRYABLEREAD5xx", retry.RetryableRead5XX, "retryableRead5XX"},
		{"grpc", "grpc", retry.GRPCDefault, "grpc"},
		{"grpcAlwaysRetryable", "grpcAlwaysRetryable", retry.GRPCAlwaysRetryable, "grpcAlwaysRetryable"},
		{"grpcNeverRetryable", "grpcneverretryable", retry.GRPCNeverRetryable, "grpcNeverRetryable"},
		{"grpc codes", "grpc:14,8", grpc148, "grpc:8,14"},
		{"grpc code names", "GRPC:unavailable, RESOURCE_EXHAUSTED", grpc148, "grpc:8,14"},
		{"grpc default by code", "grpc:14", retry.GRPCDefault, "grpc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := retry.Lookup(tt.input)
			require.NoError(t, err)
			assert.Equal(t, tt.want, c)
			assert.Equal(t, tt.wantName, c.(fmt.Stringer).String())
			again, err := retry.Lookup(tt.wantName)
			require.NoError(t, err, "canonical name must look up")
			assert.Equal(t, c, again)
		})
	}
}

func TestLookupErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		unknown bool
		want    string
	}{
		{"empty", "", true, `classifier "": unknown classifier (allowed: nonRetryable5XX, retryableRead5XX, retryableIdempotent5XX, retryableAll5XX, allSuccessful, grpc, grpc:<codes>, grpcAlwaysRetryable, grpcNeverRetryable, `},
		{"linkerd long name", "io.l5d.http.retryableRead5XX", true, "unknown classifier"},
		{"typo", "retryableRead5xxx", true, "allowed: nonRetryable5XX"},
		{"grpc no codes", "grpc:", false, "empty code"},
		{"grpc OK", "grpc:0", false, "code 0 is not a failure code"},
		{"grpc 17", "grpc:14,17", false, "code 17 is not a failure code"},
		{"grpc bad name", "grpc:UNAVAILABEL", false, `unknown code "UNAVAILABEL"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := retry.Lookup(tt.input)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, tt.unknown, errors.Is(err, retry.ErrUnknownClassifier))
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "retry: classifier "), err.Error())
		})
	}
}

func TestClassifierNamesAllLookUp(t *testing.T) {
	for _, n := range retry.ClassifierNames() {
		t.Run(n, func(t *testing.T) {
			if strings.Contains(n, "<") {
				n = strings.Replace(n, "<codes>", "14", 1)
			}
			_, err := retry.Lookup(n)
			assert.NoError(t, err)
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	r := retry.Response{Method: "GET", Status: 503, Header: http.Header{"Content-Type": {"text/plain"}}}
	var c retry.Classifier = retry.RetryableRead5XX
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Classify(r)
	}
}
