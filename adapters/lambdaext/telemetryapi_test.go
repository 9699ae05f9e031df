package lambdaext_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/adapters/lambdaext/internal/extapi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/adapters/lambdaext"
	"github.com/slinkerd/slinkerd/test/fakes/telemetryapi"
)

// withTelemetryAPI serves api's Extensions API and the fake Telemetry
// API on one host:port, as Lambda does, and returns a fakeAPI whose
// hostPort is that server's (only hostPort is used of it: events and
// calls still go through api).
func withTelemetryAPI(t *testing.T, api *fakeAPI, unsupported bool) (*fakeAPI, *telemetryapi.Server) {
	t.Helper()
	tapi := telemetryapi.New()
	tapi.Unsupported = unsupported
	srv := httptest.NewServer(tapi.Wrap(api.srv.Config.Handler))
	t.Cleanup(func() {
		srv.Close()
		tapi.Close()
	})
	return &fakeAPI{srv: srv}, tapi
}

// emfLine is an EMF line's members that the tests read.
type emfLine struct {
	AWS struct {
		Timestamp int64 `json:"Timestamp"`
	} `json:"_aws"`
	Service  string  `json:"Service"`
	Requests float64 `json:"Requests"`
	Latency  struct {
		Values []float64 `json:"Values"`
		Counts []float64 `json:"Counts"`
	} `json:"Latency"`
}

// emfFor returns the EMF lines in out for service.
func emfFor(t *testing.T, out, service string) []emfLine {
	t.Helper()
	var found []emfLine
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var l emfLine
		require.NoError(t, json.Unmarshal([]byte(line), &l), line)
		if l.Service == service {
			found = append(found, l)
		}
	}
	return found
}

// noNext fails if the extension has called event/next.
func noNext(t *testing.T, api *fakeAPI, why string) {
	t.Helper()
	select {
	case <-api.nexts:
		t.Fatalf("the extension called event/next %s", why)
	default:
	}
}

func TestExtensionWritesMetricsWhenTheInvocationEnds(t *testing.T) {
	be := newBackend(t)
	api := newFakeAPI(t)
	front, tapi := withTelemetryAPI(t, api, false)
	cfg := loadConfig(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)})
	done, logs, metrics := runExtension(t, front, lambdaext.Options{Config: cfg, TelemetryListen: "127.0.0.1:0"})

	sub := recvSub(t, tapi.Subscribed, "the Telemetry API subscription")
	assert.Equal(t, fakeID, sub.ExtensionID)
	assert.Equal(t, []string{"platform"}, sub.Types)
	assert.True(t, strings.HasPrefix(sub.Destination.URI, "http://127.0.0.1:"), sub.Destination.URI)
	require.NotNil(t, sub.Buffering)
	assert.Equal(t, 25, sub.Buffering.TimeoutMs, "the shortest buffering Lambda allows")
	api.waitNext(t)
	proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

	for i, runtimeDoneFirst := range []bool{false, true} {
		id := fmt.Sprintf("req-%d", i)
		start := time.Now()
		if runtimeDoneFirst {
			// The event may reach the listener before the INVOKE is
			// handled; it is kept for it.
			require.NoError(t, tapi.Send(context.Background(), telemetryapi.RuntimeDone(id, "success", time.Now(), 0)))
		}
		api.send(extapi.Event{EventType: extapi.Invoke, RequestID: id, DeadlineMs: time.Now().Add(30 * time.Second).UnixMilli()})
		if !runtimeDoneFirst {
			waitUntil(t, "the INVOKE to be handled", func() bool { return findLog(t, logs.String(), "invoke") != nil })
			// The function calls the proxy during the invocation.
			resp, _ := proxyGet(t, proxyAddr, "users")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			noNext(t, api, "before the runtime finished the invocation")
			assert.Empty(t, emfFor(t, metrics.String(), "/svc/users"), "nothing written before the invocation ends")
			require.NoError(t, tapi.Send(context.Background(),
				telemetryapi.Start(id, start), telemetryapi.RuntimeDone(id, "success", time.Now(), time.Since(start))))
		}
		next := api.waitNext(t)
		if !runtimeDoneFirst {
			lines := emfFor(t, metrics.String(), "/svc/users")
			require.Len(t, lines, 1, "the invocation's metrics are written before its end (event/next): %s", metrics.String())
			assert.EqualValues(t, 1, lines[0].Requests)
			assert.Equal(t, []float64{1}, lines[0].Latency.Counts)
			ts := time.UnixMilli(lines[0].AWS.Timestamp)
			assert.False(t, ts.Before(start.Truncate(time.Millisecond)), "Timestamp %v is inside the invocation, after its start %v", ts, start)
			assert.False(t, ts.After(next), "Timestamp %v is inside the invocation, before its end %v", ts, next)
		}
	}
	assert.Len(t, emfFor(t, metrics.String(), "/svc/users"), 1, "an invocation without requests writes nothing")

	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
	require.NoError(t, done.wait(t))
	assert.NotContains(t, logs.String(), "no Telemetry API")
}

// TestExtensionWithoutTelemetryAPI runs the extension against an API that
// answers as the Runtime Interface Emulator does (no Telemetry API): it
// says so once, at info, and writes an invocation's metrics when the next
// event arrives, timestamped with the start of the invocation's last request.
func TestExtensionWithoutTelemetryAPI(t *testing.T) {
	be := newBackend(t)
	api := newFakeAPI(t)
	front, _ := withTelemetryAPI(t, api, true)
	cfg := loadConfig(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port)})
	done, logs, metrics := runExtension(t, front, lambdaext.Options{Config: cfg, TelemetryListen: "127.0.0.1:0"})
	api.waitNext(t)
	proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

	var fallback []map[string]any
	for _, l := range logLines(t, logs.String()) {
		if strings.HasPrefix(fmt.Sprint(l["msg"]), "no Telemetry API") {
			fallback = append(fallback, l)
		}
	}
	require.Len(t, fallback, 1, "the fallback is logged once")
	assert.Equal(t, "INFO", fallback[0]["level"])
	assert.Contains(t, fallback[0]["err"], "Telemetry.NotSupported")

	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-1", DeadlineMs: time.Now().Add(30 * time.Second).UnixMilli()})
	api.waitNext(t)
	before := time.Now()
	resp, _ := proxyGet(t, proxyAddr, "users")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	after := time.Now()

	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-2", DeadlineMs: time.Now().Add(30 * time.Second).UnixMilli()})
	api.waitNext(t)
	lines := emfFor(t, metrics.String(), "/svc/users")
	require.Len(t, lines, 1, "req-1's metrics are written before req-2 runs")
	ts := time.UnixMilli(lines[0].AWS.Timestamp)
	assert.False(t, ts.Before(before.Truncate(time.Millisecond)) || ts.After(after),
		"Timestamp %v is req-1's last request (between %v and %v), not req-2's start", ts, before, after)

	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
	require.NoError(t, done.wait(t))
}

// TestExtensionMissingRuntimeDone: when platform.runtimeDone does not come
// before the invocation's deadline, the extension stops waiting at the
// deadline, writes the metrics, and no longer waits for it afterwards.
func TestExtensionMissingRuntimeDone(t *testing.T) {
	api := newFakeAPI(t)
	front, tapi := withTelemetryAPI(t, api, false)
	cfg := loadConfig(t, map[string]string{"SLINKERD_DTAB": "/svc/users=>/$/inet/127.0.0.1/1"})
	done, logs, _ := runExtension(t, front, lambdaext.Options{Config: cfg, TelemetryListen: "127.0.0.1:0"})
	recvSub(t, tapi.Subscribed, "the Telemetry API subscription")
	api.waitNext(t)

	deadline := time.Now().Add(300 * time.Millisecond)
	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "lost", DeadlineMs: deadline.UnixMilli()})
	next := api.waitNext(t)
	assert.False(t, next.Before(deadline.Truncate(time.Millisecond)), "waited until the deadline for runtimeDone")
	assert.Contains(t, logs.String(), "no platform.runtimeDone before the invocation's deadline")

	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "next", DeadlineMs: time.Now().Add(time.Hour).UnixMilli()})
	api.waitNext(t) // no runtimeDone sent: it must not wait for one

	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
	require.NoError(t, done.wait(t))
}

func TestSubscribeTelemetryAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
		notSupp bool
	}{
		{name: "Lambda accepts", status: 200, body: `"OK"`},
		{name: "the emulator's stub", status: 202, body: `{"errorType":"Telemetry.NotSupported","errorMessage":"Telemetry API is not supported"}`,
			wantErr: "not supported", notSupp: true},
		{name: "subscription closed after init", status: 403, body: `{"errorType":"Telemetry.SubscriptionClosed"}`, wantErr: "status 403"},
		{name: "an API without the path", status: 404, body: `404 page not found`, wantErr: "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			var gotBody map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Clone(context.Background())
				_ = json.NewDecoder(r.Body).Decode(&gotBody)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := extapi.NewClient(strings.TrimPrefix(srv.URL, "http://"), srv.Client())
			require.NoError(t, err)
			err = c.SubscribeTelemetry(context.Background(), "http://127.0.0.1:9", []string{"platform"},
				extapi.TelemetryBuffering{MaxItems: 1000, MaxBytes: 262144, TimeoutMs: 25})
			require.NotNil(t, got)
			assert.Equal(t, http.MethodPut, got.Method)
			assert.Equal(t, "/2022-07-01/telemetry", got.URL.Path)
			assert.Equal(t, "2022-12-13", gotBody["schemaVersion"])
			assert.Equal(t, map[string]any{"protocol": "HTTP", "URI": "http://127.0.0.1:9"}, gotBody["destination"])
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, tt.notSupp, errors.Is(err, extapi.ErrTelemetryNotSupported))
		})
	}
}

// recvSub waits up to 10s for a subscription.
func recvSub(t *testing.T, ch <-chan telemetryapi.Subscription, what string) telemetryapi.Subscription {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen within 10s", what)
		return telemetryapi.Subscription{}
	}
}

// waitUntil checks cond until it holds, failing after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s did not happen within 10s", what)
		}
	}
}

// TestExtensionEMFFlushNextEvent: with SLINKERD_EMF_FLUSH=next-event the
// extension does not subscribe to the Telemetry API and never holds an
// invocation open waiting for platform.runtimeDone; the invocation's
// metrics are written at the next event instead.
func TestExtensionEMFFlushNextEvent(t *testing.T) {
	be := newBackend(t)
	api := newFakeAPI(t)
	front, tapi := withTelemetryAPI(t, api, false)
	cfg := loadConfig(t, map[string]string{
		"SLINKERD_DTAB":      fmt.Sprintf("/svc/users=>/$/inet/127.0.0.1/%d", be.port),
		"SLINKERD_EMF_FLUSH": "next-event",
	})
	done, logs, metrics := runExtension(t, front, lambdaext.Options{Config: cfg, TelemetryListen: "127.0.0.1:0"})
	api.waitNext(t)
	select {
	case <-tapi.Subscribed:
		t.Fatal("subscribed to the Telemetry API with SLINKERD_EMF_FLUSH=next-event")
	default:
	}
	proxyAddr := findLog(t, logs.String(), "slinkerd serving")["proxy"].(string)

	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-1", DeadlineMs: time.Now().Add(time.Hour).UnixMilli()})
	api.waitNext(t) // no runtimeDone is ever sent: it must not wait for one
	resp, _ := proxyGet(t, proxyAddr, "users")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, emfFor(t, metrics.String(), "/svc/users"), "nothing is written before the next event")

	api.send(extapi.Event{EventType: extapi.Invoke, RequestID: "req-2", DeadlineMs: time.Now().Add(time.Hour).UnixMilli()})
	api.waitNext(t)
	assert.Len(t, emfFor(t, metrics.String(), "/svc/users"), 1, "req-1's metrics are written at the next event")

	api.send(extapi.Event{EventType: extapi.Shutdown, ShutdownReason: "spindown", DeadlineMs: time.Now().Add(2 * time.Second).UnixMilli()})
	require.NoError(t, done.wait(t))
}
