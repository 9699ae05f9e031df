package promexport

import (
	"runtime/metrics"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRuntimeMetricNamesAsThePrometheusClient names every scalar runtime
// metric of this Go as the Go collector does with all of them enabled,
// not only the three exported by default: same name, type, help and unit.
func TestRuntimeMetricNamesAsThePrometheusClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)))
	fams, err := reg.Gather()
	require.NoError(t, err)
	want := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		want[f.GetName()] = f
	}

	all := metrics.All()
	samples := make([]metrics.Sample, len(all))
	for i, d := range all {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	n := 0
	for i, d := range all {
		got := runtimeMetricFamily(d, samples[i].Value)
		if d.Kind == metrics.KindFloat64Histogram {
			assert.Nil(t, got, "%s: histograms are not served", d.Name)
			continue
		}
		if got == nil {
			continue // no valid name: the client skips it too
		}
		n++
		w, ok := want[got.name]
		if !assert.True(t, ok, "%s: the client names it otherwise than %s", d.Name, got.name) {
			continue
		}
		assert.Equal(t, w.GetType().String(), got.kind.String(), d.Name)
		assert.Equal(t, w.GetHelp(), got.help, d.Name)
		assert.Equal(t, w.GetUnit(), got.unit, d.Name)
	}
	assert.Greater(t, n, 50, "scalar runtime metrics")
}

func TestExportedByDefault(t *testing.T) {
	var names []string
	for _, d := range metrics.All() {
		if exportedByDefault(d.Name) {
			names = append(names, d.Name)
		}
	}
	assert.ElementsMatch(t, []string{"/gc/gogc:percent", "/gc/gomemlimit:bytes", "/sched/gomaxprocs:threads"}, names)
}
