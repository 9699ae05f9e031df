package telemetry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/core/telemetry"
)

// checkEMF checks one line against the CloudWatch embedded metric format
// specification: a JSON object whose _aws holds a Timestamp in epoch
// milliseconds and CloudWatchMetrics directives; each directive has a
// Namespace, Dimensions (arrays of at most 30 keys, each a top-level
// string member) and Metrics (at most 100, each a Name with a numeric
// top-level member and a valid Unit).
func checkEMF(t *testing.T, line []byte, now time.Time) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(line, &doc), "not JSON: %s", line)
	aws, ok := doc["_aws"].(map[string]any)
	require.True(t, ok, "_aws missing or not an object: %s", line)

	ts, ok := aws["Timestamp"].(float64)
	require.True(t, ok, "Timestamp missing or not a number")
	assert.Equal(t, float64(now.UnixMilli()), ts, "Timestamp is epoch milliseconds")

	dirs, ok := aws["CloudWatchMetrics"].([]any)
	require.True(t, ok, "CloudWatchMetrics missing or not an array")
	require.NotEmpty(t, dirs)
	validUnits := map[string]bool{"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true,
		"Count": true, "Count/Second": true, "Percent": true, "None": true}
	for _, d := range dirs {
		dir, ok := d.(map[string]any)
		require.True(t, ok)
		ns, ok := dir["Namespace"].(string)
		require.True(t, ok, "Namespace missing")
		assert.NotEmpty(t, ns)
		dims, ok := dir["Dimensions"].([]any)
		require.True(t, ok, "Dimensions missing")
		for _, set := range dims {
			keys, ok := set.([]any)
			require.True(t, ok, "a dimension set is an array")
			assert.LessOrEqual(t, len(keys), 30)
			for _, k := range keys {
				name, ok := k.(string)
				require.True(t, ok)
				v, present := doc[name]
				require.True(t, present, "dimension %q has no top-level member", name)
				_, isString := v.(string)
				assert.True(t, isString, "dimension %q's value is a string", name)
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		require.True(t, ok, "Metrics missing")
		assert.LessOrEqual(t, len(metrics), 100)
		for _, m := range metrics {
			md, ok := m.(map[string]any)
			require.True(t, ok)
			name, ok := md["Name"].(string)
			require.True(t, ok, "metric Name missing")
			v, present := doc[name]
			require.True(t, present, "metric %q has no top-level value", name)
			_, isNum := v.(float64)
			assert.True(t, isNum, "metric %q's value %v is numeric", name, v)
			if u, has := md["Unit"]; has {
				assert.True(t, validUnits[u.(string)], "unit %v", u)
			}
		}
	}
	return doc
}

func emfLines(t *testing.T, tel *telemetry.Telemetry, now time.Time) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, tel.FlushEMF(&buf, now))
	var out []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		out = append(out, checkEMF(t, sc.Bytes(), now))
	}
	return out
}

func TestMetricsEMFLinesMatchTheSpecAndCoverTheInterval(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	tel.SetSource(&fakeSource{services: []proxy.ServiceState{{Service: "/svc/a", BudgetExhausted: 2}}})
	for i := 0; i < 4; i++ {
		tel.Request(ok("/svc/a", "/c", "127.0.0.1:1", 10*time.Millisecond))
	}
	tel.Request(&proxy.RequestEvent{Service: "/svc/a", Status: 502, Failed: true, ProxyError: true, Retries: 1, Latency: 20 * time.Millisecond})
	tel.Request(ok("/svc/b", "", "", time.Millisecond))

	now := time.UnixMilli(1_700_000_000_123)
	lines := emfLines(t, tel, now)
	require.Len(t, lines, 2, "one line per service with traffic")
	a := lines[0]
	assert.Equal(t, "/svc/a", a["service"])
	assert.EqualValues(t, 5, a["Requests"])
	assert.EqualValues(t, 4, a["Successes"])
	assert.EqualValues(t, 1, a["Failures"])
	assert.EqualValues(t, 1, a["ProxyErrors"])
	assert.EqualValues(t, 1, a["Retries"])
	assert.EqualValues(t, 2, a["RetryBudgetExhausted"])
	assert.InDelta(t, 10, a["LatencyP50"], 10.0/16)
	assert.InDelta(t, 20, a["LatencyMax"], 20.0/16+0.01)
	assert.Equal(t, "slinkerd", a["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"])
	assert.Equal(t, "/svc/b", lines[1]["service"])

	// The next flush covers only what happened since.
	assert.Empty(t, emfLines(t, tel, now.Add(time.Second)), "nothing new, nothing written")
	tel.Request(ok("/svc/b", "", "", 3*time.Millisecond))
	lines = emfLines(t, tel, now.Add(2*time.Second))
	require.Len(t, lines, 1)
	assert.Equal(t, "/svc/b", lines[0]["service"])
	assert.EqualValues(t, 1, lines[0]["Requests"])
	assert.InDelta(t, 3, lines[0]["LatencyP99"], 3.0/16)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestMetricsEMFFailedWriteReportsTheIntervalAgain(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	tel.Request(ok("/svc/a", "", "", time.Millisecond))
	err := tel.FlushEMF(failingWriter{}, time.Now())
	require.Error(t, err)
	assert.ErrorContains(t, err, "stdout closed")
	lines := emfLines(t, tel, time.Now())
	require.Len(t, lines, 1)
	assert.EqualValues(t, 1, lines[0]["Requests"])
}
