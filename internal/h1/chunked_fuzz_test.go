package h1_test

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzChunked checks ChunkedReader against net/http/httputil's chunked
// reader as the oracle: a body this reader returns whole (data, then
// io.EOF), httputil's returns whole with the same data. It reads size
// bytes a call, from a reader that gives one byte a read if slow, and
// checks that the way of reading does not change the outcome, and that
// no Read that Ready cleared reads the connection. Run it
// with
//
//	go test -run '^$' -fuzz '^FuzzChunked$' -fuzztime 10m -fuzzminimizetime 0 ./internal/h1/
func FuzzChunked(f *testing.F) {
	for _, tc := range chunkCases {
		f.Add([]byte(tc.in), uint8(0))
		f.Add([]byte(tc.in), uint8(0x83))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		size, slow := int(mode&0x7f)+1, mode&0x80 != 0
		data, err := readChunked(in, http.Header{}, size, slow)
		ref, refErr := readChunked(in, nil, 64<<10, false)
		if errors.Is(err, errReadyLied) || errors.Is(refErr, errReadyLied) {
			t.Fatalf("%q read %d a call (slow %v): %v", in, size, slow, errReadyLied)
		}
		if (err == nil) != (refErr == nil) || err == nil && string(data) != string(ref) {
			t.Fatalf("%q read %d a call (slow %v): %q, %v; read whole: %q, %v", in, size, slow, data, err, ref, refErr)
		}
		if err != nil {
			return
		}
		theirs, theirErr := theirChunked(in)
		if theirErr != nil || string(theirs) != string(data) {
			t.Fatalf("%q: read %q, httputil reads %q, %v", in, data, theirs, theirErr)
		}
	})
}
