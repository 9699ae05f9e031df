//go:build slinkerd_nosigv4

package app

import (
	"errors"

	"github.com/slinkerd/slinkerd/core/proxy"
	"github.com/slinkerd/slinkerd/core/retry"
)

func init() { leftOut = append(leftOut, "SigV4 signing, sign:<service> (-tags slinkerd_nosigv4)") }

// newSigners refuses a policy with a sign key: this build has no SigV4
// signer, and sending such requests unsigned would only fail later.
func newSigners(entries []retry.PolicyEntry) (func(retry.SignSpec) proxy.Signer, error) {
	for _, e := range entries {
		if e.Fields&retry.FieldSign != 0 && e.Values.Sign.Service != "" {
			return nil, errors.New(e.Prefix + ": sign: this build leaves SigV4 out (-tags slinkerd_nosigv4)")
		}
	}
	return func(retry.SignSpec) proxy.Signer { return nil }, nil
}
