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
// holds wmu. auth and path are the request's :authority and :path,
// maxList the endpoint's SETTINGS_MAX_HEADER_LIST_SIZE (0: none),
// sizeBound checkRequest's bound on the list's size. The list's size is
// checked before anything is encoded: the encoder's dynamic table must
// change only for a block that is sent.
func (cc *conn) encodeRequestHeaders(req *http.Request, auth, path string, maxList uint32, sizeBound int) error {
	cc.hbuf.Reset()
	if maxList > 0 && sizeBound > int(maxList) {
		// Over the bound: count exactly.
		cc.listSize, cc.encoding = 0, false
		cc.requestFields(req, auth, path)
		if cc.listSize > int(maxList) {
			return fmt.Errorf("h2client: request header list of %d bytes is over the endpoint's limit of %d", cc.listSize, maxList)
		}
	}
	cc.encoding = true
	cc.requestFields(req, auth, path)
	return nil
}

// field counts a field's size (RFC 9113 §6.5.2) or, when encoding,
// encodes it.
func (cc *conn) field(k, v string) {
	if !cc.encoding {
		cc.listSize += len(k) + len(v) + 32
		return
	}
	_ = cc.enc.WriteField(hpack.HeaderField{Name: k, Value: v, Sensitive: unique(k)})
}

// unique says whether a request field's value is new with each request
// (an ID, a trace context, a deadline). Such a field is sent as a literal
// that neither side's HPACK table keeps (RFC 7541 §6.2.3): entered in
// the table, it would only evict entries that the next requests use.
func unique(k string) bool {
	switch k {
	case "l5d-reqid", "traceparent", "l5d-ctx-trace", "l5d-ctx-deadline", "grpc-timeout", "x-request-id":
		return true
	}
	return false
}

// requestFields passes req's fields to field, in the order they are sent.
func (cc *conn) requestFields(req *http.Request, auth, path string) {
	cc.field(":method", req.Method)
	cc.field(":scheme", "http")
	cc.field(":authority", auth)
	cc.field(":path", path)
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade":
			continue
		case "Te":
			// Only "trailers" may be sent (RFC 9113 §8.2.2).
			if httpguts.HeaderValuesContainsToken(vv, "trailers") {
				cc.field("te", "trailers")
			}
			continue
		}
		lk := cc.lower.Get(k)
		for _, v := range vv {
			cc.field(lk, v)
		}
	}
	if len(req.Trailer) > 0 {
		keys := make([]string, 0, len(req.Trailer))
		for k := range req.Trailer {
			keys = append(keys, cc.lower.Get(k))
		}
		slices.Sort(keys)
		cc.field("trailer", strings.Join(keys, ","))
	}
	// As net/http: a body with a zero ContentLength is of unknown length,
	// and no body at all is worth "content-length: 0" only for methods
	// that usually have one.
	switch hasBody := req.Body != nil && req.Body != http.NoBody; {
	case req.ContentLength > 0:
		cc.field("content-length", strconv.FormatInt(req.ContentLength, 10))
	case !hasBody && bodyMethod(req.Method):
		cc.field("content-length", "0")
	}
}

// bodyMethod says whether a zero-length body is worth a content-length:
// for methods that usually carry one, as x/net's transport decides.
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// encodeTrailer encodes a request trailer into hbuf; the caller holds
// wmu. It checks the fields and the size first, as encodeRequestHeaders.
func (cc *conn) encodeTrailer(tr http.Header, maxList uint32) error {
	cc.hbuf.Reset()
	size := 0
	for k, vv := range tr {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("h2client: invalid trailer field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("h2client: invalid value of trailer field %q", k)
			}
			size += len(k) + len(v) + 32
		}
	}
	if maxList > 0 && size > int(maxList) {
		return fmt.Errorf("h2client: request trailer of %d bytes is over the endpoint's limit of %d", size, maxList)
	}
	for k, vv := range tr {
		lk := cc.lower.Get(k)
		for _, v := range vv {
			_ = cc.enc.WriteField(hpack.HeaderField{Name: lk, Value: v})
		}
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
