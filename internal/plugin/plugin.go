// Package plugin is where the parts of slinkerd that bring a cloud SDK
// and are not namers register when imported: the SigV4 signer
// (discovery/sigv4) and Google's ID token credentials
// (discovery/idtoken/googleauth). Namers register with package discovery.
package plugin

import (
	"sync"

	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

var (
	mu        sync.Mutex
	signer    SignerFactory
	idTokens  IDTokenFactory
	providers = map[string]bool{} // the one-of parts registered, for the panic
)

// SignerFactory builds the request signers of SLINKERD_SVC_POLICY's
// sign:<service>[:<region>] (SigV4): one per sign spec.
type SignerFactory func() (func(retry.SignSpec) proxy.Signer, error)

// RegisterSigner sets the signer of sign:<service> policies. At most one
// is registered (discovery/sigv4).
func RegisterSigner(f SignerFactory) {
	registerOne(&signer, f, "signer")
}

// Signer returns the registered SignerFactory, or nil.
func Signer() SignerFactory {
	mu.Lock()
	defer mu.Unlock()
	return signer
}

// IDTokenFactory builds the ID token fetcher from the configuration's
// SLINKERD_ID_TOKEN_* settings.
type IDTokenFactory func(discovery.Params) (idtoken.Fetcher, error)

// RegisterIDTokenFetcher sets how ID tokens are fetched
// (discovery/idtoken/googleauth). Without one, tokens come from the
// metadata server.
func RegisterIDTokenFetcher(f IDTokenFactory) {
	registerOne(&idTokens, f, "ID token fetcher")
}

// IDTokenFetcher returns the registered IDTokenFactory, or nil.
func IDTokenFetcher() IDTokenFactory {
	mu.Lock()
	defer mu.Unlock()
	return idTokens
}

func registerOne[F any](slot *F, f F, what string) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := providers[what]; ok {
		panic("discovery: a second " + what + " registered")
	}
	providers[what] = true
	*slot = f
}
