package cloudmap_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/cloudmap"
)

// TestWire checks the fake's awsJson1_1 shapes with raw requests, as the
// service answers them.
func TestWire(t *testing.T) {
	f, err := cloudmap.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.RegisterIP("ns", "svc", "i-1", "10.0.0.1:80", map[string]string{"az": "a"}))
	tests := []struct {
		name, target, body string
		mode               cloudmap.Mode
		status             int
		wantType           string
		wantBody           string
	}{
		{name: "discover", target: cloudmap.TargetDiscoverInstances, body: `{"NamespaceName":"ns","ServiceName":"svc"}`, status: 200,
			wantBody: `{"Instances":[{"InstanceId":"i-1","NamespaceName":"ns","ServiceName":"svc","HealthStatus":"HEALTHY","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"80","az":"a"}}],"InstancesRevision":2}`},
		{name: "revision", target: cloudmap.TargetDiscoverInstancesRevision, body: `{"NamespaceName":"ns","ServiceName":"svc"}`, status: 200, wantBody: `{"InstancesRevision":2}`},
		{name: "namespace not found", target: cloudmap.TargetDiscoverInstances, body: `{"NamespaceName":"x","ServiceName":"svc"}`, status: 400, wantType: "NamespaceNotFound"},
		{name: "service not found", target: cloudmap.TargetDiscoverInstancesRevision, body: `{"NamespaceName":"ns","ServiceName":"x"}`, status: 400, wantType: "ServiceNotFound"},
		{name: "invalid input", target: cloudmap.TargetDiscoverInstances, body: `{"NamespaceName":"ns","ServiceName":"svc","MaxResults":0}`, status: 400, wantType: "InvalidInput"},
		{name: "throttled", target: cloudmap.TargetDiscoverInstances, body: `{}`, mode: cloudmap.Throttle, status: 400, wantType: "RequestLimitExceeded"},
		{name: "unknown operation", target: "Route53AutoNaming_v20170314.Nope", body: `{}`, status: 400, wantType: "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.SetMode(tt.mode)
			defer f.SetMode(cloudmap.Normal)
			req, err := http.NewRequest(http.MethodPost, f.URL()+"/", strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/servicediscovery/aws4_request, SignedHeaders=host, Signature=0")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, string(b))
			assert.Equal(t, "application/x-amz-json-1.1", resp.Header.Get("Content-Type"))
			assert.NotEmpty(t, resp.Header.Get("X-Amzn-RequestId"))
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, string(b))
				return
			}
			var e map[string]string
			require.NoError(t, json.Unmarshal(b, &e))
			assert.Equal(t, tt.wantType, e["__type"])
			assert.NotEmpty(t, e["Message"])
		})
	}
	assert.Equal(t, 4, f.Calls("DiscoverInstances"))
}
