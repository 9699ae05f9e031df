//go:build !slinkerd_nopromproto

package promexport

import (
	"bytes"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// viaExpfmt writes fams as the full build's exposition writes the text
// format: converted to the data model, through expfmt's encoder.
func viaExpfmt(t testing.TB, fams []*family) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.Format(textContentType))
	for _, f := range fams {
		require.NoError(t, enc.Encode(toDTO(f, false)))
	}
	return b.Bytes()
}

// viaWriteText writes fams as the lean build does.
func viaWriteText(t testing.TB, fams []*family) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, writeText(&b, fams, nil))
	return b.Bytes()
}

// TestTextContentTypeAsNegotiated: the lean build's Content-Type is what
// the full build negotiates for a scraper that asks for text or nothing.
func TestTextContentTypeAsNegotiated(t *testing.T) {
	for _, accept := range []string{"", "text/plain", "*/*", "text/plain;version=0.0.4;q=0.3,*/*;q=0.1"} {
		h := http.Header{}
		h.Set("Accept", accept)
		assert.Equal(t, textContentType, negotiate(h).contentType(), accept)
	}
}

// TestTextAsExpfmt: everything a scrape gathers (slinkerd's families with
// label values that need escaping, histograms, the runtime's summary and
// families, the process's) is written byte for byte as expfmt writes it.
func TestTextAsExpfmt(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	snap := &telemetry.HistogramSnapshot{Count: 6, Sum: 3*time.Second + 1500*time.Microsecond}
	snap.Counts[0], snap.Counts[40], snap.Counts[200], snap.Counts[telemetry.NumBuckets-1] = 1, 2, 2, 1
	tel.AddFamilies(func() []telemetry.Family {
		return []telemetry.Family{
			{Name: "test_counter_total", Help: `Counts "things" \ with a backslash` + "\nand a newline.", Kind: telemetry.KindCounter,
				LabelNames: []string{"zone", "path"},
				Metrics: []telemetry.Metric{
					{LabelValues: []string{"b", `/a"b\c` + "\nd"}, Value: 3},
					{LabelValues: []string{"a", "ünïcode ✓"}, Value: 1e21},
					{LabelValues: []string{"", ""}, Value: 0.1},
				}},
			{Name: "test_gauge", Help: "", Kind: telemetry.KindGauge,
				Metrics: []telemetry.Metric{{Value: -2.5e-7}}},
			{Name: "test_latency_seconds", Help: "Latency.", Kind: telemetry.KindHistogram, LabelNames: []string{"svc"},
				Metrics: []telemetry.Metric{{LabelValues: []string{"/svc/x"}, Hist: snap}, {LabelValues: []string{"/svc/empty"}, Hist: &telemetry.HistogramSnapshot{}}}},
		}
	})
	fams, err := gather(tel)
	require.NoError(t, err)
	want := viaExpfmt(t, fams)
	assert.Equal(t, string(want), string(viaWriteText(t, fams)))
	for _, name := range []string{"test_counter_total", "test_latency_seconds", "go_gc_duration_seconds", "go_info", "process_cpu_seconds_total"} {
		assert.Contains(t, string(want), "# TYPE "+name+" ", "the comparison covers %s", name)
	}

	// The name filter.
	var b bytes.Buffer
	require.NoError(t, writeText(&b, fams, map[string]bool{"test_gauge": true, "go_info": true}))
	assert.Equal(t, "# HELP go_info Information about the Go environment.\n# TYPE go_info gauge\ngo_info{version=\""+
		runtime.Version()+"\"} 1\n# HELP test_gauge \n# TYPE test_gauge gauge\ntest_gauge -2.5e-07\n", b.String())
}

// TestTextAsExpfmtOnOddFamilies: names outside the classic alphabet
// (escaped with underscores), values that are not plain numbers, and a
// summary, which only the runtime's families have.
func TestTextAsExpfmtOnOddFamilies(t *testing.T) {
	fams := []*family{
		scalarFamily("test.dotted-name", "Odd name.", kindGauge, math.NaN(), labelPair{"label.dotted", "v"}, labelPair{"ok", "w"}),
		scalarFamily("0starts_with_digit", "Digit.", kindCounter, math.Inf(+1)),
		scalarFamily("ünïcode", "Unicode.", kindGauge, math.Inf(-1), labelPair{"ë", "x"}),
		scalarFamily("neg_zero", "Negative zero.", kindGauge, math.Copysign(0, -1)),
		scalarFamily("tiny", "Tiny.", kindGauge, 5e-324),
		scalarFamily("big", "Big.", kindGauge, math.MaxFloat64),
		scalarFamily("ints", "Integers.", kindCounter, 1<<53, labelPair{"a", "1"}),
		scalarFamily("minus_one", "Minus one.", kindGauge, -1),
		{name: "test_summary", help: "A summary.", kind: kindSummary, metrics: []metric{
			{labels: []labelPair{{"a", "x"}}, summary: &summary{count: 7, sum: 0.25, quantiles: []quantile{{0, 0.001}, {0.5, math.NaN()}, {1, 2}}}},
			{summary: &summary{}},
		}},
	}
	assert.Equal(t, string(viaExpfmt(t, fams)), string(viaWriteText(t, fams)))
}

// assertNameRulesAsTheDataModel checks this package's name rules against
// the data model's (prometheus/common/model), which the full build used.
func assertNameRulesAsTheDataModel(t *testing.T, s string) {
	t.Helper()
	assert.Equal(t, model.UTF8Validation.IsValidMetricName(s), validMetricName(s), "valid: %q", s)
	assert.Equal(t, model.UTF8Validation.IsValidLabelName(s), validMetricName(s), "valid label: %q", s)
	assert.Equal(t, model.LegacyValidation.IsValidMetricName(s), legacyMetricName(s), "legacy: %q", s)
	assert.Equal(t, model.EscapeName(s, model.UnderscoreEscaping), escapeName(s), "escaped: %q", s)
}

func TestNameRulesAsTheDataModel(t *testing.T) {
	for _, s := range []string{"", "a", "_", ":", "a:b_c9", "9a", "a9", "a.b", "a-b", "ü", "\xff", "a b", "__name__", "é1", ":9"} {
		assertNameRulesAsTheDataModel(t, s)
	}
}

// FuzzTextAsExpfmt writes a family of each kind with fuzzed names, help,
// label and values, and wants expfmt's bytes.
func FuzzTextAsExpfmt(f *testing.F) {
	f.Add("name", "help", "label", "value", 1.5, uint64(3))
	f.Add("a.b-c", "x\\y\nz", "__x", "\"q\"\\\n", math.Inf(-1), uint64(0))
	f.Add("ü", "", "0", "\xff", math.NaN(), uint64(1<<40))
	f.Fuzz(func(t *testing.T, name, help, label, value string, v float64, n uint64) {
		for _, s := range []string{name, label, value} {
			assertNameRulesAsTheDataModel(t, s)
		}
		if name == "" || label == "" {
			t.Skip("gather refuses empty names")
		}
		snap := &telemetry.HistogramSnapshot{Count: n, Sum: time.Duration(n)}
		snap.Counts[int(n%telemetry.NumBuckets)] = n
		labels := []labelPair{{label, value}}
		fams := []*family{
			scalarFamily(name, help, kindCounter, v, labels...),
			scalarFamily(name, help, kindGauge, -v),
			{name: name, help: help, kind: kindSummary, metrics: []metric{{labels: labels, summary: &summary{count: n, sum: v, quantiles: []quantile{{v, v}}}}}},
			{name: name, help: help, kind: kindHistogram, metrics: []metric{{labels: labels, hist: snap}}},
		}
		want := viaExpfmt(t, fams)
		if got := viaWriteText(t, fams); !bytes.Equal(want, got) {
			t.Fatalf("writeText wrote\n%q\nexpfmt\n%q", got, want)
		}
	})
}
