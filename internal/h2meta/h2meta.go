// Package h2meta decodes HTTP/2 header blocks for slinkerd's own HTTP/2
// server (internal/h2) and client (internal/h2client), as x/net's Framer
// does when its ReadMetaHeaders is set, without allocating a frame, a
// growing field slice and a closure for every block.
package h2meta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Reader decodes a header block (HEADERS and its CONTINUATIONs) into a
// MetaHeadersFrame it reuses, with the checks of x/net's Framer when its
// ReadMetaHeaders is set (readMetaFrame). The frame and its fields are
// valid until the next Read; a connection's reader goroutine owns its
// Reader and copies what it keeps (the field strings). The Framer must not
// have ReadMetaHeaders set.
type Reader struct {
	dec *hpack.Decoder
	max uint32 // the header list limit (SETTINGS_MAX_HEADER_LIST_SIZE we sent)
	mh  http2.MetaHeadersFrame

	// The frames ReadFrame parses itself, reused.
	hf   http2.HeadersFrame
	ping http2.PingFrame
	wu   http2.WindowUpdateFrame
	// viaFramer: the last frame the Framer read ended in an error, after
	// which it may expect a CONTINUATION (a HEADERS frame without
	// END_HEADERS that it refused as a stream error still counts): the
	// next frame is the Framer's to read and judge.
	viaFramer bool

	// One block's state, for emit.
	headersLeft, trailersLeft uint32
	sawRegular                bool
	invalid                   error
}

// NewReader returns a Reader for a connection whose header list limit
// (the SETTINGS_MAX_HEADER_LIST_SIZE it sent) is max bytes; 0 means 16
// MiB, as for x/net's Framer.
func NewReader(max uint32) *Reader {
	if max == 0 {
		max = 16 << 20
	}
	m := &Reader{max: max}
	m.dec = hpack.NewDecoder(4096, m.emit)
	m.dec.SetMaxStringLength(int(min(uint64(max), 1<<31-1)))
	return m
}

func (m *Reader) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		// The value is not in the error: it may be sensitive.
		m.invalid = fmt.Errorf("invalid header field value for %q", hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if m.sawRegular {
			m.invalid = errors.New("pseudo header field after regular")
		}
	} else {
		m.sawRegular = true
		if !validWireName(hf.Name) {
			m.invalid = fmt.Errorf("invalid header field name %q", hf.Name)
		}
	}
	if m.invalid != nil {
		m.dec.SetEmitEnabled(false)
		return
	}
	// As x/net: "trailer" declarations have a budget of their own.
	left, size := &m.headersLeft, hf.Size()
	if hf.Name == "trailer" {
		n := strings.Count(hf.Value, ",") + 1
		left, size = &m.trailersLeft, uint32(len(hf.Value)-n+1)+uint32(n)*hpack.HeaderField{}.Size()
	}
	if size > *left {
		m.dec.SetEmitEnabled(false)
		m.mh.Truncated = true
		m.headersLeft, m.trailersLeft = 0, 0
		return
	}
	*left -= size
	m.mh.Fields = append(m.mh.Fields, hf)
}

// Read decodes the block that hf starts, reading its CONTINUATION frames
// from fr (whose frame-order check guarantees them). Its errors are those
// of x/net's Framer: a ConnectionError for a block far over the limit, a
// field after an invalid one, or an HPACK failure; a StreamError for an
// invalid field or pseudo-header.
func (m *Reader) Read(fr *http2.Framer, hf *http2.HeadersFrame) (*http2.MetaHeadersFrame, error) {
	return m.read(fr, hf, hf.HeaderBlockFragment())
}

// read is Read, with the HEADERS frame's fragment given: a frame
// ReadFrame parsed itself has none of its own.
func (m *Reader) read(fr *http2.Framer, hf *http2.HeadersFrame, frag []byte) (*http2.MetaHeadersFrame, error) {
	m.mh = http2.MetaHeadersFrame{HeadersFrame: hf, Fields: m.mh.Fields[:0]}
	m.headersLeft, m.trailersLeft = m.max, m.max
	m.sawRegular, m.invalid = false, nil
	m.dec.SetEmitEnabled(true)
	ended := hf.HeadersEnded()
	for {
		// Parse no large amount of header that would be dropped: a
		// fragment more than twice what is left ends the connection.
		if int64(len(frag)) > 2*int64(m.headersLeft+m.trailersLeft) {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if m.invalid != nil {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := m.dec.Write(frag); err != nil {
			return nil, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if ended {
			break
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		cf := f.(*http2.ContinuationFrame) // Framer's frame-order check
		frag, ended = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := m.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if m.invalid != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: m.invalid}
	}
	if err := checkPseudos(m.mh.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &m.mh, nil
}

// frameHeaderLen is the length of an HTTP/2 frame header (RFC 9113 §4.1).
const frameHeaderLen = 9

// ReadFrame reads the next frame from br, the reader fr reads from, and
// decodes a header block as Read does. The frames a busy connection
// carries most — a PING, a WINDOW_UPDATE with a non-zero increment, a
// HEADERS with END_HEADERS and neither padding nor priority — it parses
// itself into frames it reuses, when they are whole in br's buffer; any
// other frame, and any that breaks a rule (length, stream, increment),
// is read by fr, with fr's checks and errors. Frames ReadFrame returns
// are valid until its next call; maxRead is fr's SetMaxReadFrameSize.
//
// Skipping fr is sound because none of these frames can come while fr
// expects a CONTINUATION: Read reads a block's CONTINUATIONs to its end,
// and after any error from fr the next frame is fr's again (a HEADERS
// frame without END_HEADERS that fr refuses with a stream error still
// makes it expect one). fr keeps no other state between frames.
func (m *Reader) ReadFrame(br *bufio.Reader, fr *http2.Framer, maxRead uint32) (http2.Frame, error) {
	if !m.viaFramer {
		if f, ok, err := m.readCommon(br, maxRead); ok || err != nil {
			return f, err
		}
	}
	f, err := fr.ReadFrame()
	if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
		f, err = m.Read(fr, hf)
	}
	m.viaFramer = err != nil
	return f, err
}

// readCommon parses the next frame if it is one ReadFrame takes itself;
// ok is false (and nothing is consumed) otherwise.
func (m *Reader) readCommon(br *bufio.Reader, maxRead uint32) (f http2.Frame, ok bool, err error) {
	if br.Buffered() < frameHeaderLen {
		if _, err := br.Peek(frameHeaderLen); err != nil {
			return nil, false, nil // fr reports it
		}
	}
	h, _ := br.Peek(frameHeaderLen)
	fh := http2.FrameHeader{
		Length:   uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2]),
		Type:     http2.FrameType(h[3]),
		Flags:    http2.Flags(h[4]),
		StreamID: binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1),
	}
	n := frameHeaderLen + int(fh.Length)
	switch fh.Type {
	case http2.FramePing:
		if fh.Length != 8 || fh.StreamID != 0 {
			return nil, false, nil
		}
	case http2.FrameWindowUpdate:
		if fh.Length != 4 {
			return nil, false, nil
		}
	case http2.FrameHeaders:
		if fh.StreamID == 0 || fh.Length > maxRead || n > br.Size() ||
			fh.Flags&(http2.FlagHeadersPadded|http2.FlagHeadersPriority) != 0 || !fh.Flags.Has(http2.FlagHeadersEndHeaders) {
			return nil, false, nil
		}
	default:
		return nil, false, nil
	}
	b, err := br.Peek(n)
	if err != nil {
		return nil, false, nil // fr reads what there is, and reports it
	}
	p := b[frameHeaderLen:]
	switch fh.Type {
	case http2.FramePing:
		m.ping = http2.PingFrame{FrameHeader: fh}
		copy(m.ping.Data[:], p)
		f = &m.ping
	case http2.FrameWindowUpdate:
		inc := binary.BigEndian.Uint32(p) & (1<<31 - 1)
		if inc == 0 {
			return nil, false, nil // an error, fr's to report
		}
		m.wu = http2.WindowUpdateFrame{FrameHeader: fh, Increment: inc}
		f = &m.wu
	case http2.FrameHeaders:
		// Decoded before the bytes are discarded: the block ends in this
		// frame, so nothing else is read (and br's buffer kept) first.
		m.hf = http2.HeadersFrame{FrameHeader: fh}
		f, err = m.read(nil, &m.hf, p)
	}
	_, _ = br.Discard(n)
	return f, true, err
}

// validWireName says whether a field name is a token with no upper-case
// letter (RFC 9113 §8.2.1), as x/net's validWireHeaderFieldName.
func validWireName(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if !httpguts.IsTokenRune(r) || 'A' <= r && r <= 'Z' {
			return false
		}
	}
	return true
}

// checkPseudos refuses unknown, repeated and mixed request and response
// pseudo-header fields, as x/net's MetaHeadersFrame.checkPseudos.
func checkPseudos(pf []hpack.HeaderField) error {
	var isRequest, isResponse bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			isRequest = true
		case ":status":
			isResponse = true
		default:
			return fmt.Errorf("invalid pseudo-header %q", hf.Name)
		}
		for _, hf2 := range pf[:i] {
			if hf.Name == hf2.Name {
				return fmt.Errorf("duplicate pseudo-header %q", hf.Name)
			}
		}
	}
	if isRequest && isResponse {
		return errors.New("mix of request and response pseudo headers")
	}
	return nil
}
