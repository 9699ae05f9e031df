package h2meta

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// block encodes fields with a fresh HPACK encoder.
func block(fields ...string) []byte {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// frames writes a block as HEADERS and CONTINUATION frames of split
// bytes each (all in one frame when split is 0).
func frames(b []byte, split int, endStream bool) []byte {
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	fr.AllowIllegalWrites = true
	if split <= 0 || split >= len(b) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndHeaders: true, EndStream: endStream})
		return out.Bytes()
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:split], EndStream: endStream})
	for rest := b[split:]; len(rest) > 0; {
		n := min(split, len(rest))
		_ = fr.WriteContinuation(1, n == len(rest), rest[:n])
		rest = rest[n:]
	}
	return out.Bytes()
}

// controlFrames is the frames ReadFrame parses itself, valid and not,
// between others: PING, WINDOW_UPDATE (a zero increment on a stream and
// on the connection), HEADERS with and without padding and priority, a
// PING of the wrong length and on a stream, DATA, RST_STREAM.
func controlFrames() []byte {
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	fr.AllowIllegalWrites = true
	b := block(":status", "200", "a", "b")
	_ = fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	_ = fr.WritePing(true, [8]byte{8})
	_ = fr.WriteWindowUpdate(0, 1000)
	_ = fr.WriteWindowUpdate(3, 1<<31-1)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b, EndHeaders: true, PadLength: 4})
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: b, EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 1, Weight: 9}})
	_ = fr.WriteData(3, false, []byte("body"))
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, BlockFragment: b, EndHeaders: true, EndStream: true})
	_ = fr.WriteRSTStream(7, http2.ErrCodeCancel)
	_ = fr.WriteWindowUpdate(3, 0)                               // a stream error
	_ = fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) // a PING on a stream: a connection error
	return out.Bytes()
}

// outcome is what a reader made of a stream of frames: each header
// block's fields and truncation, then the error that ended it.
type outcome struct {
	blocks []string
	err    string
}

// errClass reduces an error to what the servers act on: a stream error's
// or a connection error's code, or another error.
func errClass(err error) string {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return "stream " + se.Code.String()
	case errors.As(err, &ce):
		return "conn " + http2.ErrCode(ce).String()
	}
	return "other"
}

func describeBlock(mh *http2.MetaHeadersFrame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %d end=%v truncated=%v:", mh.StreamID, mh.StreamEnded(), mh.Truncated)
	for _, f := range mh.Fields {
		fmt.Fprintf(&b, " %q=%q", f.Name, f.Value)
	}
	return b.String()
}

// How readAll reads header blocks.
const (
	xnet      = iota // x/net's Framer with ReadMetaHeaders
	ours             // Framer, then Reader.Read
	oursFast         // Reader.ReadFrame, over a buffer of 64 KiB
	oursSmall        // Reader.ReadFrame, over a 16-byte buffer (most HEADERS go to the Framer)
)

// readAll reads frames from data in one of the ways above, until an
// error.
func readAll(data []byte, max uint32, how int) outcome {
	br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
	if how == oursSmall {
		br = bufio.NewReaderSize(bytes.NewReader(data), 16)
	}
	fr := http2.NewFramer(nil, br)
	var r *Reader
	if how == xnet {
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.MaxHeaderListSize = max
	} else {
		r = NewReader(max)
	}
	var o outcome
	for {
		var f http2.Frame
		var err error
		switch how {
		case xnet:
			f, err = fr.ReadFrame()
		case ours:
			f, err = fr.ReadFrame()
			if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
				f, err = r.Read(fr, hf)
			}
		default:
			f, err = r.ReadFrame(br, fr, 16<<10)
		}
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				// Both go on after a stream error: the block was decoded.
				o.blocks = append(o.blocks, errClass(err))
				continue
			}
			o.err = errClass(err)
			return o
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			o.blocks = append(o.blocks, describeBlock(f))
		case *http2.PingFrame:
			o.blocks = append(o.blocks, fmt.Sprintf("ping ack=%v %x", f.IsAck(), f.Data))
		case *http2.WindowUpdateFrame:
			o.blocks = append(o.blocks, fmt.Sprintf("window update %d +%d", f.StreamID, f.Increment))
		default:
			h := f.Header()
			o.blocks = append(o.blocks, fmt.Sprintf("%v stream %d flags %v length %d", h.Type, h.StreamID, h.Flags, h.Length))
		}
	}
}

// compareReads fails t unless every way of reading data agrees with
// x/net's.
func compareReads(t *testing.T, data []byte, max uint32) {
	want := readAll(data, max, xnet)
	for _, how := range []int{ours, oursFast, oursSmall} {
		if got := readAll(data, max, how); !reflect.DeepEqual(want, got) {
			t.Fatalf("x/net: %+v\nours (%d):  %+v", want, how, got)
		}
	}
}

// The Reader agrees with x/net's Framer on valid and invalid blocks.
func TestReaderMatchesXNet(t *testing.T) {
	cases := map[string][]byte{
		"request":         frames(block(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/", "x-a", "1"), 0, true),
		"response split":  frames(block(":status", "200", "content-type", "text/plain", "x-b", strings.Repeat("v", 300)), 7, false),
		"upper case name": frames(block(":status", "200", "X-Upper", "1"), 0, false),
		"pseudo after":    frames(block("a", "1", ":status", "200"), 0, false),
		"unknown pseudo":  frames(block(":what", "1"), 0, false),
		"mixed pseudo":    frames(block(":status", "200", ":path", "/"), 0, false),
		"dup pseudo":      frames(block(":status", "200", ":status", "204"), 0, false),
		"bad value":       frames(block(":status", "200", "a", "x\x00y"), 0, false),
		"too large":       frames(block(":status", "200", "a", strings.Repeat("x", 3000), "b", strings.Repeat("y", 3000)), 0, false),
		"trailer budget":  frames(block(":status", "200", "trailer", strings.Repeat("a,", 500)+"b"), 0, false),
		"bad hpack":       frames([]byte{0xff, 0xff, 0xff, 0xff}, 0, false),
		"two blocks":      append(frames(block(":status", "103"), 0, false), frames(block(":status", "200", "a", "b"), 0, true)...),
		"control frames":  controlFrames(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) { compareReads(t, data, 4096) })
	}
}

// FuzzReaderMatchesXNet: for any bytes read as frames, the Reader and
// x/net's Framer decode the same blocks and fail alike.
//
//	go test -run '^$' -fuzz FuzzReaderMatchesXNet -fuzztime 10m ./internal/h2meta
func FuzzReaderMatchesXNet(f *testing.F) {
	f.Add(frames(block(":method", "GET", ":path", "/", "a", "b"), 3, true), uint16(4096))
	f.Add(frames(block(":status", "200", "a", strings.Repeat("x", 200)), 50, false), uint16(256))
	f.Add(frames(block(":status", "200", "A", "b"), 0, false), uint16(4096))
	f.Add(controlFrames(), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) { compareReads(t, data, uint32(max)) })
}
