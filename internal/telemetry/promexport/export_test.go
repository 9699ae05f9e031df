//go:build !slinkerd_nopromproto

package promexport

// AddNative is addNative, for the test that rebuilds the exposition the
// Prometheus client made around it.
var AddNative = addNative
