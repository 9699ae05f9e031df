package promexport

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 123456 1600000000 2200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	tests := []struct {
		name    string
		data    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", data: "42 (slinkerd)" + tail, want: procStat{utime: 250, stime: 75, starttime: 123456, vsize: 1600000000, rss: 2200}},
		{name: "command with spaces and parentheses", data: "42 (a) b (c)" + tail, want: procStat{utime: 250, stime: 75, starttime: 123456, vsize: 1600000000, rss: 2200}},
		{name: "no command", data: "42 slinkerd" + tail, wantErr: true},
		{name: "short", data: "42 (slinkerd) S 1 2 3", wantErr: true},
		{name: "not a number", data: "42 (slinkerd) S 1 2 3 0 -1 4194560 100 0 0 0 x 75 0 0 20 0 9 0 123456 1600000000 2200", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.data))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseBootTime(t *testing.T) {
	got, err := parseBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"))
	require.NoError(t, err)
	assert.EqualValues(t, 1700000000, got)
	_, err = parseBootTime([]byte("cpu  1 2 3\n"))
	assert.Error(t, err)
}

const sampleLimits = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             63448                63448                processes 
Max open files            1024                 1048576              files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       63448                63448                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
`

func TestParseLimits(t *testing.T) {
	files, space, err := parseLimits([]byte(sampleLimits))
	require.NoError(t, err)
	assert.EqualValues(t, 1024, files)
	assert.EqualValues(t, uint64(math.MaxUint64), space)

	_, _, err = parseLimits([]byte(sampleLimits + "garbage\n"))
	assert.Error(t, err, "a line that is not a limit")
	_, _, err = parseLimits([]byte("Limit  Soft Limit  Hard Limit  Units\nMax open files            lots                 1048576              files\n"))
	assert.Error(t, err, "a limit that is not a number")
}

const sampleNetstat = `TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 1
IpExt: InNoRoutes InOctets OutOctets InMcastOctets
IpExt: 0 257865800496 257362278548 0
MPTcpExt: MPCapableSYNRX
MPTcpExt: 0
`

func TestParseNetstat(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		in, out float64
		wantErr bool
	}{
		{name: "sample", data: sampleNetstat, in: 257865800496, out: 257362278548},
		{name: "empty", data: ""},
		{name: "no IpExt", data: "TcpExt: A B\nTcpExt: 1 2\n"},
		{name: "lengths differ", data: "TcpExt: A B\nTcpExt: 1\n", wantErr: true},
		{name: "no values line", data: "TcpExt: A B\n", wantErr: true},
		{name: "not a number", data: "IpExt: InOctets\nIpExt: x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, out, err := parseNetstat([]byte(tt.data))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.in, in)
			assert.Equal(t, tt.out, out)
		})
	}
}

// TestProcessAsThePrometheusClient reads this process's families here and
// with the Prometheus client's process collector (procfs), and wants the
// same figures: equal for the limits and the start time, close for what
// moves between the two reads (CPU time, memory, descriptors, network
// bytes, which only grow).
func TestProcessAsThePrometheusClient(t *testing.T) {
	got := map[string]float64{}
	for _, f := range processFamilies() {
		got[f.name] = f.metrics[0].value
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	require.NoError(t, err)
	want := processValues(fams)
	require.Len(t, got, len(want))

	for _, name := range []string{"process_start_time_seconds", "process_max_fds", "process_virtual_memory_max_bytes"} {
		assert.Equal(t, want[name], got[name], name)
	}
	assert.InDelta(t, want["process_cpu_seconds_total"], got["process_cpu_seconds_total"], 1)
	assert.InEpsilon(t, want["process_resident_memory_bytes"], got["process_resident_memory_bytes"], 0.5)
	assert.InEpsilon(t, want["process_virtual_memory_bytes"], got["process_virtual_memory_bytes"], 0.5)
	assert.InDelta(t, want["process_open_fds"], got["process_open_fds"], 2)
	for _, name := range []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
		assert.LessOrEqual(t, got[name], want[name], name)
	}
}

// processValues returns each family's value by name.
func processValues(fams []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		m := f.GetMetric()[0]
		out[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return out
}
