package lambdafn

import (
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// event is a Lambda Function URL request, payload format 2.0: the
// event a function behind a Function URL receives, so that the same
// function serves both (aws-lambda-go's events.LambdaFunctionURLRequest
// reads it).
type event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        eventContext      `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

// eventContext is the event's requestContext.
type eventContext struct {
	AccountID    string    `json:"accountId"`
	APIID        string    `json:"apiId"`
	DomainName   string    `json:"domainName"`
	DomainPrefix string    `json:"domainPrefix"`
	HTTP         eventHTTP `json:"http"`
	RequestID    string    `json:"requestId"`
	RouteKey     string    `json:"routeKey"`
	Stage        string    `json:"stage"`
	Time         string    `json:"time"`
	TimeEpoch    int64     `json:"timeEpoch"`
}

// eventHTTP is the event's requestContext.http.
type eventHTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// newEvent builds the Function URL event of r, whose body (already read)
// is body, at now, with request ID id. As a Function URL does: header
// names are lower-case and repeated headers comma-joined; Cookie headers
// become cookies (one per cookie) and are left out of headers; repeated
// query parameters are comma-joined; a body that is not text (by its
// Content-Type, and valid UTF-8) is base64-encoded.
func newEvent(r *http.Request, body []byte, now time.Time, id string) *event {
	ev := &event{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        make(map[string]string, len(r.Header)+1),
	}
	if ev.RawPath == "" {
		ev.RawPath = "/"
	}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	ev.Headers["host"] = host
	if r.ContentLength > 0 && ev.Headers["content-length"] == "" {
		ev.Headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	prefix, _, _ := strings.Cut(host, ".")
	if h, _, err := net.SplitHostPort(prefix); err == nil {
		prefix = h
	}
	ev.RequestContext = eventContext{
		AccountID:    "anonymous",
		APIID:        prefix,
		DomainName:   host,
		DomainPrefix: prefix,
		HTTP: eventHTTP{
			Method:    r.Method,
			Path:      decodedPath(r.URL),
			Protocol:  r.Proto,
			SourceIP:  sourceIP(r),
			UserAgent: r.Header.Get("User-Agent"),
		},
		RequestID: id,
		RouteKey:  "$default",
		Stage:     "$default",
		Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		TimeEpoch: now.UnixMilli(),
	}
	if ev.RequestContext.HTTP.Protocol == "" {
		ev.RequestContext.HTTP.Protocol = "HTTP/1.1"
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// decodedPath is the request's path, decoded, as requestContext.http.path.
func decodedPath(u *url.URL) string {
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

// sourceIP is the caller's address: the proxy's own peer, from RemoteAddr.
func sourceIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// isText says whether a body of content type ct is passed as text: the
// text/* types and the structured-text application types, as Function
// URLs and API Gateway do.
func isText(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if strings.HasPrefix(mt, "text/") {
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
		"application/yaml", "application/x-yaml", "application/graphql", "image/svg+xml":
		return true
	}
	return strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}
