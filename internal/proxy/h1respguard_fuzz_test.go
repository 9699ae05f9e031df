package proxy

import (
	"errors"
	"testing"
)

// FuzzH1ResponseFramer feeds random response streams to the response
// framer, whole and in pieces. It must never panic, never deliver a byte
// past a boundary it reported (after an error nothing more is delivered,
// and never more than was fed), and must decide the same whatever the
// pieces: a boundary that moved with the read sizes would let some split
// deliver bytes past it.
func FuzzH1ResponseFramer(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\nextra",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nanything",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nclose-delimited",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 099 X\r\n\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i), uint8(i*7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, reqs, step uint8) {
		methods := []string{"GET /a HTTP/1.1", "HEAD /b HTTP/1.1", "POST /c HTTP/1.1"}
		var lines []string
		for i := range int(reqs % 4) {
			lines = append(lines, methods[(int(reqs)/4+i)%len(methods)])
		}
		whole, werr := feedAll(lines, string(stream), max(len(stream), 1))
		pieces, perr := feedAll(lines, string(stream), int(step%16)+1)
		if whole > len(stream) || pieces > len(stream) {
			t.Fatalf("delivered %d and %d of %d bytes", whole, pieces, len(stream))
		}
		if (werr == nil) != (perr == nil) {
			t.Fatalf("whole: %v; in pieces: %v", werr, perr)
		}
		var fe *errOriginFraming
		if werr != nil && !errors.As(werr, &fe) {
			t.Fatalf("error of type %T: %v", werr, werr)
		}
		if werr == nil && whole != len(stream) {
			t.Fatalf("delivered %d of %d bytes without an error", whole, len(stream))
		}
		// An unsolicited boundary is where the stream splits, whatever
		// the pieces; a framing error stops delivery at or before it.
		if werr != nil && perr != nil && werr.Error() == perr.Error() && whole != pieces &&
			(isUnsolicited(werr) || isUnsolicited(perr)) {
			t.Fatalf("boundary at %d whole, at %d in pieces (%v)", whole, pieces, werr)
		}
		if isUnsolicited(perr) && pieces > whole && !isUnsolicited(werr) {
			t.Fatalf("delivered %d in pieces past %d whole (%v / %v)", pieces, whole, perr, werr)
		}
	})
}

func isUnsolicited(err error) bool {
	var fe *errOriginFraming
	return errors.As(err, &fe) && len(fe.msg) >= 11 && fe.msg[:11] == "unsolicited"
}
