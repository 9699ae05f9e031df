package h2

import (
	"bufio"
	"errors"
	"runtime"
	"sync"

	"github.com/slinkerd/slinkerd/internal/h2meta"
	"golang.org/x/net/http2"
)

// frameKind says what an outFrame writes.
type frameKind uint8

const (
	kData frameKind = iota
	kHeaders
	kRST
	kSettings
	kSettingsAck
	kPingAck
	kGoAway
	kWindowUpdate
)

// outFrame is one frame in the write queue.
type outFrame struct {
	kind     frameKind
	control  bool // an answer to a peer's control frame (counted)
	end      bool // END_STREAM
	streamID uint32
	n        uint32 // window increment, GOAWAY's last stream ID
	code     http2.ErrCode
	ping     [8]byte
	buf      []byte  // DATA payload or header block, owned by the frame
	pool     *[]byte // buf came from dataPool, in this slice (put back as is)
	st       *stream // set on a stream's last frame, to note when it is flushed
}

// dataChunk is the largest DATA payload the writer takes in one frame.
const dataChunk = 16 << 10

var dataPool = sync.Pool{New: func() any { b := make([]byte, dataChunk); return &b }}

// maxQueuedData bounds the DATA bytes waiting in the write queue of one
// connection: past it, Write waits for the writer, whatever windows the
// peer offers.
const maxQueuedData = 256 << 10

// maxQueuedControl is how many answers to the peer's control frames
// (PING and SETTINGS acks, RST_STREAMs) may wait in the write queue
// before the connection is closed, as x/net: a peer that floods them and
// reads nothing cannot make the queue grow without bound.
const maxQueuedControl = 10000

// errConnClosed is what a Write on a closed connection returns.
var errConnClosed = errors.New("h2: connection closed")

// errTooManyControl ends a connection whose peer sends control frames
// faster than it reads their answers (PING and SETTINGS floods).
var errTooManyControl = errors.New("h2: too many queued control frames")

// writer is a connection's write side: a queue of frames that one
// goroutine (run) drains, flushing when the queue is empty. It also holds
// what handlers share about sending: the peer's windows and frame size,
// and the HPACK encoder (a header block is encoded when queued, under
// the queue's lock, so blocks are encoded in the order they are sent).
type writer struct {
	c    *conn
	bw   *bufio.Writer
	fr   *http2.Framer // write side only
	wake chan struct{} // cap 1: the queue has something, or the writer must stop

	mu       sync.Mutex
	cond     sync.Cond // handlers waiting for window or queue room
	q        []outFrame
	spare    []outFrame
	queued   int // DATA bytes in q
	controls int // control answers in q
	closed   bool
	err      error // why it closed
	finish   bool  // write what is queued, then close the connection
	connSend int64 // the peer's connection window
	initSend int64 // the peer's SETTINGS_INITIAL_WINDOW_SIZE; written by the reader alone
	maxFrame int   // the peer's SETTINGS_MAX_FRAME_SIZE
	enc      *h2meta.Encoder
	encBuf   headerBuf
	flushing []*stream // streams whose last frame is written, not yet flushed (run)

	// blocks holds the header blocks of the frames in q, each frame's
	// buf a slice of it; run takes it with q, and gives it back as
	// blocksSpare once that batch is written. A block is encoded and its
	// frame queued under one hold of mu, so every block in blocks belongs
	// to a frame in q.
	blocks, blocksSpare []byte
}

// keepBlocks is the largest header-block buffer the writer keeps for
// the next batch.
const keepBlocks = 64 << 10

// headerBuf is the bytes.Buffer-like sink of the encoder.
type headerBuf struct{ b []byte }

func (h *headerBuf) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }

func (w *writer) init(c *conn) {
	w.c = c
	w.bw = bufio.NewWriterSize(c.nc, 16<<10)
	w.fr = http2.NewFramer(w.bw, nil)
	w.wake = make(chan struct{}, 1)
	w.cond.L = &w.mu
	w.connSend = initialWindow
	w.initSend = initialWindow
	w.maxFrame = 16 << 10
	w.enc = h2meta.NewEncoder(&w.encBuf)
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// push queues f; false when the writer is closed. A control answer past
// the bound closes the connection.
func (w *writer) push(f outFrame) bool {
	w.mu.Lock()
	ok := w.pushLocked(f)
	w.mu.Unlock()
	return ok
}

func (w *writer) pushLocked(f outFrame) bool {
	if w.closed || w.finish {
		if f.pool != nil {
			dataPool.Put(f.pool)
		}
		return false
	}
	if f.control {
		if w.controls >= maxQueuedControl {
			w.closeLocked(errTooManyControl)
			return false
		}
		w.controls++
	}
	if f.kind == kData {
		w.queued += len(f.buf)
	}
	w.q = append(w.q, f)
	if len(w.q) == 1 {
		w.signal()
	}
	return true
}

// closeLocked stops the writer at once (nothing more is written) and
// closes the connection, which ends the reader.
func (w *writer) closeLocked(err error) {
	if w.closed {
		return
	}
	w.closed, w.err = true, err
	w.cond.Broadcast()
	_ = w.c.nc.Close()
	w.signal()
}

// finishAfter has the writer write what is queued, then close the
// connection (after a GOAWAY).
func (w *writer) finishAfter() {
	w.mu.Lock()
	w.finish = true
	w.cond.Broadcast()
	w.mu.Unlock()
	w.signal()
}

// encodeLocked encodes fields into a new header block, under w.mu; the
// caller queues its frame before it lets go of mu.
func (w *writer) encodeLocked(fields func(enc *h2meta.Encoder)) []byte {
	start := len(w.blocks)
	w.encBuf.b = w.blocks
	fields(w.enc)
	w.blocks, w.encBuf.b = w.encBuf.b, nil
	return w.blocks[start:len(w.blocks):len(w.blocks)]
}

// run is the writer goroutine.
func (w *writer) run() {
	defer close(w.c.writerDone)
	yielded := false // the writer has yielded once since its last flush
	for {
		w.mu.Lock()
		for len(w.q) == 0 && !w.closed && !w.finish {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		if len(w.q) == 0 { // finish, all written
			w.closed = true
			w.cond.Broadcast()
			w.mu.Unlock()
			_ = w.bw.Flush()
			_ = w.c.nc.Close()
			return
		}
		batch, blocks := w.q, w.blocks
		w.q, w.spare = w.spare[:0], nil
		w.blocks, w.blocksSpare = w.blocksSpare[:0], nil
		w.mu.Unlock()

		var err error
		var data, controls int
		for i := range batch {
			f := &batch[i]
			if err == nil {
				err = w.write(f)
				if err == nil && f.st != nil {
					w.flushing = append(w.flushing, f.st)
				}
			}
			if f.kind == kData {
				data += len(f.buf)
			}
			if f.control {
				controls++
			}
			if f.pool != nil {
				dataPool.Put(f.pool)
			}
			*f = outFrame{}
		}
		w.mu.Lock()
		w.spare = batch[:0]
		if cap(blocks) <= keepBlocks {
			w.blocksSpare = blocks[:0]
		}
		w.queued -= data
		w.controls -= controls
		if data > 0 {
			w.cond.Broadcast()
		}
		empty := len(w.q) == 0
		w.mu.Unlock()
		if err == nil && empty && !yielded && w.bw.Buffered() < yieldBelow {
			// As grpc-go's loopy writer: with little buffered, let the
			// handlers that are about to queue frames run first, and
			// send theirs in the same write.
			yielded = true
			runtime.Gosched()
			w.mu.Lock()
			empty = len(w.q) == 0
			w.mu.Unlock()
			if !empty {
				continue
			}
		}
		if err == nil && empty {
			yielded = false
			err = w.bw.Flush()
			if err == nil && len(w.flushing) > 0 {
				at := w.c.rd.reads.Load() + 1
				for i, st := range w.flushing {
					st.flushedAt.Store(at)
					w.flushing[i] = nil
				}
				w.flushing = w.flushing[:0]
			}
		}
		if err != nil {
			w.mu.Lock()
			w.closeLocked(err)
			w.mu.Unlock()
			return
		}
	}
}

// yieldBelow is the buffered size under which the writer yields once
// before it flushes a drained queue.
const yieldBelow = 16 << 10

func (w *writer) write(f *outFrame) error {
	fr := w.fr
	switch f.kind {
	case kData:
		return fr.WriteData(f.streamID, f.end, f.buf)
	case kHeaders:
		w.mu.Lock()
		max := w.maxFrame
		w.mu.Unlock()
		block := f.buf
		first := block
		if len(first) > max {
			first = first[:max]
		}
		block = block[len(first):]
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.streamID, BlockFragment: first, EndStream: f.end, EndHeaders: len(block) == 0}); err != nil {
			return err
		}
		for len(block) > 0 {
			frag := block
			if len(frag) > max {
				frag = frag[:max]
			}
			block = block[len(frag):]
			if err := fr.WriteContinuation(f.streamID, len(block) == 0, frag); err != nil {
				return err
			}
		}
		return nil
	case kRST:
		return fr.WriteRSTStream(f.streamID, f.code)
	case kSettings:
		c := w.c
		return fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.s.cfg.MaxConcurrentStreams},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(c.s.cfg.MaxReceiveBufferPerStream)},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.s.cfg.MaxHeaderListSize},
		)
	case kSettingsAck:
		return fr.WriteSettingsAck()
	case kPingAck:
		return fr.WritePing(true, f.ping)
	case kGoAway:
		return fr.WriteGoAway(f.n, f.code, nil)
	case kWindowUpdate:
		return fr.WriteWindowUpdate(f.streamID, f.n)
	}
	return nil
}
