// Package ready is the one question slinkerd's bodies answer for the code
// that copies them: would a Read return without waiting for the network?
// The request bodies of slinkerd's servers, the response bodies of its
// HTTP/2 client and the proxy's wrappers answer it with a Ready method.
// The copiers use the answer to send what they have before a read that
// may wait (a head before its body, a flush before the next chunk), and
// to take a body that has all arrived at once.
package ready

import "io"

// Now reports whether a Read of r would return without waiting, with
// data, its end or an error that is there already. A reader without a
// Ready method may always wait: false.
func Now(r io.Reader) bool {
	x, ok := r.(interface{ Ready() bool })
	return ok && x.Ready()
}
