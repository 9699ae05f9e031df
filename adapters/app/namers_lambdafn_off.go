//go:build slinkerd_nolambdafn

package app

import "net/http"

func init() { leftOut = append(leftOut, "io.l5d.lambda (-tags slinkerd_nolambdafn)") }

// addLambdaFn registers /#/io.l5d.lambda and /#/io.l5d.lambda.stream as
// namers that fail every name: this build has no Lambda SDK.
func addLambdaFn(_ *discovery, add addFunc, _ cloudConfig) error {
	for _, p := range []string{"/#/io.l5d.lambda", "/#/io.l5d.lambda.stream"} {
		n := absentNamer{prefix: p, tag: "slinkerd_nolambdafn"}
		if err := add(n.prefix, n, n.state); err != nil {
			return err
		}
	}
	return nil
}

// lambdaTransports returns no RoundTripper: nothing binds to a function.
func lambdaTransports() (map[string]http.RoundTripper, error) { return nil, nil }
