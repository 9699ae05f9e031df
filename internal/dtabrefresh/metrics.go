package dtabrefresh

import (
	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// Families returns r's metric families, for telemetry.AddFamilies:
//
//   - slinkerd_dtab_source_info{source,version}: 1, naming the version
//     in force;
//   - slinkerd_dtab_source_fetches_total{result}: fetches by outcome
//     (changed, unchanged, rejected, error, throttled);
//   - slinkerd_dtab_source_rejections_total{reason}: new dtabs rejected
//     (parse, negative).
func Families(r *Refresher) []telemetry.Family {
	st := r.State()
	fams := []telemetry.Family{
		{Name: "slinkerd_dtab_source_info", Help: "The dtab source and the version in force (1).", Kind: telemetry.KindGauge,
			LabelNames: []string{"source", "version"}, Metrics: []telemetry.Metric{{LabelValues: []string{st.Source, st.Version}, Value: 1}}},
		{Name: "slinkerd_dtab_source_fetches_total", Help: "Calls to the dtab source, by outcome.", Kind: telemetry.KindCounter, LabelNames: []string{"result"}},
		{Name: "slinkerd_dtab_source_rejections_total", Help: "New dtabs rejected, the previous one kept, by reason.", Kind: telemetry.KindCounter, LabelNames: []string{"reason"}},
	}
	fetches, rejections := r.Counts()
	for k, n := range fetches {
		fams[1].Metrics = append(fams[1].Metrics, telemetry.Metric{LabelValues: []string{k}, Value: float64(n)})
	}
	for k, n := range rejections {
		fams[2].Metrics = append(fams[2].Metrics, telemetry.Metric{LabelValues: []string{k}, Value: float64(n)})
	}
	return fams
}
