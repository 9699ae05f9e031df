package cloudmap

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery"
)

// Kind is the namer kind this package registers: /#/io.l5d.cloudmap.
const Kind = "io.l5d.cloudmap"

func init() { discovery.RegisterNamer(Kind, newNamers) }

func newNamers(p discovery.Params) ([]discovery.Namer, error) {
	dc := p.Config.Discovery
	cfg := Config{
		HealthStatus:    dc.CloudMapHealthStatus,
		WeightAttribute: dc.CloudMapWeightAttribute,
		FullRefresh:     dc.CloudMapFullRefresh,
		Logger:          p.Logger,
	}
	cfg.Refresh.TTL, cfg.Refresh.EmptyGrace, cfg.Refresh.Background = dc.TTL, p.EmptyGrace(), p.Watch
	cm, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_CLOUDMAP_*: %w", err)
	}
	return []discovery.Namer{{Prefix: "/#/" + Kind, Namer: cm, State: func() any { return cm.State() }, Close: cm.Close}}, nil
}
