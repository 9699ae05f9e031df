package telemetry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/proxy"
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// checkEMF checks one line against the CloudWatch embedded metric format
// specification and returns it decoded: a JSON object whose _aws holds a
// Timestamp (an integer, epoch milliseconds) and CloudWatchMetrics
// directives; each directive has a Namespace (1 to 255 characters),
// Dimensions (arrays of at most 30 keys, each a top-level string member)
// and Metrics (at most 100, each a Name with a top-level member and a
// valid Unit). A metric's member is a number, or an object of Values and
// Counts of the same length, at most 100, with positive counts.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc), "not JSON: %s", line)
	aws, ok := doc["_aws"].(map[string]any)
	require.True(t, ok, "_aws missing or not an object: %s", line)

	ts, ok := aws["Timestamp"].(json.Number)
	require.True(t, ok, "Timestamp missing or not a number")
	_, err := ts.Int64()
	require.NoError(t, err, "Timestamp %s is an integer of milliseconds", ts)

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
		assert.LessOrEqual(t, len(ns), 255)
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
				require.True(t, present, "dimension %q has no top-level member: %s", name, line)
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
			if u, has := md["Unit"]; has {
				assert.True(t, validUnits[u.(string)], "unit %v", u)
			}
			switch v := v.(type) {
			case json.Number:
			case map[string]any:
				vals, ok1 := v["Values"].([]any)
				cnts, ok2 := v["Counts"].([]any)
				require.True(t, ok1 && ok2, "metric %q: an object needs Values and Counts arrays: %v", name, v)
				require.Equal(t, len(vals), len(cnts), "metric %q: Values and Counts have the same length", name)
				assert.LessOrEqual(t, len(vals), 100, "metric %q: at most 100 values", name)
				for i := range vals {
					_, isNum := vals[i].(json.Number)
					assert.True(t, isNum, "metric %q: value %v is a number", name, vals[i])
					c, isNum := cnts[i].(json.Number)
					require.True(t, isNum, "metric %q: count %v is a number", name, cnts[i])
					f, _ := c.Float64()
					assert.Positive(t, f, "metric %q: counts are positive", name)
				}
			default:
				t.Errorf("metric %q's value %v is neither a number nor Values/Counts", name, v)
			}
		}
	}
	return doc
}

func emfLines(t *testing.T, tel *telemetry.Telemetry, at time.Time) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, tel.FlushEMF(&buf, at))
	var out []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		doc := checkEMF(t, sc.Bytes())
		ts, _ := doc["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64()
		assert.Equal(t, at.UnixMilli(), ts, "the Timestamp is the time given, inside the period")
		out = append(out, doc)
	}
	return out
}

// num reads a json.Number member as a float64.
func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	require.True(t, ok, "%v is not a number", v)
	f, err := n.Float64()
	require.NoError(t, err)
	return f
}

// distribution reads a Values/Counts member.
func distribution(t *testing.T, v any) (values []float64, counts []float64) {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "%v is not a Values/Counts object", v)
	for _, x := range m["Values"].([]any) {
		values = append(values, num(t, x))
	}
	for _, x := range m["Counts"].([]any) {
		counts = append(counts, num(t, x))
	}
	return values, counts
}

// percentile computes the p-th percentile (0 < p ≤ 100) of a
// Values/Counts distribution the way CloudWatch does for such data: the
// value at rank ⌈p/100·N⌉.
func percentile(values, counts []float64, p float64) float64 {
	var n float64
	for _, c := range counts {
		n += c
	}
	rank := math.Ceil(p / 100 * n)
	var seen float64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return values[i]
		}
	}
	return values[len(values)-1]
}

func TestMetricsEMFLinesMatchTheSpecAndCoverThePeriod(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	tel.SetSource(&fakeSource{services: []proxy.ServiceState{{Service: "/svc/a", BudgetExhausted: 2}}})
	for i := 0; i < 4; i++ {
		tel.Request(ok("/svc/a", "/c", "127.0.0.1:1", 10*time.Millisecond))
	}
	tel.Request(&proxy.RequestEvent{Service: "/svc/a", Status: 502, Failed: true, ProxyError: true, Retries: 1, Latency: 20 * time.Millisecond})
	tel.Request(ok("/svc/b", "", "", time.Millisecond))

	at := time.UnixMilli(1_700_000_000_123)
	lines := emfLines(t, tel, at)
	require.Len(t, lines, 2, "one line per service with traffic")
	a := lines[0]
	dir := a["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, "slinkerd", dir["Namespace"], "the default namespace")
	assert.Equal(t, []any{[]any{"Service"}}, dir["Dimensions"], "without AWS_LAMBDA_FUNCTION_NAME, Service alone")
	assert.Equal(t, "/svc/a", a["Service"])
	assert.EqualValues(t, 5, num(t, a["Requests"]))
	assert.EqualValues(t, 4, num(t, a["Successes"]))
	assert.EqualValues(t, 1, num(t, a["Failures"]))
	assert.EqualValues(t, 1, num(t, a["ProxyErrors"]))
	assert.EqualValues(t, 1, num(t, a["Retries"]))
	assert.EqualValues(t, 2, num(t, a["RetryBudgetExhausted"]))
	for _, gauge := range []string{"LatencyP50", "LatencyP90", "LatencyP99", "LatencyP999", "LatencyMax"} {
		assert.NotContains(t, a, gauge, "percentiles are not sent as gauges: CloudWatch would average them")
	}
	values, counts := distribution(t, a["Latency"])
	require.Len(t, values, 2)
	assert.Equal(t, []float64{4, 1}, counts)
	assert.InDelta(t, 10, values[0], 10.0/32)
	assert.InDelta(t, 20, values[1], 20.0/32)
	assert.Equal(t, "/svc/b", lines[1]["Service"])

	// The next flush covers only what happened since.
	assert.Empty(t, emfLines(t, tel, at.Add(time.Second)), "nothing new, nothing written")
	tel.Request(ok("/svc/b", "", "", 3*time.Millisecond))
	lines = emfLines(t, tel, at.Add(2*time.Second))
	require.Len(t, lines, 1)
	assert.Equal(t, "/svc/b", lines[0]["Service"])
	assert.EqualValues(t, 1, num(t, lines[0]["Requests"]))
	values, counts = distribution(t, lines[0]["Latency"])
	assert.Equal(t, []float64{1}, counts, "only the period's observations")
	assert.InDelta(t, 3, values[0], 3.0/32)
}

func TestMetricsEMFNamespaceAndDimensions(t *testing.T) {
	tests := []struct {
		name     string
		cfg      telemetry.EMFConfig
		wantNS   string
		wantDims []any
		wantTop  map[string]string
	}{
		{name: "defaults", wantNS: "slinkerd", wantDims: []any{"Service"},
			wantTop: map[string]string{"Service": "/svc/a"}},
		{name: "function name", cfg: telemetry.EMFConfig{FunctionName: "orders-fn"}, wantNS: "slinkerd",
			wantDims: []any{"FunctionName", "Service"},
			wantTop:  map[string]string{"FunctionName": "orders-fn", "Service": "/svc/a"}},
		{name: "namespace and extra dimensions",
			cfg: telemetry.EMFConfig{Namespace: "Acme/Mesh", FunctionName: "orders-fn",
				Dimensions: []telemetry.EMFDimension{{Name: "Environment", Value: "prod"}, {Name: "Alias", Value: "live"}}},
			wantNS: "Acme/Mesh", wantDims: []any{"FunctionName", "Service", "Environment", "Alias"},
			wantTop: map[string]string{"FunctionName": "orders-fn", "Service": "/svc/a", "Environment": "prod", "Alias": "live"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTel(t, telemetry.Config{EMF: tt.cfg})
			tel.Request(ok("/svc/a", "", "", time.Millisecond))
			lines := emfLines(t, tel, time.UnixMilli(1_700_000_000_000))
			require.Len(t, lines, 1)
			dir := lines[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
			assert.Equal(t, tt.wantNS, dir["Namespace"])
			assert.Equal(t, []any{tt.wantDims}, dir["Dimensions"])
			for k, v := range tt.wantTop {
				assert.Equal(t, v, lines[0][k], k)
			}
		})
	}
}

func TestMetricsEMFDimensionsAreValidated(t *testing.T) {
	many := make([]string, 29)
	for i := range many {
		many[i] = fmt.Sprintf("D%d=v", i)
	}
	tests := []struct {
		name     string
		dims     string
		function string
		wantErr  string
	}{
		{name: "none", dims: ""},
		{name: "two", dims: "Environment=prod, Alias=live"},
		{name: "28 extra with FunctionName and Service is 30", dims: strings.Join(many[:28], ","), function: "f"},
		{name: "29 extra with FunctionName and Service is 31", dims: strings.Join(many, ","), function: "f", wantErr: "31 EMF dimensions, CloudWatch allows 30"},
		{name: "29 extra without FunctionName is 30", dims: strings.Join(many, ",")},
		{name: "empty name", dims: "=prod", wantErr: "empty name"},
		{name: "no value", dims: "Environment", wantErr: "want Name=Value"},
		{name: "empty value", dims: "Environment=", wantErr: "empty value"},
		{name: "twice", dims: "A=1,A=2", wantErr: `"A" given twice`},
		{name: "slinkerd's own key", dims: "Service=x", wantErr: "slinkerd's own"},
		{name: "a metric name", dims: "Latency=x", wantErr: "slinkerd's own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dims, err := telemetry.ParseEMFDimensions(tt.dims)
			if err == nil {
				_, err = telemetry.New(telemetry.Config{EMF: telemetry.EMFConfig{FunctionName: tt.function, Dimensions: dims}})
			}
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := telemetry.New(telemetry.Config{EMF: telemetry.EMFConfig{Namespace: strings.Repeat("n", 256)}})
	assert.ErrorContains(t, err, "CloudWatch allows 255")
}

// TestMetricsEMFLatencyPercentilesAcrossLines checks what the
// distribution is for: percentiles computed from the Values and Counts
// of several lines together (several invocations, environments or
// functions) match the percentiles of all their observations, which an
// average of per-line percentiles does not.
func TestMetricsEMFLatencyPercentilesAcrossLines(t *testing.T) {
	var all []time.Duration
	var values, counts []float64
	// A fast environment and a slow one.
	for env, lat := range []func(i int) time.Duration{
		func(i int) time.Duration { return time.Duration(1000+i*7) * time.Microsecond },
		func(i int) time.Duration { return time.Duration(40+i%50) * time.Millisecond },
	} {
		tel := newTel(t, telemetry.Config{})
		n := 900 - 800*env // 900 fast, 100 slow
		for i := range n {
			tel.Request(ok("/svc/a", "", "", lat(i)))
			all = append(all, lat(i))
		}
		lines := emfLines(t, tel, time.Now())
		require.Len(t, lines, 1)
		v, c := distribution(t, lines[0]["Latency"])
		values, counts = append(values, v...), append(counts, c...)
	}
	// CloudWatch merges the lines' Values and Counts.
	idx := make([]int, len(values))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return values[idx[a]] < values[idx[b]] })
	sv, sc := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		sv[i], sc[i] = values[j], counts[j]
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	for _, p := range []float64{50, 90, 95, 99} {
		want := float64(all[int(math.Ceil(p/100*float64(len(all))))-1]) / 1e6
		got := percentile(sv, sc, p)
		assert.InDelta(t, want, got, want/32+1e-9, "p%v", p)
	}
}

// TestMetricsEMFLatencyAtMost100Values spreads observations over every
// bucket from 1 µs to 30 minutes: the line still holds at most 100
// values, counts add up, and every percentile stays within the
// documented bound of 1/4.
func TestMetricsEMFLatencyAtMost100Values(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	var all []time.Duration
	for d := time.Microsecond; d < 30*time.Minute; d += d/40 + time.Microsecond {
		tel.Request(ok("/svc/wide", "", "", d))
		all = append(all, d)
	}
	lines := emfLines(t, tel, time.Now())
	require.Len(t, lines, 1)
	values, counts := distribution(t, lines[0]["Latency"])
	assert.LessOrEqual(t, len(values), 100)
	assert.Greater(t, len(values), 28, "merged no further than needed")
	assert.True(t, sort.Float64sAreSorted(values), "values ascend")
	var total float64
	for _, c := range counts {
		total += c
	}
	assert.EqualValues(t, len(all), total, "every observation is counted")
	for _, p := range []float64{10, 50, 90, 99, 99.9} {
		want := float64(all[int(math.Ceil(p/100*float64(len(all))))-1]) / 1e6
		got := percentile(values, counts, p)
		assert.InDelta(t, want, got, want/4, "p%v", p)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestMetricsEMFFailedWriteReportsThePeriodAgain(t *testing.T) {
	tel := newTel(t, telemetry.Config{})
	tel.Request(ok("/svc/a", "", "", time.Millisecond))
	err := tel.FlushEMF(failingWriter{}, time.Now())
	require.Error(t, err)
	assert.ErrorContains(t, err, "stdout closed")
	lines := emfLines(t, tel, time.Now())
	require.Len(t, lines, 1)
	assert.EqualValues(t, 1, num(t, lines[0]["Requests"]))
}
