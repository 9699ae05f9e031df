package lambdaext_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slinkerd/slinkerd/adapters/lambdaext/internal/extapi"

	"github.com/slinkerd/slinkerd/internal/leakcheck"

	"github.com/stretchr/testify/require"
)

// TestMain fails the run when a test leaves a goroutine of this package
// or of an HTTP connection behind.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 2*time.Second, "adapters/lambdaext.", "net/http.(*persistConn)", "net/http.(*conn).serve")
}

// fakeAPI is a local Lambda Extensions API: the test hands it events,
// and it records what the extension sent. It speaks the real wire
// format (paths, headers, JSON) that the AWS Lambda Runtime Interface
// Emulator speaks; test/e2e runs the emulator itself.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	// events are handed out by event/next, one per call.
	events chan extapi.Event
	// nexts receives the time of every event/next call, before it waits.
	nexts chan time.Time
	// onFirstNext, if set, runs inside the first event/next call before it
	// waits for an event: the extension must be serving by then.
	onFirstNext func()

	mu sync.Mutex
	// managed makes register answer as on Lambda Managed Instances,
	// where an external extension may register for SHUTDOWN only: any
	// other event is refused with 403 Extension.InvalidEventType.
	managed    bool
	registered http.Header
	regBody    map[string][]string
	errors     []reportedError
	firstNext  bool
	reported   chan reportedError
}

type reportedError struct {
	Path   string
	Type   string
	ID     string
	Report extapi.ErrorReport
}

const fakeID = "0d8b2f5e-9a34-4a3e-8c11-5e7c1a2b3c4d"

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, events: make(chan extapi.Event, 8), nexts: make(chan time.Time, 64), reported: make(chan reportedError, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2020-01-01/extension/register", func(w http.ResponseWriter, r *http.Request) {
		var body map[string][]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"errorType":"InvalidRequest"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		managed := f.managed
		f.mu.Unlock()
		if managed {
			for _, e := range body["events"] {
				if e != "SHUTDOWN" {
					w.WriteHeader(http.StatusForbidden)
					_, _ = io.WriteString(w, `{"errorMessage":"`+e+`: ErrInvalidEventType","errorType":"Extension.InvalidEventType"}`)
					return
				}
			}
		}
		f.mu.Lock()
		f.registered, f.regBody = r.Header.Clone(), body
		f.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", fakeID)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"functionName":"test_function","functionVersion":"$LATEST","handler":"bootstrap"}`)
	})
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Lambda-Extension-Identifier") != fakeID {
			http.Error(w, `{"errorType":"Extension.UnknownExtensionIdentifier"}`, http.StatusForbidden)
			return
		}
		f.nexts <- time.Now()
		f.mu.Lock()
		first := !f.firstNext
		f.firstNext = true
		f.mu.Unlock()
		if first && f.onFirstNext != nil {
			f.onFirstNext()
		}
		select {
		case ev := <-f.events:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Lambda-Extension-Event-Identifier", "ev-1")
			_ = json.NewEncoder(w).Encode(ev)
		case <-r.Context().Done():
		}
	})
	report := func(path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var rep extapi.ErrorReport
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &rep); err != nil {
				http.Error(w, `{"errorType":"InvalidRequest"}`, http.StatusBadRequest)
				return
			}
			re := reportedError{Path: path, Type: r.Header.Get("Lambda-Extension-Function-Error-Type"),
				ID: r.Header.Get("Lambda-Extension-Identifier"), Report: rep}
			f.mu.Lock()
			f.errors = append(f.errors, re)
			f.mu.Unlock()
			f.reported <- re
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"status":"OK"}`)
		}
	}
	mux.HandleFunc("POST /2020-01-01/extension/init/error", report("init/error"))
	mux.HandleFunc("POST /2020-01-01/extension/exit/error", report("exit/error"))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// hostPort is the AWS_LAMBDA_RUNTIME_API value.
func (f *fakeAPI) hostPort() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// send queues ev for the next event/next.
func (f *fakeAPI) send(ev extapi.Event) { f.events <- ev }

// waitNext waits until the extension calls event/next.
func (f *fakeAPI) waitNext(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-f.nexts:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("the extension did not call event/next within 10s")
		return time.Time{}
	}
}

// syncBuffer is a concurrency-safe bytes.Buffer for logs and metrics.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines decodes the JSON log lines in b.
func logLines(t *testing.T, b string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line %q", line)
		out = append(out, m)
	}
	return out
}

// findLog returns the first log line with message msg, or nil.
func findLog(t *testing.T, b, msg string) map[string]any {
	t.Helper()
	for _, m := range logLines(t, b) {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}
