package promexport

import dto "github.com/prometheus/client_model/go"

// processFamilies reads the process's families: those of client_golang
// v1.25's collectors.NewProcessCollector(ProcessCollectorOpts{}), with the
// same names, types and help, that this platform's readProcess can read.
func processFamilies() []*dto.MetricFamily { return readProcess().families() }

// processStats are the figures of the process's families. readProcess
// sets those it could read; a nil one is left out, as the Prometheus
// client left out a family whose source failed.
type processStats struct {
	cpu, openFDs, maxFDs, vsize, maxVSize, rss, start, netIn, netOut *float64
}

// families makes a family of each figure that is set.
func (s processStats) families() []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, f := range [...]struct {
		name, help string
		typ        dto.MetricType
		v          *float64
	}{
		{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", dto.MetricType_COUNTER, s.cpu},
		{"process_open_fds", "Number of open file descriptors.", dto.MetricType_GAUGE, s.openFDs},
		{"process_max_fds", "Maximum number of open file descriptors.", dto.MetricType_GAUGE, s.maxFDs},
		{"process_virtual_memory_bytes", "Virtual memory size in bytes.", dto.MetricType_GAUGE, s.vsize},
		{"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", dto.MetricType_GAUGE, s.maxVSize},
		{"process_resident_memory_bytes", "Resident memory size in bytes.", dto.MetricType_GAUGE, s.rss},
		{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", dto.MetricType_GAUGE, s.start},
		{"process_network_receive_bytes_total", "Number of bytes received by the process over the network.", dto.MetricType_COUNTER, s.netIn},
		{"process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", dto.MetricType_COUNTER, s.netOut},
	} {
		if f.v != nil {
			out = append(out, scalarFamily(f.name, f.help, f.typ, *f.v))
		}
	}
	return out
}
