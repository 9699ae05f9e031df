package promexport

// processFamilies reads the process's families: those of client_golang
// v1.25's collectors.NewProcessCollector(ProcessCollectorOpts{}), with the
// same names, types and help, that this platform's readProcess can read.
func processFamilies() []*family { return readProcess().families() }

// processStats are the figures of the process's families. readProcess
// sets those it could read; a nil one is left out, as the Prometheus
// client left out a family whose source failed.
type processStats struct {
	cpu, openFDs, maxFDs, vsize, maxVSize, rss, start, netIn, netOut *float64
}

// families makes a family of each figure that is set.
func (s processStats) families() []*family {
	var out []*family
	for _, f := range [...]struct {
		name, help string
		typ        metricKind
		v          *float64
	}{
		{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", kindCounter, s.cpu},
		{"process_open_fds", "Number of open file descriptors.", kindGauge, s.openFDs},
		{"process_max_fds", "Maximum number of open file descriptors.", kindGauge, s.maxFDs},
		{"process_virtual_memory_bytes", "Virtual memory size in bytes.", kindGauge, s.vsize},
		{"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", kindGauge, s.maxVSize},
		{"process_resident_memory_bytes", "Resident memory size in bytes.", kindGauge, s.rss},
		{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kindGauge, s.start},
		{"process_network_receive_bytes_total", "Number of bytes received by the process over the network.", kindCounter, s.netIn},
		{"process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", kindCounter, s.netOut},
	} {
		if f.v != nil {
			out = append(out, scalarFamily(f.name, f.help, f.typ, *f.v))
		}
	}
	return out
}
