package sigv4

import (
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/plugin"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// init registers SigV4 as the signer of SLINKERD_SVC_POLICY's
// sign:<service>[:<region>]: one default credential chain, loaded when
// the first request is signed.
func init() {
	plugin.RegisterSigner(func() (func(retry.SignSpec) proxy.Signer, error) {
		return New(Config{}).Signer, nil
	})
}
