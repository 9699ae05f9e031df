package h2

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h2meta"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientPreface starts HTTP/2 with prior knowledge (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// initialWindow is every flow-control window before SETTINGS change it.
const initialWindow = 65535

// maxFrameSize is the largest frame we read (SETTINGS_MAX_FRAME_SIZE's
// default, which we keep).
const maxFrameSize = 16 << 10

// maxWindow is the largest flow-control window (RFC 9113 §6.9.1).
const maxWindow = 1<<31 - 1

// Hardening bounds; each is a counter, checked where it is counted.
const (
	// maxEmptyFrames is how many DATA frames in a row may carry no
	// payload and no END_STREAM before the connection ends with GOAWAY
	// ENHANCE_YOUR_CALM (an empty-DATA flood costs us work and the peer
	// nothing).
	maxEmptyFrames = 100
	// minPrematureResets and the half of all streams are the rapid-reset
	// rule on top of x/net's (handlers still running count against the
	// stream limit): a peer that has reset at least this many streams
	// before their response was complete, and more than half of all the
	// streams it opened, gets GOAWAY ENHANCE_YOUR_CALM (as Envoy's
	// premature-reset rule).
	minPrematureResets = 1000
	// pendingFactor times MaxConcurrentStreams is how many new streams
	// may wait for a handler slot before GOAWAY ENHANCE_YOUR_CALM (x/net's
	// rule against CVE-2023-44487).
	pendingFactor = 4
	// maxPeerSettings caps the SETTINGS frames (ACKs aside) a peer may
	// send on one connection; more ends it with GOAWAY ENHANCE_YOUR_CALM
	// (CVE-2019-9515, as the HTTP/1 guard on net/http's path).
	maxPeerSettings = 1000
	// goAwayTimeout bounds writing the final GOAWAY to a peer that reads
	// nothing.
	goAwayTimeout = time.Second
)

// connError ends the connection with GOAWAY and code.
type connError struct {
	code   http2.ErrCode
	reason string
}

func (e connError) Error() string {
	return fmt.Sprintf("h2: connection error %v: %s", e.code, e.reason)
}

// conn is one client connection. Fields marked "reader" belong to the
// goroutine in serve.
type conn struct {
	s          *Server
	nc         net.Conn
	remote     string
	br         *bufio.Reader
	rd         connReader
	fr         *http2.Framer  // read side
	meta       *h2meta.Reader // header blocks; the reader's
	canon      h2meta.Names   // the caller's field names to header keys; the reader's
	w          writer
	writerDone chan struct{}
	values     context.Context // the requests' contexts' values

	// reader
	settingsSeen int // the peer's SETTINGS frames, ACKs aside
	streams      map[uint32]*stream
	closing      []*stream     // ended streams still in streams (drainDone)
	maxID        atomic.Uint32 // highest client stream ID seen
	emptyFrames  int
	opened       int // streams opened
	premature    int // streams reset by the peer before their answer was complete
	peerGoAway   bool
	idleArmed    bool
	readerActive bool // ConnState told active

	// inflow is what the peer may still send on the connection; unacked is
	// what handlers have read and not yet announced.
	inflow  atomic.Int64
	unacked atomic.Int64

	mu        sync.Mutex
	active    int       // streams whose handler has not ended (queued or running)
	running   int       // handler goroutines
	pending   []*stream // streams waiting for a handler goroutine
	done      []*stream // streams whose handler ended, for the reader
	goingAway bool      // GOAWAY sent: no new streams
	lastID    uint32    // the GOAWAY's last stream ID
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, streams: make(map[uint32]*stream), writerDone: make(chan struct{})}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	c.values = context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr())
	c.rd.c = c
	c.br = bufio.NewReaderSize(&c.rd, 16<<10)
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetReuseFrames() // a DATA frame's bytes are copied into its stream's body (reqBody.put)
	c.meta = h2meta.NewReader(s.cfg.MaxHeaderListSize)
	c.canon = h2meta.NewNames(http.CanonicalHeaderKey)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.w.init(c)
	c.inflow.Store(initialWindow)
	return c
}

// connReader reads the connection for the framer. It bounds the bytes of
// one frame read (a header block with its CONTINUATION frames is one
// read of the framer), and sees an idle timeout through: a read deadline
// that passed while streams are active is cleared and the read goes on.
type connReader struct {
	c      *conn
	budget int64         // bytes the current ReadFrame may still read; <0: no bound
	reads  atomic.Uint64 // socket reads so far
}

// errHeaderBlockTooLarge ends a connection that sends a header block (a
// CONTINUATION flood) much larger than MaxHeaderListSize allows.
var errHeaderBlockTooLarge = errors.New("h2: header block too large")

func (r *connReader) Read(p []byte) (int, error) {
	if r.budget >= 0 {
		if r.budget == 0 {
			return 0, errHeaderBlockTooLarge
		}
		if int64(len(p)) > r.budget {
			p = p[:r.budget]
		}
	}
	for {
		n, err := r.c.nc.Read(p)
		r.reads.Add(1)
		if r.budget >= 0 {
			r.budget -= int64(n)
		}
		if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && r.c.busy() {
			_ = r.c.nc.SetReadDeadline(time.Time{})
			continue
		}
		return n, err
	}
}

// busy says whether a stream is active, so an idle deadline that passed
// is not one.
func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active > 0
}

// serve runs the connection: the reader loop on this goroutine, the
// writer on another.
func (c *conn) serve() (err error) {
	go c.w.run()
	cfg := &c.s.cfg
	defer func() {
		if p := recover(); p != nil {
			c.s.cfg.Logger.Error("h2: panic serving connection", "remote", c.remote, "panic", p)
			err = fmt.Errorf("h2: panic: %v", p)
		}
		c.teardown(err)
		if cfg.ConnState != nil {
			cfg.ConnState(c.nc, http.StateClosed)
		}
		var ce connError
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ce) && ce.code == http2.ErrCodeNo) {
			err = nil
		}
	}()
	c.w.push(outFrame{kind: kSettings})
	if d := int64(cfg.MaxReceiveBufferPerConnection) - initialWindow; d > 0 {
		c.inflow.Add(d)
		c.w.push(outFrame{kind: kWindowUpdate, n: uint32(d)})
	}
	if cfg.ReadHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ReadHeaderTimeout))
	}
	var pre [len(clientPreface)]byte
	c.rd.budget = -1
	if _, err := io.ReadFull(c.br, pre[:]); err != nil {
		return fmt.Errorf("h2: read preface: %w", err)
	}
	if string(pre[:]) != clientPreface {
		return c.fail(connError{http2.ErrCodeProtocol, "bad client preface"})
	}
	if cfg.ConnState != nil {
		cfg.ConnState(c.nc, http.StateActive)
		c.readerActive = true
	}
	first := true
	blockBudget := 4*int64(cfg.MaxHeaderListSize) + 16<<10 + 9
	for {
		// The socket read that brings the frame's first byte: the last
		// one if it is buffered, else the next.
		frameRead := c.rd.reads.Load()
		if c.br.Buffered() == 0 {
			frameRead++
		}
		c.rd.budget = blockBudget
		f, err := c.meta.ReadFrame(c.br, c.fr, maxFrameSize) // a block's CONTINUATIONs under the same budget
		c.rd.budget = -1
		c.drainDone(frameRead)
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if err := c.streamError(se.StreamID, se.Code, f); err != nil {
					return c.fail(err)
				}
				continue
			}
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &ce):
				return c.fail(connError{http2.ErrCode(ce), "framer: " + describe(c.fr.ErrorDetail(), err)})
			case errors.Is(err, http2.ErrFrameTooLarge):
				return c.fail(connError{http2.ErrCodeFrameSize, "frame too large"})
			case errors.Is(err, errHeaderBlockTooLarge):
				return c.fail(connError{http2.ErrCodeEnhanceYourCalm, "header block too large"})
			case !first && errors.Is(err, os.ErrDeadlineExceeded):
				return c.fail(connError{http2.ErrCodeNo, "idle timeout"})
			}
			return fmt.Errorf("h2: read frame: %w", err)
		}
		if first {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return c.fail(connError{http2.ErrCodeProtocol, "first frame is not SETTINGS"})
			}
			first = false
			if cfg.ReadHeaderTimeout > 0 {
				_ = c.nc.SetReadDeadline(time.Time{})
			}
			c.armIdle()
		}
		if err := c.handle(f); err != nil {
			return c.fail(err)
		}
	}
}

func describe(detail, err error) string {
	if detail != nil {
		return detail.Error()
	}
	return err.Error()
}

// fail ends the connection for err: a connError sends GOAWAY first.
func (c *conn) fail(err error) error {
	var ce connError
	if errors.As(err, &ce) {
		c.s.cfg.Logger.Debug("h2: connection error", "remote", c.remote, "err", err)
		_ = c.nc.SetWriteDeadline(time.Now().Add(goAwayTimeout))
		c.w.push(outFrame{kind: kGoAway, n: c.maxID.Load(), code: ce.code})
		c.w.finishAfter()
	}
	return err
}

// teardown ends the connection: the writer stops (after a pending GOAWAY),
// every stream's context is cancelled and its body fails.
func (c *conn) teardown(err error) {
	if err != nil {
		var ce connError
		if !errors.As(err, &ce) {
			c.w.mu.Lock()
			c.w.closeLocked(err)
			c.w.mu.Unlock()
		}
	} else {
		c.w.finishAfter()
	}
	for _, st := range c.streams {
		st.abort(errConnClosed)
	}
	c.mu.Lock()
	c.goingAway = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, st := range pending {
		st.abort(errConnClosed)
	}
	<-c.writerDone
	_ = c.nc.Close()
	c.w.mu.Lock()
	c.w.closed = true
	c.w.cond.Broadcast()
	c.w.mu.Unlock()
}

// armIdle sets the idle deadline when no stream is active.
func (c *conn) armIdle() {
	if c.s.cfg.IdleTimeout <= 0 {
		return
	}
	c.mu.Lock()
	idle := c.active == 0
	c.mu.Unlock()
	if idle {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		c.idleArmed = true
	}
}

// drainDone takes out of the table the streams whose handlers ended and
// whose last frame the peer could have seen before it sent the frame
// being read: flushed before the socket read that brought that frame
// (frameRead). A burst of HEADERS the peer sent before any answer came is
// judged against the streams open when it sent them, as RFC 9113 §5.1.2
// means; a stream the peer saw end is closed for its next frames.
func (c *conn) drainDone(frameRead uint64) {
	c.mu.Lock()
	c.closing = append(c.closing, c.done...)
	clear(c.done)
	c.done = c.done[:0]
	active := c.active
	c.mu.Unlock()
	if len(c.closing) == 0 {
		return
	}
	kept := c.closing[:0]
	for _, st := range c.closing {
		if c.streams[st.id] != st {
			continue // reset meanwhile
		}
		if at := st.flushedAt.Load(); at != 0 && at <= frameRead {
			delete(c.streams, st.id)
			continue
		}
		kept = append(kept, st)
	}
	clear(c.closing[len(kept):])
	c.closing = kept
	if len(kept) == 0 && active == 0 {
		if c.s.cfg.ConnState != nil && c.readerActive {
			c.s.cfg.ConnState(c.nc, http.StateIdle)
			c.readerActive = false
		}
		c.armIdle()
	}
}

// goAway starts a graceful shutdown: GOAWAY naming the last stream taken,
// then the connection closes when its last stream ends.
func (c *conn) goAway() {
	c.mu.Lock()
	if c.goingAway {
		c.mu.Unlock()
		return
	}
	c.goingAway = true
	c.lastID = c.maxID.Load()
	idle := c.active == 0
	c.mu.Unlock()
	c.w.push(outFrame{kind: kGoAway, n: c.lastID, code: http2.ErrCodeNo})
	if idle {
		c.w.finishAfter()
	}
}

// handle processes one frame.
func (c *conn) handle(f http2.Frame) error {
	if df, ok := f.(*http2.DataFrame); ok {
		return c.onData(df)
	}
	c.emptyFrames = 0
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !c.w.push(outFrame{kind: kPingAck, control: true, ping: f.Data}) {
			return c.writerErr()
		}
		return nil
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PriorityFrame:
		if f.StreamID == f.StreamDep {
			return c.streamError(f.StreamID, http2.ErrCodeProtocol, nil)
		}
		return nil
	case *http2.GoAwayFrame:
		// The streams in flight go on; the peer closes when it is done.
		c.peerGoAway = true
		return nil
	case *http2.PushPromiseFrame:
		return connError{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	case *http2.ContinuationFrame:
		return connError{http2.ErrCodeProtocol, "stray CONTINUATION"}
	}
	return nil // unknown frame types are ignored
}

func (c *conn) writerErr() error {
	c.w.mu.Lock()
	err := c.w.err
	c.w.mu.Unlock()
	if err == nil {
		err = errConnClosed
	}
	return err
}

// idle says whether id names a stream not opened yet.
func (c *conn) idle(id uint32) bool { return id > c.maxID.Load() }

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if c.settingsSeen++; c.settingsSeen > maxPeerSettings {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many SETTINGS frames (CVE-2019-9515)"}
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return connError{http2.ErrCode(ce), "bad setting " + s.String()}
			}
			return connError{http2.ErrCodeProtocol, "bad setting " + s.String()}
		}
		w := &c.w
		switch s.ID {
		case http2.SettingHeaderTableSize:
			w.mu.Lock()
			w.enc.SetMaxDynamicTableSizeLimit(min(s.Val, 4096))
			w.mu.Unlock()
		case http2.SettingInitialWindowSize:
			w.mu.Lock()
			delta := int64(s.Val) - w.initSend
			w.initSend = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					w.mu.Unlock()
					return connError{http2.ErrCodeFlowControl, "window overflow"}
				}
			}
			w.cond.Broadcast()
			w.mu.Unlock()
		case http2.SettingMaxFrameSize:
			w.mu.Lock()
			w.maxFrame = int(s.Val)
			w.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !c.w.push(outFrame{kind: kSettingsAck, control: true}) {
		return c.writerErr()
	}
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	w := &c.w
	if f.StreamID == 0 {
		w.mu.Lock()
		w.connSend += int64(f.Increment)
		over := w.connSend > maxWindow
		w.cond.Broadcast()
		w.mu.Unlock()
		if over {
			return connError{http2.ErrCodeFlowControl, "connection window overflow"}
		}
		return nil
	}
	if c.idle(f.StreamID) {
		return connError{http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream"}
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return nil // closed: allowed for a while
	}
	w.mu.Lock()
	st.sendWindow += int64(f.Increment)
	over := st.sendWindow > maxWindow
	w.cond.Broadcast()
	w.mu.Unlock()
	if over {
		return c.streamError(f.StreamID, http2.ErrCodeFlowControl, nil)
	}
	return nil
}

func (c *conn) onReset(f *http2.RSTStreamFrame) error {
	if c.idle(f.StreamID) {
		return connError{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return nil
	}
	delete(c.streams, st.id)
	// The handler has not ended (drainDone ran first): the peer gave up
	// on a stream before its answer was complete.
	c.premature++
	st.abort(fmt.Errorf("h2: stream reset by peer: %w", http2.StreamError{StreamID: st.id, Code: f.ErrCode}))
	if c.premature >= minPrematureResets && 2*c.premature > c.opened {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many streams reset early (rapid reset)"}
	}
	return nil
}

// streamError resets stream id with code and forgets it; f, if a HEADERS
// frame the framer refused, still opens (and closes) its stream ID.
func (c *conn) streamError(id uint32, code http2.ErrCode, f http2.Frame) error {
	if id > c.maxID.Load() {
		if _, ok := f.(*http2.MetaHeadersFrame); ok || f == nil {
			if id%2 == 0 {
				return connError{http2.ErrCodeProtocol, "even stream ID from a client"}
			}
			c.maxID.Store(id)
		}
	}
	if st := c.streams[id]; st != nil {
		delete(c.streams, id)
		st.abort(fmt.Errorf("h2: stream error: %w", http2.StreamError{StreamID: id, Code: code}))
	}
	if !c.w.push(outFrame{kind: kRST, control: true, streamID: id, code: code}) {
		return c.writerErr()
	}
	return nil
}

// giveBack returns n bytes of connection window the peer used but no
// handler will read (padding, dropped or discarded data).
func (c *conn) giveBack(n int64) {
	if n <= 0 {
		return
	}
	c.credit(n)
}

// credit counts n bytes consumed on the connection and sends a
// WINDOW_UPDATE once a quarter of the window is due.
func (c *conn) credit(n int64) {
	u := c.unacked.Add(n)
	if u < int64(c.s.cfg.MaxReceiveBufferPerConnection)/4 {
		return
	}
	if !c.unacked.CompareAndSwap(u, 0) {
		return // another goroutine took it
	}
	c.inflow.Add(u)
	c.w.push(outFrame{kind: kWindowUpdate, n: uint32(u)})
}

func (c *conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length)
	if c.idle(id) {
		return connError{http2.ErrCodeProtocol, "DATA on an idle stream"}
	}
	if c.inflow.Add(-n) < 0 {
		return connError{http2.ErrCodeFlowControl, "connection window exceeded"}
	}
	data := f.Data()
	if len(data) == 0 && !f.StreamEnded() {
		c.emptyFrames++
		if c.emptyFrames > maxEmptyFrames {
			return connError{http2.ErrCodeEnhanceYourCalm, "too many empty DATA frames"}
		}
	} else {
		c.emptyFrames = 0
	}
	st := c.streams[id]
	if st == nil || st.remoteClosed {
		c.giveBack(n)
		return c.streamError(id, http2.ErrCodeStreamClosed, nil)
	}
	if st.inflow.Add(-n) < 0 {
		c.giveBack(n)
		return c.streamError(id, http2.ErrCodeFlowControl, nil)
	}
	c.giveBack(n - int64(len(data))) // padding
	st.received += int64(len(data))
	if st.declLen >= 0 && (st.received > st.declLen || (f.StreamEnded() && st.received != st.declLen)) {
		c.giveBack(int64(len(data)))
		return c.streamError(id, http2.ErrCodeProtocol, nil)
	}
	if len(data) > 0 && !st.body.put(data) {
		c.giveBack(int64(len(data))) // the handler closed the body
	}
	if f.StreamEnded() {
		st.endRemote(nil)
	}
	return nil
}

// onHeaders opens a stream, or takes a stream's trailers.
func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError{http2.ErrCodeProtocol, "even stream ID from a client"}
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return c.streamError(id, http2.ErrCodeProtocol, f)
	}
	if !c.idle(id) {
		st := c.streams[id]
		if st == nil {
			return connError{http2.ErrCodeStreamClosed, "HEADERS on a closed stream"}
		}
		if st.remoteClosed {
			return c.streamError(id, http2.ErrCodeStreamClosed, nil)
		}
		return c.onTrailers(st, f)
	}
	c.maxID.Store(id)
	c.mu.Lock()
	going := c.goingAway
	c.mu.Unlock()
	if going {
		return nil // after GOAWAY: ignored, the peer may retry it elsewhere
	}
	if uint32(len(c.streams)) >= c.s.cfg.MaxConcurrentStreams {
		return c.streamError(id, http2.ErrCodeRefusedStream, nil)
	}
	if f.Truncated {
		// As net/http: a head over MaxHeaderListSize gets 431.
		c.opened++
		c.w.mu.Lock()
		block := c.w.encodeLocked(func(enc *h2meta.Encoder) {
			_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "431"})
		})
		c.w.pushLocked(outFrame{kind: kHeaders, streamID: id, end: true, buf: block})
		if !f.StreamEnded() {
			c.w.pushLocked(outFrame{kind: kRST, streamID: id, code: http2.ErrCodeNo})
		}
		c.w.mu.Unlock()
		return nil
	}
	st, code := c.newStream(f)
	if code != http2.ErrCodeNo {
		return c.streamError(id, code, nil)
	}
	c.opened++
	c.streams[id] = st
	if c.idleArmed {
		_ = c.nc.SetReadDeadline(time.Time{})
		c.idleArmed = false
	}
	if c.s.cfg.ConnState != nil && !c.readerActive {
		c.s.cfg.ConnState(c.nc, http.StateActive)
		c.readerActive = true
	}
	return c.start(st)
}

// start runs st's handler, or queues it while MaxConcurrentStreams
// handlers run.
func (c *conn) start(st *stream) error {
	c.mu.Lock()
	c.active++
	max := int(c.s.cfg.MaxConcurrentStreams)
	if c.running < max {
		c.running++
		c.mu.Unlock()
		c.s.run(st)
		return nil
	}
	c.pending = append(c.pending, st)
	over := len(c.pending) > pendingFactor*max
	c.mu.Unlock()
	if over {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many streams waiting for a handler (rapid reset)"}
	}
	return nil
}

// runHandlers runs st's handler, then those of queued streams.
func (c *conn) runHandlers(st *stream) {
	for st != nil {
		st.serve()
		c.markDone(st)
		c.mu.Lock()
		finish := c.goingAway && c.active == 0
		idle := c.active == 0
		st = nil
		if len(c.pending) > 0 {
			st = c.pending[0]
			c.pending[0] = nil
			c.pending = c.pending[1:]
		} else {
			c.running--
		}
		c.mu.Unlock()
		if finish {
			c.w.finishAfter()
		} else if idle && c.s.cfg.IdleTimeout > 0 {
			// The reader may be waiting for a frame with no deadline.
			_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		}
	}
}

func (c *conn) onTrailers(st *stream, f *http2.MetaHeadersFrame) error {
	if !f.StreamEnded() {
		return c.streamError(st.id, http2.ErrCodeProtocol, nil)
	}
	if len(f.PseudoFields()) > 0 {
		return c.streamError(st.id, http2.ErrCodeProtocol, nil)
	}
	if st.declLen >= 0 && st.received != st.declLen {
		return c.streamError(st.id, http2.ErrCodeProtocol, nil)
	}
	var tr http.Header
	for _, hf := range f.RegularFields() {
		key := c.canon.Get(hf.Name)
		if !validTrailer(key) {
			return c.streamError(st.id, http2.ErrCodeProtocol, nil)
		}
		if tr == nil {
			tr = make(http.Header)
		}
		tr[key] = append(tr[key], hf.Value)
	}
	st.endRemote(tr)
	return nil
}
