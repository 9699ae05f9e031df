package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/internal/h1client"
	"github.com/slinkerd/slinkerd/internal/h2client"

	"github.com/slinkerd/slinkerd/core/name"
)

// TransportConfig configures the connection pools to endpoints.
type TransportConfig struct {
	// DialTimeout bounds connecting to an endpoint. Defaults to 5s.
	DialTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle this long. Defaults
	// to 60s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the HTTP/1.1 keep-alive pool size per
	// endpoint. Defaults to 256.
	MaxIdleConnsPerHost int
	// TLSConfig is used for https endpoints. Nil means the system roots.
	TLSConfig *tls.Config
	// MaxResponseHeaderBytes limits an endpoint's response headers.
	// Defaults to 1 MiB.
	MaxResponseHeaderBytes int64
	// ResponseHeaderTimeout bounds the wait for an endpoint's response
	// head, from the moment the request (body included) has been written
	// to the end of the head: an endpoint that never answers, or drips its
	// head, gets the attempt a 504. A response body that streams for
	// longer is not affected, nor is a request body that takes longer to
	// send. gRPC requests are exempt: a streaming call may send its head
	// with its first message, and grpc-timeout bounds them. Defaults to
	// 60s (nginx's proxy_read_timeout); a negative value means no limit.
	ResponseHeaderTimeout time.Duration
	// ByKind holds the RoundTrippers of endpoints that are not host:port
	// servers, by the kind an endpoint names in Meta["transport"] (e.g.
	// "lambda": discovery/lambdafn). Such an endpoint's attempts go
	// through its RoundTripper, with the endpoint as the URL's host, and
	// never through the pools. Nil means none.
	ByKind map[string]http.RoundTripper
}

// Transports are the pools the proxy sends through: HTTP/1.1 with
// keep-alive, cleartext HTTP/2 with prior knowledge (h2c) for callers that
// speak HTTP/2 (gRPC among them), and TLS with ALPN for https endpoints.
type Transports struct {
	h1, h2c, tls *http.Transport
	// direct sends the requests h1Eligible accepts to h1 endpoints.
	direct *h1client.Client
	// h2 sends to h2c endpoints on the fast path, in h2c's place.
	h2 *h2client.Client
	// headTimeout is ResponseHeaderTimeout; 0 when there is none.
	headTimeout time.Duration
	// byKind is TransportConfig.ByKind.
	byKind map[string]http.RoundTripper
}

// NewTransports builds the pools.
func NewTransports(cfg TransportConfig) *Transports {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IdleConnTimeout == 0 {
		cfg.IdleConnTimeout = 60 * time.Second
	}
	if cfg.MaxIdleConnsPerHost == 0 {
		cfg.MaxIdleConnsPerHost = 256
	}
	if cfg.MaxResponseHeaderBytes == 0 {
		cfg.MaxResponseHeaderBytes = 1 << 20
	}
	switch {
	case cfg.ResponseHeaderTimeout == 0:
		cfg.ResponseHeaderTimeout = 60 * time.Second
	case cfg.ResponseHeaderTimeout < 0:
		cfg.ResponseHeaderTimeout = 0
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:            dialer.DialContext,
			MaxIdleConns:           0,
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:        cfg.IdleConnTimeout,
			MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes,
			DisableCompression:     true,
			ForceAttemptHTTP2:      false,
			// A request with Expect: 100-continue waits for the endpoint's
			// 100 before its body is read from the caller, so a refusing
			// endpoint (417, 413, 401) is answered before the caller is
			// told to send: net/http's server then closes the caller's
			// connection instead of waiting for a body that is not coming.
			ExpectContinueTimeout: time.Second,
		}
	}
	h1 := base()
	// The h1 Transport hands a connection to a waiting request without
	// checking for bytes past the response's end; the guard never lets it
	// read them (h1respguard.go).
	h1.DialContext = guardDial(dialer.DialContext, cfg.MaxResponseHeaderBytes)
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)

	h2c := base()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2c.HTTP2 = &http.HTTP2Config{PingTimeout: 15 * time.Second, SendPingTimeout: 30 * time.Second}

	tl := base()
	tl.TLSClientConfig = cfg.TLSConfig
	tl.Protocols = new(http.Protocols)
	tl.Protocols.SetHTTP1(true)
	tl.Protocols.SetHTTP2(true)
	tl.ForceAttemptHTTP2 = true
	direct := h1client.New(h1client.Config{Dial: dialer.DialContext, IdleTimeout: cfg.IdleConnTimeout,
		MaxIdle: cfg.MaxIdleConnsPerHost, MaxHeader: cfg.MaxResponseHeaderBytes})
	h2 := h2client.New(h2client.Config{Dial: dialer.DialContext, IdleTimeout: cfg.IdleConnTimeout,
		MaxHeaderListSize: uint32(min(cfg.MaxResponseHeaderBytes, 1<<31)), PingTimeout: 15 * time.Second, ReadIdleTimeout: 30 * time.Second})
	return &Transports{h1: h1, h2c: h2c, tls: tl, direct: direct, h2: h2, headTimeout: cfg.ResponseHeaderTimeout, byKind: cfg.ByKind}
}

// CloseIdle closes idle pooled connections, e.g. after a Lambda thaw.
func (t *Transports) CloseIdle() {
	t.h1.CloseIdleConnections()
	t.h2c.CloseIdleConnections()
	t.tls.CloseIdleConnections()
	t.direct.CloseIdle()
	t.h2.CloseIdle()
}

// forEndpoint chooses the pool (or the RoundTripper of its kind) and
// scheme for an attempt.
func (t *Transports) forEndpoint(a name.Address, inProto int) (http.RoundTripper, string) {
	if a.Meta != nil {
		if k := a.Meta["transport"]; k != "" {
			if rt := t.byKind[k]; rt != nil {
				return rt, "http"
			}
		}
		if a.Meta["scheme"] == "https" {
			return t.tls, "https"
		}
		switch a.Meta["protocol"] {
		case "h2c":
			return t.h2c, "http"
		case "http/1.1", "h1":
			return t.h1, "http"
		}
	}
	if inProto == 2 {
		return t.h2c, "http"
	}
	return t.h1, "http"
}

// bufferPool recycles the ReverseProxy's copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

var _ http.RoundTripper = (*attemptTransport)(nil)
