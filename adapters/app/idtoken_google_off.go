//go:build slinkerd_nocloudrun

package app

import (
	"errors"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
)

// idTokenFetcher returns nil, the metadata server's fetcher: this build
// has no Google SDK, so no application default credentials and no
// impersonation.
func idTokenFetcher(dc config.DiscoveryConfig) (idtoken.Fetcher, error) {
	if dc.IDTokenImpersonate != "" {
		return nil, errors.New("SLINKERD_ID_TOKEN_IMPERSONATE: this build leaves the Google SDK out (-tags slinkerd_nocloudrun)")
	}
	return nil, nil
}
