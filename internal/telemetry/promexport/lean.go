//go:build slinkerd_nopromproto

package promexport

import (
	"io"
	"net/http"
)

// This file is the lean build's exposition (-tags slinkerd_nopromproto,
// the Lambda layer's): the text format only, written by writeText. It
// links neither expfmt nor the Prometheus data model's types, and so not
// the protobuf runtime under them: 1.7 MB of binary, and about as
// much resident memory, out of every Lambda function that runs the
// extension, whose /metrics no Prometheus can reach from outside the
// sandbox anyway. A scraper that asks for protobuf gets text, as it would
// from a server without protobuf support, and one that asks for another
// escaping scheme gets underscores, which the Content-Type says.

// LeftOut names what this build of the exposition leaves out, for
// `slinkerd version`.
const LeftOut = "the Prometheus protobuf exposition and native histograms (-tags slinkerd_nopromproto)"

// exposition is the format a scrape is answered in: always the text one.
type exposition struct{}

// negotiate answers every Accept header with the text format.
func negotiate(http.Header) exposition { return exposition{} }

// contentType is the response's Content-Type.
func (exposition) contentType() string { return textContentType }

// encode writes fams as text to w, those in only if it is not nil.
func (exposition) encode(w io.Writer, fams []*family, only map[string]bool) error {
	return writeText(w, fams, only)
}
