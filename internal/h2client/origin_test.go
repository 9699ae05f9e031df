package h2client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// origin is a raw HTTP/2 endpoint on 127.0.0.1 whose every connection is
// run by script: the attacker's side of the tests, which sends what a
// real server would not.
type origin struct {
	ln    net.Listener
	wg    sync.WaitGroup
	conns chan *rawConn
}

func newOrigin(t *testing.T, script func(*rawConn), settings ...http2.Setting) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{ln: ln, conns: make(chan *rawConn, 16)}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			rc := newRawConn(nc)
			select {
			case o.conns <- rc:
			default:
			}
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				if rc.handshake(settings...) == nil {
					script(rc)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case rc := <-o.conns:
				_ = rc.nc.Close()
				continue
			default:
			}
			break
		}
		o.wg.Wait()
	})
	return o
}

func (o *origin) addr() string { return o.ln.Addr().String() }

// rawConn is the origin's side of one connection.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
	mu  sync.Mutex // writes

	pending map[uint32]*request // requests read in part; readRequest's
}

func newRawConn(nc net.Conn) *rawConn {
	rc := &rawConn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	rc.fr = http2.NewFramer(rc.bw, rc.br)
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.fr.AllowIllegalWrites = true
	rc.enc = hpack.NewEncoder(&rc.hb)
	return rc
}

// handshake reads the client preface and exchanges SETTINGS.
func (rc *rawConn) handshake(settings ...http2.Setting) error {
	buf := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(rc.br, buf); err != nil || string(buf) != http2.ClientPreface {
		return errors.New("no preface")
	}
	return rc.write(func() error { return rc.fr.WriteSettings(settings...) })
}

func (rc *rawConn) write(f func() error) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := f(); err != nil {
		return err
	}
	return rc.bw.Flush()
}

// request is what the origin read of one request.
type request struct {
	id     uint32
	header http.Header
	pseudo map[string]string
	body   []byte
	ended  bool
	// neverIndexed names the fields sent as never-indexed literals.
	neverIndexed map[string]bool
}

// readRequest reads frames until a request's HEADERS, answering SETTINGS
// and PING, and, if wholeBody, until its END_STREAM; requests whose frames
// interleave are kept apart until each is whole.
func (rc *rawConn) readRequest(wholeBody bool) (*request, error) {
	if rc.pending == nil {
		rc.pending = map[uint32]*request{}
	}
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		var req *request
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = rc.write(func() error { return rc.fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = rc.write(func() error { return rc.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			req = &request{id: f.StreamID, header: http.Header{}, pseudo: map[string]string{}, ended: f.StreamEnded(), neverIndexed: map[string]bool{}}
			for _, hf := range f.Fields {
				if hf.Sensitive {
					req.neverIndexed[hf.Name] = true
				}
				if hf.IsPseudo() {
					req.pseudo[hf.Name] = hf.Value
				} else {
					req.header.Add(hf.Name, hf.Value)
				}
			}
			rc.pending[req.id] = req
		case *http2.DataFrame:
			if req = rc.pending[f.StreamID]; req != nil {
				req.body = append(req.body, f.Data()...)
				req.ended = f.StreamEnded()
			}
		}
		if req != nil && (!wholeBody || req.ended) {
			delete(rc.pending, req.id)
			return req, nil
		}
	}
}

// awaitReset reads frames until an RST_STREAM for stream id (any stream
// when 0) and returns its code; false if the connection ends first.
func (rc *rawConn) awaitReset(id uint32) (http2.ErrCode, bool) {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok && (id == 0 || rst.StreamID == id) {
			return rst.ErrCode, true
		}
	}
}

// awaitGoAway reads frames until a GOAWAY and returns its code; false if
// the connection ends first.
func (rc *rawConn) awaitGoAway() (http2.ErrCode, bool) {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga.ErrCode, true
		}
	}
}

// headers writes a header block for stream id: status (or none when
// empty) and fields, in order.
func (rc *rawConn) headers(id uint32, end bool, status string, fields ...string) error {
	return rc.write(func() error {
		rc.hb.Reset()
		if status != "" {
			_ = rc.enc.WriteField(hpack.HeaderField{Name: ":status", Value: status})
		}
		for i := 0; i+1 < len(fields); i += 2 {
			_ = rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hb.Bytes(), EndStream: end, EndHeaders: true})
	})
}

func (rc *rawConn) data(id uint32, end bool, b []byte) error {
	return rc.write(func() error { return rc.fr.WriteData(id, end, b) })
}

// respond answers a whole response: 200, content-length, body.
func (rc *rawConn) respond(id uint32, body string) error {
	if err := rc.headers(id, false, "200", "content-length", strconv.Itoa(len(body))); err != nil {
		return err
	}
	return rc.data(id, true, []byte(body))
}

// newTestClient is a Client that dials 127.0.0.1 with a bounded timeout.
func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	cfg.Dial = d.DialContext
	c := New(cfg)
	t.Cleanup(func() { c.closeAll() })
	return c
}

// closeAll closes every connection, for the tests' cleanup.
func (c *Client) closeAll() {
	c.mu.Lock()
	hosts := c.hosts
	c.hosts = map[string]*host{}
	c.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		conns := append([]*conn(nil), h.conns...)
		h.mu.Unlock()
		for _, cc := range conns {
			cc.fail(errors.New("client closed"))
		}
	}
}

func get(t *testing.T, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://svc"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// testCtx is a context bounded so that no test hangs.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
