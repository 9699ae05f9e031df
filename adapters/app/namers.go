package app

import (
	"log/slog"
	"time"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
)

// cloudConfig is what the cloud namers are built from.
type cloudConfig struct {
	dc         config.DiscoveryConfig
	emptyGrace time.Duration // refresh.Config.EmptyGrace: negative means none
	watch      bool
	log        *slog.Logger
}

// addFunc registers a namer under prefix, with its /admin/discovery.json
// section when state is not nil.
type addFunc func(prefix string, n name.Namer, state func() any) error

// leftOut names the namers this build left out, with their build tags;
// the namers_*_off.go files add to it.
var leftOut []string

// LeftOut lists the namers that build tags left out of this binary, as
// "io.l5d.cloudrun (-tags slinkerd_nocloudrun)"; empty for a full build.
func LeftOut() []string { return leftOut }
