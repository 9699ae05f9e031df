package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/retry"
)

// grpcRsp builds a gRPC response: HTTP 200, the given headers (a
// trailers-only response carries grpc-status there) and trailers.
func grpcRsp(header, trailer http.Header) retry.Response {
	return retry.Response{Method: http.MethodPost, Status: http.StatusOK, Header: header, Trailer: trailer}
}

func status(code string) http.Header { return http.Header{"Grpc-Status": {code}} }

func TestGRPCClassifiers(t *testing.T) {
	codes148, err := retry.NewGRPCClassifier(retry.CodeResourceExhausted, retry.CodeUnavailable)
	require.NoError(t, err)
	codes4, err := retry.NewGRPCClassifier(retry.CodeDeadlineExceeded)
	require.NoError(t, err)
	marked := http.Header{"L5d-Retryable": {"true"}}
	markedStatus := http.Header{"L5d-Retryable": {"true"}, "Grpc-Status": {"8"}}
	tests := []struct {
		name string
		c    retry.GRPCClassifier
		r    retry.Response
		want retry.Class
		code retry.GRPCCode
	}{
		{"OK in trailers", retry.GRPCDefault, grpcRsp(nil, status("0")), success, retry.CodeOK},
		{"UNAVAILABLE in trailers", retry.GRPCDefault, grpcRsp(nil, status("14")), retryable, retry.CodeUnavailable},
		{"RESOURCE_EXHAUSTED not retryable by default", retry.GRPCDefault, grpcRsp(nil, status("8")), failure, retry.CodeResourceExhausted},
		{"RESOURCE_EXHAUSTED retryable when listed", codes148, grpcRsp(nil, status("8")), retryable, retry.CodeResourceExhausted},
		{"UNAVAILABLE listed with 8", codes148, grpcRsp(nil, status("14")), retryable, retry.CodeUnavailable},
		{"INTERNAL not listed", codes148, grpcRsp(nil, status("13")), failure, retry.CodeInternal},
		{"trailers-only UNAVAILABLE in headers", retry.GRPCDefault, grpcRsp(status("14"), nil), retryable, retry.CodeUnavailable},
		{"trailers-only OK in headers", retry.GRPCDefault, grpcRsp(status("0"), nil), success, retry.CodeOK},
		{"trailers win over headers", retry.GRPCDefault, grpcRsp(status("14"), status("0")), success, retry.CodeOK},
		{"lower-case trailer key", retry.GRPCDefault, grpcRsp(nil, http.Header{"grpc-status": {"14"}}), retryable, retry.CodeUnavailable},
		{"malformed status is UNKNOWN", retry.GRPCDefault, grpcRsp(nil, status("fourteen")), failure, retry.CodeUnknown},
		{"malformed status retryable when all are", retry.GRPCAlwaysRetryable, grpcRsp(nil, status("-1")), retryable, retry.CodeUnknown},
		{"empty status is UNKNOWN", retry.GRPCDefault, grpcRsp(nil, status("")), failure, retry.CodeUnknown},
		{"overlong status is UNKNOWN", retry.GRPCDefault, grpcRsp(nil, status("00000000014")), failure, retry.CodeUnknown},
		{"undefined code is a failure", retry.GRPCAlwaysRetryable, grpcRsp(nil, status("17")), failure, retry.GRPCCode(17)},
		{"always retryable", retry.GRPCAlwaysRetryable, grpcRsp(nil, status("3")), retryable, retry.CodeInvalidArgument},
		{"never retryable", retry.GRPCNeverRetryable, grpcRsp(nil, status("14")), failure, retry.CodeUnavailable},
		{"l5d-retryable makes a failure retryable", retry.GRPCDefault, grpcRsp(marked, status("8")), retryable, retry.CodeResourceExhausted},
		{"l5d-retryable with trailers-only status", retry.GRPCNeverRetryable, grpcRsp(markedStatus, nil), retryable, retry.CodeResourceExhausted},
		{"l5d-retryable leaves OK a success", retry.GRPCDefault, grpcRsp(marked, status("0")), success, retry.CodeOK},
		{"method is ignored", retry.GRPCDefault, retry.Response{Method: "GET", Status: 200, Trailer: status("14")}, retryable, retry.CodeUnavailable},
		{"no status on 200 is INTERNAL", retry.GRPCAlwaysRetryable, grpcRsp(nil, nil), retryable, retry.CodeInternal},
		{"no status on 200 default", retry.GRPCDefault, grpcRsp(nil, http.Header{}), failure, retry.CodeInternal},
		{"HTTP 503 maps to UNAVAILABLE", retry.GRPCDefault, retry.Response{Method: "POST", Status: 503}, retryable, retry.CodeUnavailable},
		{"HTTP 429 maps to UNAVAILABLE", retry.GRPCDefault, retry.Response{Method: "POST", Status: 429}, retryable, retry.CodeUnavailable},
		{"HTTP 502 maps to UNAVAILABLE", retry.GRPCDefault, retry.Response{Method: "POST", Status: 502}, retryable, retry.CodeUnavailable},
		{"HTTP 504 maps to UNAVAILABLE", retry.GRPCDefault, retry.Response{Method: "POST", Status: 504}, retryable, retry.CodeUnavailable},
		{"HTTP 400 maps to INTERNAL", retry.GRPCDefault, retry.Response{Method: "POST", Status: 400}, failure, retry.CodeInternal},
		{"HTTP 401 maps to UNAUTHENTICATED", retry.GRPCDefault, retry.Response{Method: "POST", Status: 401}, failure, retry.CodeUnauthenticated},
		{"HTTP 403 maps to PERMISSION_DENIED", retry.GRPCDefault, retry.Response{Method: "POST", Status: 403}, failure, retry.CodePermissionDenied},
		{"HTTP 404 maps to UNIMPLEMENTED", retry.GRPCDefault, retry.Response{Method: "POST", Status: 404}, failure, retry.CodeUnimplemented},
		{"HTTP 500 maps to UNKNOWN", retry.GRPCDefault, retry.Response{Method: "POST", Status: 500}, failure, retry.CodeUnknown},
		{"HTTP 503 with grpc-status header uses the header", retry.GRPCDefault, retry.Response{Method: "POST", Status: 503, Header: status("8")}, failure, retry.CodeResourceExhausted},
		{"transport error is UNAVAILABLE", retry.GRPCDefault, retry.Response{Method: "POST", Err: fmt.Errorf("x: %w", io.ErrUnexpectedEOF)}, retryable, retry.CodeUnavailable},
		{"transport error never retryable", retry.GRPCNeverRetryable, retry.Response{Method: "POST", Err: io.EOF}, failure, retry.CodeUnavailable},
		{"deadline is DEADLINE_EXCEEDED", retry.GRPCDefault, retry.Response{Method: "POST", Err: context.DeadlineExceeded}, failure, retry.CodeDeadlineExceeded},
		{"deadline retryable when listed", codes4, retry.Response{Method: "POST", Err: context.DeadlineExceeded}, retryable, retry.CodeDeadlineExceeded},
		{"cancelled is never retried", retry.GRPCAlwaysRetryable, retry.Response{Method: "POST", Err: fmt.Errorf("x: %w", context.Canceled)}, failure, retry.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.Classify(tt.r))
			if !errors.Is(tt.r.Err, context.Canceled) {
				assert.Equal(t, tt.code, retry.GRPCStatus(tt.r))
			}
		})
	}
}

func TestNewGRPCClassifier(t *testing.T) {
	tests := []struct {
		name    string
		codes   []retry.GRPCCode
		want    retry.GRPCClassifier
		str     string
		wantErr string
	}{
		{"none", nil, retry.GRPCNeverRetryable, "grpcNeverRetryable", ""},
		{"unavailable", []retry.GRPCCode{retry.CodeUnavailable}, retry.GRPCDefault, "grpc", ""},
		{"two, any order, duplicates", []retry.GRPCCode{14, 8, 14}, retry.GRPCClassifier(1<<8 | 1<<14), "grpc:8,14", ""},
		{"all", []retry.GRPCCode{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, retry.GRPCAlwaysRetryable, "grpcAlwaysRetryable", ""},
		{"OK rejected", []retry.GRPCCode{retry.CodeOK}, 0, "", "code 0 is not a failure code"},
		{"17 rejected", []retry.GRPCCode{17}, 0, "", "code 17 is not a failure code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := retry.NewGRPCClassifier(tt.codes...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c)
			assert.Equal(t, tt.str, c.String())
			back, err := retry.Lookup(c.String())
			require.NoError(t, err)
			assert.Equal(t, c, back)
		})
	}
}

func TestParseGRPCCodes(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    []retry.GRPCCode
		wantErr string
	}{
		{"number", "14", []retry.GRPCCode{14}, ""},
		{"names and numbers", "UNAVAILABLE, 8 ,deadline_exceeded", []retry.GRPCCode{14, 8, 4}, ""},
		{"both spellings of cancelled", "CANCELLED,canceled", []retry.GRPCCode{1, 1}, ""},
		{"every name", "CANCELLED,UNKNOWN,INVALID_ARGUMENT,DEADLINE_EXCEEDED,NOT_FOUND,ALREADY_EXISTS," +
			"PERMISSION_DENIED,RESOURCE_EXHAUSTED,FAILED_PRECONDITION,ABORTED,OUT_OF_RANGE,UNIMPLEMENTED," +
			"INTERNAL,UNAVAILABLE,DATA_LOSS,UNAUTHENTICATED",
			[]retry.GRPCCode{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, ""},
		{"empty", "", nil, `retry: grpc codes "": empty code`},
		{"trailing comma", "14,", nil, "empty code"},
		{"OK", "OK", nil, `unknown code "OK"`},
		{"zero", "0", nil, "code 0 is not a failure code"},
		{"negative", "-1", nil, `unknown code "-1"`},
		{"too big", "4294967296", nil, `unknown code "4294967296"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retry.ParseGRPCCodes(tt.input)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestGRPCCodeString(t *testing.T) {
	tests := []struct {
		name string
		code retry.GRPCCode
	}{
		{"OK", retry.CodeOK},
		{"CANCELLED", retry.CodeCanceled},
		{"UNAVAILABLE", retry.CodeUnavailable},
		{"UNAUTHENTICATED", retry.CodeUnauthenticated},
		{"Code(17)", 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.name, tt.code.String())
		})
	}
}

func TestGRPCClassifierCodes(t *testing.T) {
	assert.Equal(t, []retry.GRPCCode{retry.CodeUnavailable}, retry.GRPCDefault.Codes())
	assert.Empty(t, retry.GRPCNeverRetryable.Codes())
	assert.Len(t, retry.GRPCAlwaysRetryable.Codes(), 16)
	assert.False(t, retry.GRPCAlwaysRetryable.Retryable(retry.CodeOK))
	assert.False(t, retry.GRPCAlwaysRetryable.Retryable(40))
}
