package otlp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/otlp"
)

func TestReceiverChecksTheEncoding(t *testing.T) {
	const good = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},
"scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
"name":"n","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"k","value":{"intValue":"7"}}],
"status":{"code":2,"message":"m"}}]}]}]}`
	tests := []struct {
		name, body string
		status     int
	}{
		{"valid", good, 200},
		{"base64 trace id", strings.Replace(good, "4bf92f3577b34da6a3ce929d0e0e4736", "S/kvNXezTaajzpKdDg5HNg==", 1), 400},
		{"unknown field", strings.Replace(good, `"kind":2`, `"kind":2,"bogus":1`, 1), 400},
		{"number as time", strings.Replace(good, `"startTimeUnixNano":"1"`, `"startTimeUnixNano":1`, 1), 400},
		{"ends before start", strings.Replace(good, `"endTimeUnixNano":"2"`, `"endTimeUnixNano":"0"`, 1), 400},
		{"two values", strings.Replace(good, `{"intValue":"7"}`, `{"intValue":"7","stringValue":"x"}`, 1), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := otlp.New()
			defer r.Close()
			resp, err := http.Post(r.URL()+"/v1/traces", "application/json", strings.NewReader(tt.body))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode, "%v", r.Errors())
			if tt.status == 200 {
				s := r.Spans()
				require.Len(t, s, 1)
				assert.Equal(t, int64(7), s[0].Attributes["k"])
				assert.Equal(t, 2, s[0].StatusCode)
				assert.Equal(t, "s", s[0].Resource["service.name"])
			}
		})
	}
}
