package promexport

import (
	"path"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"
)

// runtimeFamilies reads the Go runtime's families as client_golang v1.25's
// collectors.NewGoCollector() with its default options reported them (see
// its go_collector.go and go_collector_latest.go): goroutines, threads, GC
// pauses, the last GC, go_info; the go_memstats_* families of
// runtime.MemStats, read from runtime/metrics (which does not stop the
// world); and the runtime/metrics that collector exports by default
// (GOGC, GOMEMLIMIT, GOMAXPROCS), with their runtime descriptions as help.
func runtimeFamilies() []*family {
	out := make([]*family, 0, 8+len(memStatsFamilies))

	out = append(out,
		scalarFamily("go_goroutines", "Number of goroutines that currently exist.", kindGauge, float64(runtime.NumGoroutine())),
		scalarFamily("go_threads", "Number of OS threads created.", kindGauge, numThreads()),
	)

	stats := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&stats)
	quantiles := make([]quantile, len(stats.PauseQuantiles))
	for i, pq := range stats.PauseQuantiles {
		quantiles[i] = quantile{q: float64(i) / float64(len(stats.PauseQuantiles)-1), value: pq.Seconds()}
	}
	out = append(out,
		&family{
			name: "go_gc_duration_seconds",
			help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
			kind: kindSummary,
			metrics: []metric{{summary: &summary{
				count:     uint64(stats.NumGC),
				sum:       stats.PauseTotal.Seconds(),
				quantiles: quantiles,
			}}},
		},
		scalarFamily("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", kindGauge, float64(stats.LastGC.UnixNano())/1e9),
		scalarFamily("go_info", "Information about the Go environment.", kindGauge, 1,
			labelPair{"version", runtime.Version()}),
	)

	// One read of runtime/metrics, for a consistent snapshot: the metrics
	// exported as they are, then those the MemStats figures come from.
	var exported []metrics.Description
	for _, d := range metrics.All() {
		if exportedByDefault(d.Name) {
			exported = append(exported, d)
		}
	}
	samples := make([]metrics.Sample, len(exported)+len(memStatsSources))
	for i, d := range exported {
		samples[i].Name = d.Name
	}
	for i, name := range memStatsSources {
		samples[len(exported)+i].Name = name
	}
	metrics.Read(samples)

	for i, d := range exported {
		if f := runtimeMetricFamily(d, samples[i].Value); f != nil {
			out = append(out, f)
		}
	}
	ms := memStatsFrom(samples[len(exported):])
	for _, m := range memStatsFamilies {
		out = append(out, scalarFamily(m.name, m.help, m.typ, m.value(&ms)))
	}
	return out
}

// numThreads is the number of OS threads the runtime has created, as the
// Prometheus client counts them.
func numThreads() float64 {
	n, _ := runtime.ThreadCreateProfile(nil)
	return float64(n)
}

// exportedByDefault tells whether the Go collector exports runtime metric
// name with its default options. It matches its default rule, the
// unanchored regular expression
// "/gc/gogc:percent|/gc/gomemlimit:bytes|/sched/gomaxprocs:threads".
func exportedByDefault(name string) bool {
	return strings.Contains(name, "/gc/gogc:percent") ||
		strings.Contains(name, "/gc/gomemlimit:bytes") ||
		strings.Contains(name, "/sched/gomaxprocs:threads")
}

// runtimeMetricFamily makes the family of runtime metric d, named, typed
// and described as the Go collector does (its RuntimeMetricsToProm): go_,
// then the metric's path and unit with / and - as _, then _total for a
// cumulative one; help is the runtime's description with "Sourced from
// <name>."; the unit is set on the family. It returns nil for a name that
// makes no valid metric name and for a histogram (none is exported by
// default).
func runtimeMetricFamily(d metrics.Description, v metrics.Value) *family {
	key, unit, _ := strings.Cut(d.Name, ":")
	subsystem := strings.NewReplacer("/", "_", "-", "_").Replace(path.Dir(key[1:]))
	unit = strings.NewReplacer("-", "_", "*", "_", "/", "_per_").Replace(unit)
	name := strings.ReplaceAll(path.Base(key), "-", "_") + "_" + unit
	typ := kindGauge
	if d.Cumulative {
		name += "_total"
		typ = kindCounter
	}
	name = "go_" + subsystem + "_" + name
	if !legacyMetricName(name) {
		return nil
	}
	var x float64
	switch v.Kind() {
	case metrics.KindUint64:
		x = float64(v.Uint64())
	case metrics.KindFloat64:
		x = v.Float64()
	default:
		return nil
	}
	f := scalarFamily(name, d.Description+" Sourced from "+d.Name+".", typ, x)
	f.unit = unit
	return f
}

// memStatsSources are the runtime metrics the go_memstats_* figures are
// made of (the Go collector's rmNamesForMemStatsMetrics), in the order
// memStatsFrom reads them.
var memStatsSources = [...]string{
	"/gc/heap/tiny/allocs:objects",
	"/gc/heap/allocs:objects",
	"/gc/heap/frees:objects",
	"/gc/heap/allocs:bytes",
	"/gc/heap/objects:objects",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/other:bytes",
}

// memStatsFrom fills a runtime.MemStats from samples of memStatsSources,
// as the Go collector's memStatsFromRM does; a metric this Go does not
// have counts as 0.
func memStatsFrom(s []metrics.Sample) runtime.MemStats {
	at := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	var ms runtime.MemStats
	// MemStats counts tiny allocations in both Mallocs and Frees.
	tiny := at(0)
	ms.Mallocs = at(1) + tiny
	ms.Frees = at(2) + tiny
	ms.TotalAlloc = at(3)
	ms.HeapObjects = at(4)
	ms.NextGC = at(5)
	ms.Sys = at(6)
	ms.HeapAlloc = at(7)
	ms.Alloc = ms.HeapAlloc
	ms.HeapInuse = ms.HeapAlloc + at(8)
	ms.HeapReleased = at(9)
	ms.HeapIdle = ms.HeapReleased + at(10)
	ms.HeapSys = ms.HeapInuse + ms.HeapIdle
	ms.StackInuse = at(11)
	ms.StackSys = ms.StackInuse + at(12)
	ms.MSpanInuse = at(13)
	ms.MSpanSys = ms.MSpanInuse + at(14)
	ms.MCacheInuse = at(15)
	ms.MCacheSys = ms.MCacheInuse + at(16)
	ms.BuckHashSys = at(17)
	ms.GCSys = at(18)
	ms.OtherSys = at(19)
	return ms
}

// memStatsFamilies are the go_memstats_* families, with the Go
// collector's names, types and help (its goRuntimeMemStats), help text
// typos included.
var memStatsFamilies = [...]struct {
	name, help string
	typ        metricKind
	value      func(*runtime.MemStats) float64
}{
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.Alloc) }},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.",
		kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.TotalAlloc) }},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.Sys) }},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.",
		kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.Mallocs) }},
	{"go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.",
		kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.Frees) }},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapAlloc) }},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapSys) }},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapIdle) }},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapInuse) }},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapReleased) }},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapObjects) }},
	{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.StackInuse) }},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.StackSys) }},
	{"go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MSpanInuse) }},
	{"go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MSpanSys) }},
	{"go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MCacheInuse) }},
	{"go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MCacheSys) }},
	{"go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.BuckHashSys) }},
	{"go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.GCSys) }},
	{"go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.OtherSys) }},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.",
		kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.NextGC) }},
}
