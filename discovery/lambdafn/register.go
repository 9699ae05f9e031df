package lambdafn

import (
	"fmt"
	"net/http"

	"github.com/slinkerd/slinkerd/discovery"
)

// Kind is the namer kind this package registers: /#/io.l5d.lambda, and
// /#/io.l5d.lambda.stream beside it.
const Kind = "io.l5d.lambda"

func init() { discovery.RegisterNamer(Kind, newNamers) }

// newNamers returns the two Lambda namers, with the RoundTripper that
// invokes the functions they bind; the Lambda client is built on first
// use, from the default AWS configuration.
func newNamers(discovery.Params) ([]discovery.Namer, error) {
	t, err := New(Config{})
	if err != nil {
		return nil, fmt.Errorf("lambda transport: %w", err)
	}
	tr := map[string]http.RoundTripper{TransportKind: t}
	return []discovery.Namer{
		{Prefix: Prefix, Namer: Namer{}, Transports: tr},
		{Prefix: StreamPrefix, Namer: Namer{Stream: true}},
	}, nil
}
