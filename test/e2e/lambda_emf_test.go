package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// emfRecord is one EMF line of the extension's output, decoded, with its
// position in the output.
type emfRecord struct {
	pos  int
	line string
	doc  map[string]any
}

// emfRecords returns the EMF lines in out for service, checked against
// the CloudWatch embedded metric format specification: an integer
// Timestamp in milliseconds; each directive's Namespace, Dimensions (at
// most 30 keys per set, each a top-level string) and Metrics (each a
// top-level member: a number, or Values and Counts of the same length,
// at most 100, counts positive).
func emfRecords(t *testing.T, out, service string) []emfRecord {
	t.Helper()
	var found []emfRecord
	pos := 0
	for _, line := range strings.Split(out, "\n") {
		at := pos
		pos += len(line) + 1
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"_aws"`) {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var doc map[string]any
		require.NoError(t, dec.Decode(&doc), "EMF line is JSON: %s", line)
		if doc["Service"] != service {
			continue
		}
		aws := doc["_aws"].(map[string]any)
		ts, ok := aws["Timestamp"].(json.Number)
		require.True(t, ok, "Timestamp is a number: %s", line)
		_, err := ts.Int64()
		require.NoError(t, err, "Timestamp is an integer: %s", line)
		for _, d := range aws["CloudWatchMetrics"].([]any) {
			dir := d.(map[string]any)
			require.NotEmpty(t, dir["Namespace"], line)
			for _, set := range dir["Dimensions"].([]any) {
				keys := set.([]any)
				require.LessOrEqual(t, len(keys), 30)
				for _, k := range keys {
					_, isString := doc[k.(string)].(string)
					require.True(t, isString, "dimension %v is a top-level string: %s", k, line)
				}
			}
			for _, m := range dir["Metrics"].([]any) {
				name := m.(map[string]any)["Name"].(string)
				switch v := doc[name].(type) {
				case json.Number:
				case map[string]any:
					vals, cnts := v["Values"].([]any), v["Counts"].([]any)
					require.Equal(t, len(vals), len(cnts), "%s: Values and Counts", name)
					require.LessOrEqual(t, len(vals), 100)
					for _, c := range cnts {
						f, err := c.(json.Number).Float64()
						require.NoError(t, err)
						require.Positive(t, f, "%s: counts are positive", name)
					}
				default:
					t.Fatalf("metric %s has no valid top-level member: %s", name, line)
				}
			}
		}
		found = append(found, emfRecord{pos: at, line: line, doc: doc})
	}
	return found
}

func (r emfRecord) timestamp() time.Time {
	ms, _ := r.doc["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64()
	return time.UnixMilli(ms)
}

// TestLambdaEMF runs the extension under the AWS Lambda Runtime Interface
// Emulator with a namespace and an extra dimension, and checks the EMF
// lines with the specification's rules.
//
// The emulator has no Telemetry API (it answers the subscription with
// 202 Telemetry.NotSupported), so the extension runs its fallback, which
// guarantees: an invocation's metrics are written before the next
// invocation ends (the emulator prints END only once every extension
// has asked for its next event), or before SHUTDOWN completes, and are
// timestamped inside the invocation (at the start of its last request), not at the
// time they are written. The Telemetry API path (written before the
// invocation itself ends) is tested against test/fakes/telemetryapi in
// adapters/lambdaext.
func TestLambdaEMF(t *testing.T) {
	hello := echoL5D(t, "hello")
	bootstrap := buildFunction(t, t.TempDir())
	rie := startRIE(t, bootstrap, true, map[string]string{
		"SLINKERD_LISTEN":             fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_ADMIN_LISTEN":       fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		"SLINKERD_DTAB":               inetDtab("hello", hello.Port) + ";" + inetDtab("other", hello.Port),
		"SLINKERD_EMF_NAMESPACE":      "E2E/Mesh",
		"SLINKERD_EMF_DIMENSIONS":     "Environment=e2e",
		"AWS_LAMBDA_FUNCTION_NAME":    "emf-fn",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
	})

	invoke := func(service string) (start, end time.Time) {
		start = time.Now()
		status, body := rie.invoke(t, fmt.Sprintf(`{"service":%q}`, service))
		end = time.Now()
		require.Equal(t, http.StatusOK, status, "emulator answer: %s", body)
		var fr functionResponse
		require.NoError(t, json.Unmarshal(body, &fr), "function answer: %s", body)
		require.Equal(t, http.StatusOK, fr.Status, "the proxy's answer: %s", fr.Body)
		return start, end
	}
	start1, end1 := invoke("hello")
	start2, end2 := invoke("other")

	// Invocation 1's metrics, written during invocation 2, before its END.
	var hellos []emfRecord
	waitFor(t, 10*time.Second, "the EMF line of invocation 1", func() bool {
		hellos = emfRecords(t, rie.Logs(), "/svc/hello")
		return len(hellos) > 0
	})
	require.Len(t, hellos, 1)
	h := hellos[0]
	dir := h.doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, "E2E/Mesh", dir["Namespace"])
	assert.Equal(t, []any{[]any{"FunctionName", "Service", "Environment"}}, dir["Dimensions"])
	assert.Equal(t, "emf-fn", h.doc["FunctionName"])
	assert.Equal(t, "e2e", h.doc["Environment"])
	assert.Equal(t, json.Number("1"), h.doc["Requests"])
	ts := h.timestamp()
	assert.False(t, ts.Before(start1.Truncate(time.Millisecond)) || ts.After(end1),
		"invocation 1's Timestamp %v lies inside it [%v, %v], not in invocation 2 (from %v)", ts, start1, end1, start2)

	var logs string
	end2Pos := -1
	waitFor(t, 10*time.Second, "invocation 2's END line", func() bool {
		logs = rie.Logs()
		if ids := invokeIDs(logs); len(ids) == 2 {
			end2Pos = strings.Index(logs, "END RequestId: "+ids[1])
		}
		return end2Pos >= 0
	})
	assert.Less(t, h.pos, end2Pos, "invocation 1's metrics are written before invocation 2 ends")
	assert.Len(t, extLogs(logs, "no Telemetry API: an invocation's metrics are written when the next event arrives, not when it ends"), 1,
		"the fallback is logged once, at info")

	// Invocation 2's metrics, at SHUTDOWN, before the extension exits.
	require.NoError(t, rie.Signal(syscall.SIGTERM))
	_, ok := rie.Wait(15 * time.Second)
	require.True(t, ok, "the emulator did not exit within 15s of SIGTERM")
	logs = rie.Logs()
	others := emfRecords(t, logs, "/svc/other")
	require.Len(t, others, 1, "invocation 2's metrics are written at SHUTDOWN")
	ts = others[0].timestamp()
	assert.False(t, ts.Before(start2.Truncate(time.Millisecond)) || ts.After(end2),
		"invocation 2's Timestamp %v lies inside it [%v, %v], not at SHUTDOWN", ts, start2, end2)
	stopped := strings.Index(logs, `"message":"slinkerd lambda extension stopped"`)
	require.Positive(t, stopped)
	assert.Less(t, others[0].pos, stopped, "written before SHUTDOWN completes")
}

// invokeIDs returns the request IDs of the emulator's START lines, in
// order.
func invokeIDs(logs string) []string {
	var ids []string
	for _, line := range strings.Split(logs, "\n") {
		if rest, ok := strings.CutPrefix(line, "START RequestId: "); ok {
			id, _, _ := strings.Cut(rest, " ")
			ids = append(ids, id)
		}
	}
	return ids
}
