package googleauth

import (
	"fmt"

	"github.com/slinkerd/slinkerd/internal/plugin"

	"github.com/slinkerd/slinkerd/discovery"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
)

// init registers cloud.google.com/go/auth as the ID token fetcher:
// application default credentials, else the metadata server, and
// impersonation with SLINKERD_ID_TOKEN_IMPERSONATE.
func init() {
	plugin.RegisterIDTokenFetcher(func(p discovery.Params) (idtoken.Fetcher, error) {
		dc := p.Config.Discovery
		f, err := New(Config{ImpersonateServiceAccount: dc.IDTokenImpersonate, IAMCredentialsEndpoint: dc.IDTokenIAMEndpoint})
		if err != nil {
			return nil, fmt.Errorf("SLINKERD_ID_TOKEN_*: %w", err)
		}
		return f, nil
	})
}
