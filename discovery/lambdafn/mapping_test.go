package lambdafn

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
)

func TestNewEvent(t *testing.T) {
	now := time.Date(2026, 12, 3, 17, 30, 29, 123e6, time.UTC)
	tests := []struct {
		name   string
		req    func() *http.Request
		body   []byte
		check  func(t *testing.T, ev map[string]any)
		absent []string // top-level fields that must not be there
	}{
		{
			name: "GET with query, repeated headers and cookies",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "http://orders/a%20b/c?x=1&y=2&x=3&e=", nil)
				r.Host = "orders"
				r.RemoteAddr = "10.1.2.3:5555"
				r.Header.Set("User-Agent", "curl/8")
				r.Header.Add("X-Multi", "one")
				r.Header.Add("X-Multi", "two")
				r.Header.Add("Cookie", "a=1; b=2")
				r.Header.Add("Cookie", "c=3")
				return r
			},
			check: func(t *testing.T, ev map[string]any) {
				assert.Equal(t, "2.0", ev["version"])
				assert.Equal(t, "$default", ev["routeKey"])
				assert.Equal(t, "/a%20b/c", ev["rawPath"])
				assert.Equal(t, "x=1&y=2&x=3&e=", ev["rawQueryString"])
				assert.Equal(t, map[string]any{"x": "1,3", "y": "2", "e": ""}, ev["queryStringParameters"])
				assert.Equal(t, []any{"a=1", "b=2", "c=3"}, ev["cookies"])
				h := ev["headers"].(map[string]any)
				assert.Equal(t, "one,two", h["x-multi"])
				assert.Equal(t, "orders", h["host"])
				assert.Equal(t, "curl/8", h["user-agent"])
				assert.NotContains(t, h, "cookie", "cookies travel in cookies, not headers")
				rc := ev["requestContext"].(map[string]any)
				hc := rc["http"].(map[string]any)
				assert.Equal(t, "GET", hc["method"])
				assert.Equal(t, "/a b/c", hc["path"])
				assert.Equal(t, "HTTP/1.1", hc["protocol"])
				assert.Equal(t, "10.1.2.3", hc["sourceIp"])
				assert.Equal(t, "curl/8", hc["userAgent"])
				assert.Equal(t, "orders", rc["domainName"])
				assert.Equal(t, "req-1", rc["requestId"])
				assert.Equal(t, "03/Dec/2026:17:30:29 +0000", rc["time"])
				assert.EqualValues(t, now.UnixMilli(), rc["timeEpoch"])
				assert.Equal(t, false, ev["isBase64Encoded"])
			},
			absent: []string{"body"},
		},
		{
			name: "JSON body as text",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "http://orders/", strings.NewReader(`{"a":"ü"}`))
				r.Header.Set("Content-Type", "application/json; charset=utf-8")
				return r
			},
			body: []byte(`{"a":"ü"}`),
			check: func(t *testing.T, ev map[string]any) {
				assert.Equal(t, `{"a":"ü"}`, ev["body"])
				assert.Equal(t, false, ev["isBase64Encoded"])
				assert.Equal(t, "10", ev["headers"].(map[string]any)["content-length"])
			},
			absent: []string{"queryStringParameters", "cookies"},
		},
		{
			name: "binary body as base64",
			req: func() *http.Request {
				r := httptest.NewRequest("PUT", "http://orders/blob", nil)
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			body: []byte{0, 1, 0xff},
			check: func(t *testing.T, ev map[string]any) {
				assert.Equal(t, "AAH/", ev["body"])
				assert.Equal(t, true, ev["isBase64Encoded"])
			},
		},
		{
			name: "text type with invalid UTF-8 as base64",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "http://orders/", nil)
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			body: []byte{0xc3, 0x28},
			check: func(t *testing.T, ev map[string]any) {
				assert.Equal(t, true, ev["isBase64Encoded"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			r.Header.Set("X-Request-Id", "req-1")
			b, err := json.Marshal(newEvent(r, tt.body, now, requestID(r)))
			require.NoError(t, err)
			var ev map[string]any
			require.NoError(t, json.Unmarshal(b, &ev))
			tt.check(t, ev)
			for _, f := range tt.absent {
				assert.NotContains(t, ev, f)
			}
		})
	}
}

func TestNewResponse(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		status  int
		header  http.Header
		body    string
		err     string
	}{
		{name: "structured", payload: `{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1"},"cookies":["s=1; Path=/","t=2"],"body":"made"}`,
			status: 201, header: http.Header{"Content-Type": {"text/plain"}, "X-A": {"1"}, "Set-Cookie": {"s=1; Path=/", "t=2"}}, body: "made"},
		{name: "multi-value headers", payload: `{"statusCode":200,"multiValueHeaders":{"x-m":["a","b"]},"body":""}`,
			status: 200, header: http.Header{"X-M": {"a", "b"}}},
		{name: "base64 body", payload: `{"statusCode":200,"body":"AAH/","isBase64Encoded":true}`, status: 200, header: http.Header{}, body: "\x00\x01\xff"},
		{name: "status as a string", payload: `{"statusCode":"404"}`, status: 404, header: http.Header{}},
		{name: "JSON without statusCode", payload: `{"plain":true}`, status: 200,
			header: http.Header{"Content-Type": {"application/json"}}, body: `{"plain":true}`},
		{name: "JSON string", payload: `"hello"`, status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: `"hello"`},
		{name: "null", payload: `null`, status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: `null`},
		{name: "status out of range", payload: `{"statusCode":700}`, err: "outside 100-599"},
		{name: "bad base64", payload: `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, err: "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := newResponse([]byte(tt.payload))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.header, resp.Header)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(b))
			assert.EqualValues(t, len(tt.body), resp.ContentLength)
		})
	}
}

func TestSplitPrelude(t *testing.T) {
	delim := "\x00\x00\x00\x00\x00\x00\x00\x00"
	tests := []struct {
		name   string
		buf    string
		final  bool
		done   bool
		status int
		ct     string
		rest   string
	}{
		{name: "prelude and body", buf: `{"statusCode":202,"headers":{"Content-Type":"text/event-stream"}}` + delim + "data: 1", done: true, status: 202, ct: "text/event-stream", rest: "data: 1"},
		{name: "prelude not yet complete", buf: `{"statusCode":202`, done: false},
		{name: "no prelude", buf: "hello", done: true, status: 200, ct: "application/octet-stream", rest: "hello"},
		{name: "JSON body without prelude at the end", buf: `{"a":1}`, final: true, done: true, status: 200, ct: "application/octet-stream", rest: `{"a":1}`},
		{name: "nothing yet", buf: "", done: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, rest, done, err := splitPrelude([]byte(tt.buf), tt.final)
			require.NoError(t, err)
			require.Equal(t, tt.done, done)
			if !done {
				return
			}
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.ct, resp.Header.Get("Content-Type"))
			assert.Equal(t, tt.rest, string(rest))
		})
	}
}

func TestIsRuntimeError(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    bool
	}{
		{name: "returned error", payload: `{"errorMessage":"no","errorType":"errorString"}`, want: true},
		{name: "panic with stack", payload: `{"errorMessage":"x","errorType":"plainError","stackTrace":[]}`, want: true},
		{name: "more fields", payload: `{"errorMessage":"x","errorType":"y","statusCode":200}`, want: false},
		{name: "type only", payload: `{"errorType":"y"}`, want: false},
		{name: "not JSON", payload: `errorType`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, isRuntimeError([]byte(tt.payload)))
		})
	}
}

func TestNamerAndHost(t *testing.T) {
	tests := []struct {
		name     string
		stream   bool
		path     string
		id       string
		residual string
		host     string
		err      string
	}{
		{name: "function", path: "/orders", id: "/#/io.l5d.lambda/orders", host: "orders.lambda.invalid"},
		{name: "qualifier and residual", path: "/orders/live/x/y", id: "/#/io.l5d.lambda/orders/live", residual: "/x/y", host: "orders.live.lambda.invalid"},
		{name: "LATEST", path: `/orders/\x24LATEST`, id: "/#/io.l5d.lambda/orders/$LATEST", host: "orders.$LATEST.lambda.invalid"},
		{name: "stream", stream: true, path: "/feed/3", id: "/#/io.l5d.lambda.stream/feed/3", host: "feed.3.lambda-stream.invalid"},
		{name: "bad function", path: "/a.b", err: "is not a function name"},
		{name: "bad qualifier", path: "/orders/a.b", err: "is not a qualifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Namer{Stream: tt.stream}.Lookup(t.Context(), name.MustParsePath(tt.path))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, name.Leaf, tree.Kind)
			assert.Equal(t, tt.id, tree.Value.ID.String())
			if tt.residual != "" {
				assert.Equal(t, tt.residual, tree.Value.Residual.String())
			} else {
				assert.Empty(t, tree.Value.Residual)
			}
			a := tree.Value.Addr.Sample()
			require.Equal(t, name.AddrBound, a.State)
			require.Len(t, a.Addresses, 1)
			ad := a.Addresses[0]
			assert.Equal(t, tt.host, ad.Host)
			assert.Equal(t, TransportKind, ad.Meta["transport"])
			tg, err := parseHost(ad.HostPort())
			require.NoError(t, err)
			assert.Equal(t, tt.stream, tg.stream)
			assert.True(t, strings.HasPrefix(tt.host, tg.fn+"."))
		})
	}
}
