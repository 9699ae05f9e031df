//go:build !slinkerd_nocloudrun

package app

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery/cloudrun"
)

// addCloudRun registers /#/io.l5d.cloudrun, the Cloud Run Admin API
// through Google's client. Build with -tags slinkerd_nocloudrun to leave
// it (and the Google SDK and gRPC) out.
func addCloudRun(d *discovery, add addFunc, cc cloudConfig) error {
	cfg := cloudrun.Config{Endpoint: cc.dc.CloudRunEndpoint, Audience: cc.dc.IDTokenAudience, Logger: cc.log}
	cfg.Refresh.TTL, cfg.Refresh.EmptyGrace, cfg.Refresh.Background = cc.dc.TTL, cc.emptyGrace, cc.watch
	cr, err := cloudrun.New(cfg)
	if err != nil {
		return fmt.Errorf("SLINKERD_CLOUDRUN_ENDPOINT: %w", err)
	}
	d.closers = append(d.closers, cr.Close)
	return add("/#/io.l5d.cloudrun", cr, func() any { return cr.State() })
}
