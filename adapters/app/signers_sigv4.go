//go:build !slinkerd_nosigv4

package app

import (
	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery/sigv4"
)

// newSigners returns the SigV4 signer of each sign spec (SLINKERD_SVC_POLICY
// sign:<service>[:<region>]), sharing one default credential chain that is
// loaded when the first request is signed.
func newSigners([]retry.PolicyEntry) (func(retry.SignSpec) proxy.Signer, error) {
	s := sigv4.New(sigv4.Config{})
	return s.Signer, nil
}
