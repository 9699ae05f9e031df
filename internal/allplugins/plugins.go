// Package allplugins links every part that registers itself with package
// discovery (namers, dtab sources, the SigV4 signer, Google's ID token
// credentials): the slinkerd binary imports it, as do tests of the run
// modes. The build tags of plugins_*.go leave the cloud SDKs out of the
// Lambda layer (make layer); a Go program using the library imports only
// the parts it uses instead.
package allplugins

import (
	_ "github.com/slinkerd/slinkerd/discovery/dtabsource/awsstore" // SLINKERD_DTAB_SOURCE=ssm:… and appconfig:…
	_ "github.com/slinkerd/slinkerd/discovery/fs"                  // /#/io.l5d.fs
	_ "github.com/slinkerd/slinkerd/internal/telemetry/promexport" // /metrics
)
