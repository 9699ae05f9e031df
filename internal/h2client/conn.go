package h2client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/internal/h2meta"
	"golang.org/x/net/http2"
)

// conn is one HTTP/2 connection to an endpoint. Its reader goroutine
// (readLoop) owns the incoming frames; writers take wmu.
type conn struct {
	h  *host
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	fr *http2.Framer

	// Writing: wmu guards bw, fr's writes, enc and hbuf. wwait counts the
	// writers waiting for wmu; the last one out flushes.
	wwait atomic.Int32
	wmu   sync.Mutex
	enc   *h2meta.Encoder
	hbuf  bytes.Buffer
	lower h2meta.Names // canonical header key -> lower case; under wmu
	// field's state while a request head is sized, then encoded; under wmu.
	listSize int
	encoding bool

	// meta decodes header blocks; canon maps the lower-case field names
	// the endpoint sends to canonical header keys. The reader's alone.
	meta  *h2meta.Reader
	canon h2meta.Names

	reads atomic.Uint64 // frames read, for the health check

	mu         sync.Mutex
	sendCond   sync.Cond // streams waiting for send window; L is &mu
	streams    map[uint32]*stream
	reserved   int    // streams reserved by get, not yet opened
	nextID     uint32 // the next stream ID to open
	maxStreams uint32 // the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS
	initWindow int32  // the endpoint's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame   uint32 // the endpoint's SETTINGS_MAX_FRAME_SIZE
	maxHeaders uint32 // the endpoint's SETTINGS_MAX_HEADER_LIST_SIZE; 0: none
	sendWindow int32  // connection send window
	recvAvail  int32  // connection receive window left
	recvUnack  int32  // received and not yet given back
	goingAway  bool   // GOAWAY received, or IDs used up: no new streams
	lastID     uint32 // GOAWAY's last stream ID
	err        error  // why the connection ended; set once
	idleTimer  *time.Timer
	// The response-head watch (checkHeads), armed while a stream waits
	// for a head, every headEvery (0: not armed).
	headTimer  *time.Timer
	headEvery  time.Duration
	health     *time.Timer
	healthRead uint64 // reads at the health check before
	pinging    bool
}

// maxStreamID is the last stream ID a client may open.
const maxStreamID = 1<<31 - 1

// maxReadFrame is the largest frame the client reads: x/net's Framer's
// default, which it keeps.
const maxReadFrame = 1<<24 - 1

// settingsTimeout bounds the wait for an endpoint's first SETTINGS.
const settingsTimeout = 5 * time.Second

// initialMaxStreams is how many streams a new connection takes before
// the endpoint's SETTINGS say otherwise (x/net's transport assumes 100).
const initialMaxStreams = 100

func newConn(h *host, nc net.Conn) (*conn, error) {
	cfg := &h.c.cfg
	cc := &conn{
		h:          h,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 16<<10),
		bw:         bufio.NewWriterSize(nc, 16<<10),
		lower:      h2meta.NewNames(strings.ToLower),
		canon:      h2meta.NewNames(http.CanonicalHeaderKey),
		streams:    make(map[uint32]*stream),
		nextID:     1,
		maxStreams: initialMaxStreams,
		initWindow: 65535,
		maxFrame:   16384,
		sendWindow: 65535,
		recvAvail:  cfg.ConnWindow,
	}
	cc.sendCond.L = &cc.mu
	cc.fr = http2.NewFramer(cc.bw, cc.br)
	cc.meta = h2meta.NewReader(cfg.MaxHeaderListSize)
	cc.fr.SetReuseFrames()
	cc.enc = h2meta.NewEncoder(&cc.hbuf)

	if _, err := cc.bw.WriteString(http2.ClientPreface); err != nil {
		return nil, err
	}
	if err := cc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(cfg.StreamWindow)},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.MaxHeaderListSize},
	); err != nil {
		return nil, err
	}
	if d := cfg.ConnWindow - 65535; d > 0 {
		if err := cc.fr.WriteWindowUpdate(0, uint32(d)); err != nil {
			return nil, err
		}
	}
	if err := cc.bw.Flush(); err != nil {
		return nil, err
	}
	// The endpoint's SETTINGS come first (RFC 9113 §3.4): wait for them,
	// so that the streams opened next respect its limits.
	_ = nc.SetReadDeadline(time.Now().Add(settingsTimeout))
	f, err := cc.fr.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("reading the endpoint's SETTINGS: %w", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return nil, fmt.Errorf("the endpoint's first frame is %v, not SETTINGS", f.Header().Type)
	}
	if code, err := cc.onSettings(sf); err != nil {
		return nil, fmt.Errorf("endpoint's SETTINGS (%v): %w", code, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	if cfg.IdleTimeout > 0 {
		cc.idleTimer = time.AfterFunc(cfg.IdleTimeout, cc.closeIfIdle)
	}
	if cfg.ReadIdleTimeout > 0 {
		cc.health = time.AfterFunc(cfg.ReadIdleTimeout, cc.healthCheck)
	}
	go cc.readLoop()
	return cc, nil
}

// reserve takes a stream slot for a request about to be sent.
func (cc *conn) reserve() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err != nil || cc.goingAway || uint32(len(cc.streams)+cc.reserved) >= cc.maxStreams {
		return false
	}
	cc.reserved++
	return true
}

// lockWrite takes the writers' lock.
func (cc *conn) lockWrite() {
	cc.wwait.Add(1)
	cc.wmu.Lock()
	cc.wwait.Add(-1)
}

// unlockWrite flushes what is buffered unless another writer waits for
// the lock, and releases it. A failed write or flush ends the connection.
//
// The rule that nothing stays buffered: a writer leaves without flushing
// only while another waits for the lock, and every holder of the lock
// leaves through here (lockWrite's callers all call unlockWrite), so the
// last one out finds no waiter and flushes everything, its own frames
// and those of the writers before it.
func (cc *conn) unlockWrite(err error) error {
	if err == nil && cc.wwait.Load() == 0 && cc.bw.Buffered() < yieldBelow {
		// As grpc-go's loopy writer: with little buffered, let the
		// goroutines about to write (other streams' requests) run first,
		// and send their frames in the same write.
		cc.wmu.Unlock()
		runtime.Gosched()
		cc.lockWrite()
	}
	if err == nil && cc.wwait.Load() == 0 && cc.bw.Buffered() > 0 {
		err = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	if err != nil {
		cc.fail(fmt.Errorf("write: %w", err))
	}
	return err
}

// yieldBelow is the buffered size under which a writer yields once
// before it flushes.
const yieldBelow = 16 << 10

// writeRST resets a stream.
func (cc *conn) writeRST(id uint32, code http2.ErrCode) {
	cc.lockWrite()
	_ = cc.unlockWrite(cc.fr.WriteRSTStream(id, code))
}

// writeWindowUpdate gives back n bytes of window for stream id (0: the
// connection).
func (cc *conn) writeWindowUpdate(id uint32, n int32) {
	cc.lockWrite()
	_ = cc.unlockWrite(cc.fr.WriteWindowUpdate(id, uint32(n)))
}

// fail ends the connection with err: every stream fails, and it leaves
// the pool.
func (cc *conn) fail(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	cc.err = err
	streams := cc.streams
	cc.streams = make(map[uint32]*stream)
	for _, s := range streams {
		s.failLocked(connError(cc.h.addr, err))
		s.endBody()
	}
	cc.sendCond.Broadcast()
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	if cc.headTimer != nil {
		cc.headTimer.Stop()
	}
	if cc.health != nil {
		cc.health.Stop()
	}
	cc.mu.Unlock()
	_ = cc.nc.Close()
	cc.h.remove(cc)
}

// connFail answers a connection error of the endpoint's: GOAWAY with its
// code, then close.
func (cc *conn) connFail(code http2.ErrCode, err error) {
	cc.lockWrite()
	cc.mu.Lock()
	last := cc.nextID - 2
	cc.mu.Unlock()
	_ = cc.fr.WriteGoAway(0, code, nil)
	_ = cc.bw.Flush()
	cc.wmu.Unlock()
	_ = last
	cc.fail(fmt.Errorf("endpoint broke the protocol (%v): %w", code, err))
}

// closeIfIdle closes the connection if it has no stream.
func (cc *conn) closeIfIdle() {
	cc.mu.Lock()
	idle := len(cc.streams) == 0 && cc.reserved == 0 && cc.err == nil
	if idle {
		cc.goingAway = true
	}
	cc.mu.Unlock()
	if idle {
		cc.fail(errIdleClosed)
	}
}

var errIdleClosed = errors.New("closed while idle")

// removeLocked forgets a finished stream.
func (cc *conn) removeLocked(s *stream) {
	if cc.streams[s.id] != s {
		return
	}
	delete(cc.streams, s.id)
	if len(cc.streams) == 0 && cc.reserved == 0 {
		if cc.goingAway && cc.err == nil {
			// Drained after a GOAWAY: nothing more will use it.
			go cc.fail(errDrained)
		} else if cc.idleTimer != nil {
			cc.idleTimer.Reset(cc.h.c.cfg.IdleTimeout)
		}
	}
}

var errDrained = errors.New("drained after GOAWAY")

// healthCheck pings a connection that has streams open and has read
// nothing since the last check, and closes it when the ping goes
// unanswered.
func (cc *conn) healthCheck() {
	cfg := &cc.h.c.cfg
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	reads := cc.reads.Load()
	if cc.pinging && reads == cc.healthRead {
		cc.mu.Unlock()
		cc.fail(fmt.Errorf("no answer to a PING within %s", cfg.PingTimeout))
		return
	}
	ping := reads == cc.healthRead && len(cc.streams) > 0
	cc.pinging = ping
	cc.healthRead = reads
	if ping {
		cc.health.Reset(cfg.PingTimeout)
	} else {
		cc.health.Reset(cfg.ReadIdleTimeout)
	}
	cc.mu.Unlock()
	if ping {
		cc.lockWrite()
		_ = cc.unlockWrite(cc.fr.WritePing(false, [8]byte{'s', 'l', 'i', 'n', 'k', 'e', 'r', 'd'}))
	}
}

// readLoop reads the endpoint's frames until the connection fails.
func (cc *conn) readLoop() {
	for {
		f, err := cc.meta.ReadFrame(cc.br, cc.fr, maxReadFrame)
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				// A malformed header block or a bad frame on one stream.
				cc.streamError(se.StreamID, se.Code, fmt.Errorf("endpoint sent a malformed frame: %w", se))
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				cc.connFail(http2.ErrCode(ce), err)
				return
			}
			cc.fail(err)
			return
		}
		cc.reads.Add(1)
		var code http2.ErrCode
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			code, err = cc.onHeaders(f)
		case *http2.DataFrame:
			code, err = cc.onData(f)
		case *http2.RSTStreamFrame:
			cc.onReset(f)
		case *http2.SettingsFrame:
			code, err = cc.onSettings(f)
		case *http2.WindowUpdateFrame:
			code, err = cc.onWindowUpdate(f)
		case *http2.PingFrame:
			if !f.IsAck() {
				cc.lockWrite()
				err = cc.unlockWrite(cc.fr.WritePing(true, f.Data))
			}
		case *http2.GoAwayFrame:
			cc.onGoAway(f)
		case *http2.PushPromiseFrame:
			code, err = http2.ErrCodeProtocol, errors.New("PUSH_PROMISE after SETTINGS_ENABLE_PUSH 0")
		}
		if code != http2.ErrCodeNo {
			cc.connFail(code, err)
			return
		}
		if err != nil {
			cc.fail(err)
			return
		}
	}
}

// stream returns the open stream id, or nil; closed says whether id is
// one of ours that has ended (frames for it are late, not wrong).
func (cc *conn) streamLocked(id uint32) (s *stream, closed bool) {
	if s = cc.streams[id]; s != nil {
		return s, false
	}
	return nil, id%2 == 1 && id < cc.nextID
}

// streamError resets stream id with code and fails it with err.
func (cc *conn) streamError(id uint32, code http2.ErrCode, err error) {
	cc.mu.Lock()
	s := cc.streams[id]
	if s != nil {
		s.failLocked(err)
		cc.removeLocked(s)
	}
	cc.mu.Unlock()
	if s != nil {
		cc.writeRST(id, code)
	}
}

func (cc *conn) onHeaders(f *http2.MetaHeadersFrame) (http2.ErrCode, error) {
	id := f.StreamID
	cc.mu.Lock()
	s, closed := cc.streamLocked(id)
	if s == nil {
		cc.mu.Unlock()
		if closed {
			return 0, nil
		}
		return http2.ErrCodeProtocol, fmt.Errorf("HEADERS on stream %d, which is not open", id)
	}
	err := s.onHeadersLocked(f)
	if err != nil {
		s.failLocked(err)
		cc.removeLocked(s)
	}
	cc.mu.Unlock()
	if err != nil {
		cc.writeRST(id, http2.ErrCodeProtocol)
	}
	return 0, nil
}

func (cc *conn) onData(f *http2.DataFrame) (http2.ErrCode, error) {
	id := f.StreamID
	n := int32(f.Length)
	cc.mu.Lock()
	cc.recvAvail -= n
	if cc.recvAvail < 0 {
		cc.mu.Unlock()
		return http2.ErrCodeFlowControl, errors.New("DATA beyond the connection window")
	}
	// The connection window goes back as DATA arrives: the streams'
	// windows bound what is buffered.
	var giveBack int32
	cc.recvUnack += n
	if cc.recvUnack >= cc.h.c.cfg.ConnWindow/4 {
		giveBack, cc.recvUnack = cc.recvUnack, 0
		cc.recvAvail += giveBack
	}
	s, closed := cc.streamLocked(id)
	var rst http2.ErrCode
	var streamBack int32
	if s == nil {
		cc.mu.Unlock()
		if !closed {
			return http2.ErrCodeProtocol, fmt.Errorf("DATA on stream %d, which is not open", id)
		}
	} else {
		var err error
		rst, streamBack, err = s.onDataLocked(f)
		if err != nil {
			s.failLocked(err)
			cc.removeLocked(s)
		}
		cc.mu.Unlock()
	}
	if giveBack > 0 || streamBack > 0 || rst != 0 {
		cc.lockWrite()
		var err error
		if giveBack > 0 {
			err = cc.fr.WriteWindowUpdate(0, uint32(giveBack))
		}
		if err == nil && streamBack > 0 {
			err = cc.fr.WriteWindowUpdate(id, uint32(streamBack))
		}
		if err == nil && rst != 0 {
			err = cc.fr.WriteRSTStream(id, rst)
		}
		_ = cc.unlockWrite(err)
	}
	return 0, nil
}

func (cc *conn) onReset(f *http2.RSTStreamFrame) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	s := cc.streams[f.StreamID]
	if s == nil {
		return
	}
	s.onResetLocked(f.ErrCode)
	cc.removeLocked(s)
	s.endBody()
}

func (cc *conn) onSettings(f *http2.SettingsFrame) (http2.ErrCode, error) {
	if f.IsAck() {
		return 0, nil
	}
	cc.mu.Lock()
	var code http2.ErrCode
	var err error
	tableSize := int64(-1)
	_ = f.ForeachSetting(func(st http2.Setting) error {
		if verr := st.Valid(); verr != nil {
			code, err = http2.ErrCodeProtocol, verr
			if ce, ok := verr.(http2.ConnectionError); ok {
				code = http2.ErrCode(ce)
			}
			return verr
		}
		switch st.ID {
		case http2.SettingMaxConcurrentStreams:
			cc.maxStreams = st.Val
		case http2.SettingMaxFrameSize:
			cc.maxFrame = st.Val
		case http2.SettingMaxHeaderListSize:
			cc.maxHeaders = st.Val
		case http2.SettingHeaderTableSize:
			tableSize = int64(st.Val)
		case http2.SettingInitialWindowSize:
			delta := int32(st.Val) - cc.initWindow
			for _, s := range cc.streams {
				if int64(s.sendWindow)+int64(delta) > maxStreamID {
					code, err = http2.ErrCodeFlowControl, errors.New("SETTINGS_INITIAL_WINDOW_SIZE overflows a stream's window")
					return err
				}
			}
			for _, s := range cc.streams {
				s.sendWindow += delta
			}
			cc.initWindow = int32(st.Val)
		}
		return nil
	})
	cc.sendCond.Broadcast()
	cc.mu.Unlock()
	if err != nil {
		return code, err
	}
	cc.lockWrite()
	if tableSize >= 0 {
		cc.enc.SetMaxDynamicTableSizeLimit(uint32(min(tableSize, 4096)))
	}
	return 0, cc.unlockWrite(cc.fr.WriteSettingsAck())
}

func (cc *conn) onWindowUpdate(f *http2.WindowUpdateFrame) (http2.ErrCode, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if int64(cc.sendWindow)+inc > maxStreamID {
			return http2.ErrCodeFlowControl, errors.New("WINDOW_UPDATE overflows the connection window")
		}
		cc.sendWindow += int32(inc)
		cc.sendCond.Broadcast()
		return 0, nil
	}
	s := cc.streams[f.StreamID]
	if s == nil {
		return 0, nil
	}
	if int64(s.sendWindow)+inc > maxStreamID {
		s.failLocked(errors.New("endpoint overflowed the stream's window"))
		cc.removeLocked(s)
		go cc.writeRST(f.StreamID, http2.ErrCodeFlowControl)
		return 0, nil
	}
	s.sendWindow += int32(inc)
	cc.sendCond.Broadcast()
	return 0, nil
}

func (cc *conn) onGoAway(f *http2.GoAwayFrame) {
	ga := http2.GoAwayError{LastStreamID: f.LastStreamID, ErrCode: f.ErrCode, DebugData: string(f.DebugData())}
	cc.mu.Lock()
	cc.goingAway = true
	cc.lastID = f.LastStreamID
	for id, s := range cc.streams {
		if id > f.LastStreamID {
			s.failLocked(&unprocessedError{err: connError(cc.h.addr, ga)})
			s.unprocessed = true
			cc.removeLocked(s)
		}
	}
	empty := len(cc.streams) == 0 && cc.reserved == 0
	cc.mu.Unlock()
	cc.h.remove(cc)
	if empty {
		cc.fail(ga)
	}
}
