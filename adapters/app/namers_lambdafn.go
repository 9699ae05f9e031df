//go:build !slinkerd_nolambdafn

package app

import (
	"fmt"
	"net/http"

	"github.com/slinkerd/slinkerd/discovery/lambdafn"
)

// addLambdaFn registers /#/io.l5d.lambda and /#/io.l5d.lambda.stream,
// which bind Lambda functions to endpoints that the RoundTripper of
// lambdaTransports invokes. Build with -tags slinkerd_nolambdafn to leave them (and the
// Lambda SDK) out.
func addLambdaFn(_ *discovery, add addFunc, _ cloudConfig) error {
	if err := add(lambdafn.Prefix, lambdafn.Namer{}, nil); err != nil {
		return err
	}
	return add(lambdafn.StreamPrefix, lambdafn.Namer{Stream: true}, nil)
}

// lambdaTransports returns the proxy's RoundTrippers for endpoints of
// the Lambda namers (proxy.TransportConfig.ByKind). The Lambda client is
// built on first use, from the default AWS configuration.
func lambdaTransports() (map[string]http.RoundTripper, error) {
	t, err := lambdafn.New(lambdafn.Config{})
	if err != nil {
		return nil, fmt.Errorf("lambda transport: %w", err)
	}
	return map[string]http.RoundTripper{lambdafn.TransportKind: t}, nil
}
