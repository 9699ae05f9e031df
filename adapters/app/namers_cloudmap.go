//go:build !slinkerd_nocloudmap

package app

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery/cloudmap"
)

// addCloudMap registers /#/io.l5d.cloudmap, AWS Cloud Map through the AWS
// SDK. Build with -tags slinkerd_nocloudmap to leave it (and the SDK) out.
func addCloudMap(d *discovery, add addFunc, cc cloudConfig) error {
	cfg := cloudmap.Config{
		HealthStatus:    cc.dc.CloudMapHealthStatus,
		WeightAttribute: cc.dc.CloudMapWeightAttribute,
		FullRefresh:     cc.dc.CloudMapFullRefresh,
		Logger:          cc.log,
	}
	cfg.Refresh.TTL, cfg.Refresh.EmptyGrace, cfg.Refresh.Background = cc.dc.TTL, cc.emptyGrace, cc.watch
	cm, err := cloudmap.New(cfg)
	if err != nil {
		return fmt.Errorf("SLINKERD_CLOUDMAP_*: %w", err)
	}
	d.closers = append(d.closers, cm.Close)
	return add("/#/io.l5d.cloudmap", cm, func() any { return cm.State() })
}
