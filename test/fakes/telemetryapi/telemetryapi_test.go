package telemetryapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/test/fakes/telemetryapi"
)

func put(t *testing.T, url, id, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url+telemetryapi.Path, strings.NewReader(body))
	require.NoError(t, err)
	if id != "" {
		req.Header.Set("Lambda-Extension-Identifier", id)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSubscribeValidatesLikeLambda(t *testing.T) {
	const good = `{"schemaVersion":"2022-12-13","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://127.0.0.1:9"},"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25}}`
	tests := []struct {
		name       string
		id, body   string
		wantStatus int
		wantBody   string
	}{
		{name: "accepted", id: "x", body: good, wantStatus: 200, wantBody: `"OK"`},
		{name: "no identifier", body: good, wantStatus: 403, wantBody: "MissingExtensionIdentifier"},
		{name: "bad schema version", id: "x", body: strings.Replace(good, "2022-12-13", "2020-01-01", 1), wantStatus: 400, wantBody: "schemaVersion"},
		{name: "timeout below 25 ms", id: "x", body: strings.Replace(good, `"timeoutMs":25`, `"timeoutMs":10`, 1), wantStatus: 400, wantBody: "timeoutMs"},
		{name: "unknown type", id: "x", body: strings.Replace(good, `"platform"`, `"metrics"`, 1), wantStatus: 400, wantBody: "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := telemetryapi.New()
			srv := httptest.NewServer(f.Wrap(http.NotFoundHandler()))
			defer srv.Close()
			status, body := put(t, srv.URL, tt.id, tt.body)
			assert.Equal(t, tt.wantStatus, status, body)
			assert.Contains(t, body, tt.wantBody)
		})
	}
}

func TestUnsupportedAnswersAsTheEmulator(t *testing.T) {
	f := telemetryapi.New()
	f.Unsupported = true
	srv := httptest.NewServer(f.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	status, body := put(t, srv.URL, "x", `{}`)
	assert.Equal(t, http.StatusAccepted, status)
	assert.Contains(t, body, "Telemetry.NotSupported")
}

func TestSendDeliversABatch(t *testing.T) {
	got := make(chan []map[string]any, 1)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		_ = json.NewDecoder(r.Body).Decode(&batch)
		got <- batch
	}))
	defer dest.Close()
	f := telemetryapi.New()
	defer f.Close()
	srv := httptest.NewServer(f.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	status, _ := put(t, srv.URL, "x", `{"schemaVersion":"2022-12-13","types":["platform"],"destination":{"protocol":"HTTP","URI":"`+dest.URL+`"}}`)
	require.Equal(t, 200, status)
	require.NoError(t, f.Send(context.Background(), telemetryapi.RuntimeDone("r1", "success", time.UnixMilli(1_700_000_000_000), 5*time.Millisecond)))
	batch := <-got
	require.Len(t, batch, 1)
	assert.Equal(t, "platform.runtimeDone", batch[0]["type"])
	assert.Equal(t, "2023-11-14T22:13:20.000Z", batch[0]["time"])
	assert.Equal(t, "r1", batch[0]["record"].(map[string]any)["requestId"])
}
