package h2client

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// encodeRequestHeaders encodes req's header block into hbuf; the caller
// holds wmu. maxList is the endpoint's SETTINGS_MAX_HEADER_LIST_SIZE (0:
// none).
func (cc *conn) encodeRequestHeaders(req *http.Request, maxList uint32) error {
	cc.hbuf.Reset()
	path := req.URL.RequestURI()
	size := 0
	field := func(k, v string) {
		size += len(k) + len(v) + 32
		_ = cc.enc.WriteField(hpack.HeaderField{Name: k, Value: v})
	}
	field(":method", req.Method)
	field(":scheme", "http")
	field(":authority", authority(req))
	field(":path", path)
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade":
			continue
		case "Te":
			// Only "trailers" may be sent (RFC 9113 §8.2.2).
			if httpguts.HeaderValuesContainsToken(vv, "trailers") {
				field("te", "trailers")
			}
			continue
		}
		lk := cc.lowerKey(k)
		for _, v := range vv {
			field(lk, v)
		}
	}
	if len(req.Trailer) > 0 {
		keys := make([]string, 0, len(req.Trailer))
		for k := range req.Trailer {
			keys = append(keys, cc.lowerKey(k))
		}
		slices.Sort(keys)
		field("trailer", strings.Join(keys, ","))
	}
	// As net/http: a body with a zero ContentLength is of unknown length,
	// and no body at all is worth "content-length: 0" only for methods
	// that usually have one.
	switch hasBody := req.Body != nil && req.Body != http.NoBody; {
	case req.ContentLength > 0:
		field("content-length", strconv.FormatInt(req.ContentLength, 10))
	case !hasBody && bodyMethod(req.Method):
		field("content-length", "0")
	}
	if maxList > 0 && size > int(maxList) {
		return fmt.Errorf("h2client: request header list of %d bytes is over the endpoint's limit of %d", size, maxList)
	}
	return nil
}

// bodyMethod says whether a zero-length body is worth a content-length:
// for methods that usually carry one, as x/net's transport decides.
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// encodeTrailer encodes a request trailer into hbuf; the caller holds wmu.
func (cc *conn) encodeTrailer(tr http.Header, maxList uint32) error {
	cc.hbuf.Reset()
	size := 0
	for k, vv := range tr {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("h2client: invalid trailer field name %q", k)
		}
		lk := cc.lowerKey(k)
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("h2client: invalid value of trailer field %q", k)
			}
			size += len(lk) + len(v) + 32
			_ = cc.enc.WriteField(hpack.HeaderField{Name: lk, Value: v})
		}
	}
	if maxList > 0 && size > int(maxList) {
		return fmt.Errorf("h2client: request trailer of %d bytes is over the endpoint's limit of %d", size, maxList)
	}
	return nil
}

// writeHeaderBlock writes hbuf as HEADERS and CONTINUATION frames of at
// most maxFrame bytes; the caller holds wmu.
func (cc *conn) writeHeaderBlock(id uint32, endStream bool, maxFrame uint32) error {
	block := cc.hbuf.Bytes()
	first := block[:min(len(block), int(maxFrame))]
	rest := block[len(first):]
	err := cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first,
		EndStream: endStream, EndHeaders: len(rest) == 0})
	for err == nil && len(rest) > 0 {
		chunk := rest[:min(len(rest), int(maxFrame))]
		rest = rest[len(chunk):]
		err = cc.fr.WriteContinuation(id, len(rest) == 0, chunk)
	}
	return err
}

// lowerKey returns a header key in lower case, remembering the keys it
// has lowered; the caller holds wmu.
func (cc *conn) lowerKey(k string) string {
	if lk, ok := cc.lower[k]; ok {
		return lk
	}
	lk := strings.ToLower(k)
	if len(cc.lower) < 512 {
		cc.lower[k] = lk
	}
	return lk
}
