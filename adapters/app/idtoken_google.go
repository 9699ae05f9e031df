//go:build !slinkerd_nocloudrun

package app

import (
	"fmt"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/discovery/idtoken/googleauth"
)

// idTokenFetcher returns the ID token fetcher of cloud.google.com/go/auth:
// application default credentials, else the metadata server, and
// impersonation with SLINKERD_ID_TOKEN_IMPERSONATE.
func idTokenFetcher(dc config.DiscoveryConfig) (idtoken.Fetcher, error) {
	f, err := googleauth.New(googleauth.Config{ImpersonateServiceAccount: dc.IDTokenImpersonate, IAMCredentialsEndpoint: dc.IDTokenIAMEndpoint})
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_ID_TOKEN_*: %w", err)
	}
	return f, nil
}
