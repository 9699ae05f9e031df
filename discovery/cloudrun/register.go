package cloudrun

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery"
)

// Kind is the namer kind this package registers: /#/io.l5d.cloudrun.
const Kind = "io.l5d.cloudrun"

func init() { discovery.RegisterNamer(Kind, newNamers) }

func newNamers(p discovery.Params) ([]discovery.Namer, error) {
	dc := p.Config.Discovery
	cfg := Config{Endpoint: dc.CloudRunEndpoint, Audience: dc.IDTokenAudience, Logger: p.Logger}
	cfg.Refresh.TTL, cfg.Refresh.EmptyGrace, cfg.Refresh.Background = dc.TTL, p.EmptyGrace(), p.Watch
	cr, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_CLOUDRUN_ENDPOINT: %w", err)
	}
	return []discovery.Namer{{Prefix: "/#/" + Kind, Namer: cr, State: func() any { return cr.State() }, Close: cr.Close}}, nil
}
