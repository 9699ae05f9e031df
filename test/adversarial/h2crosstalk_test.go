package adversarial

// The cross-talk invariant for HTTP/2 streams: h2c callers multiplex
// tagged requests through slinkerd to an h2c origin that writes the DATA
// of all its open streams interleaved, a few bytes at a time, and
// misbehaves at random (resets mid-body, lengths that lie, 1xx storms,
// refused streams, frames on streams already closed that carry another
// request's tag, GOAWAY). Every answer a caller gets (interim heads,
// head, body, trailers) carries its own tag or none, never another
// stream's; and every request body the origin reads is its own request's.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	h2CrossConns    = 4   // caller connections to slinkerd, one http.Transport each
	h2CrossStreams  = 16  // callers per connection, each sending one request at a time
	h2CrossRequests = 100 // requests per caller
	// h2GoAwayEvery: one request in this many makes the origin send a
	// GOAWAY and close that connection once its streams are answered.
	h2GoAwayEvery = 50
	// h2CancelEvery: one request in this many is cancelled by its caller
	// once its head has arrived and part of its body been read.
	h2CancelEvery = 10
)

// h2Misbehaviour is what the h2 origin does with one request.
type h2Misbehaviour int

const (
	h2OK           h2Misbehaviour = iota // a correct answer, its body in chunks
	h2Trailers                           // no content-length; the body, then a trailer with the tag
	h2ResetMidBody                       // the head, part of the body, RST_STREAM INTERNAL_ERROR
	h2BadLength                          // a content-length larger than the body sent before END_STREAM
	h2Storm                              // 12 interim 103s, each with the tag, then a correct answer
	h2Refused                            // RST_STREAM REFUSED_STREAM before any head
	h2LateFrames                         // a correct answer, then DATA and HEADERS on the closed stream with another request's tag
	nH2Misbehaviours
)

var h2MisbehaviourNames = [...]string{"ok", "trailers", "reset mid-body", "bad length", "1xx storm", "refused", "late frames"}

// tagHash hashes the seed, a tag and what it is drawn for.
func tagHash(seed uint64, tag, what string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", seed, tag, what)
	return h.Sum64()
}

// pickH2 chooses the misbehaviour for a tag from the seed alone, as pick
// does: every attempt of a request meets the same one. Two requests in
// three are answered correctly.
func pickH2(seed uint64, tag string) h2Misbehaviour {
	v := tagHash(seed, tag, "")
	if v%3 != 0 {
		return h2OK
	}
	return h2Misbehaviour(1 + (v/3)%uint64(nH2Misbehaviours-1))
}

// h2BodyOf is the body of tag's answer: the tag, 1 to 12 times (under
// 100 bytes, far inside any window, so the origin ignores flow control).
func h2BodyOf(seed uint64, tag string) string {
	return strings.Repeat(tag, 1+int(tagHash(seed, tag, "body")%12))
}

// h2GoesAway says whether tag's arrival makes its connection go away.
func h2GoesAway(seed uint64, tag string) bool {
	return tagHash(seed, tag, "goaway")%h2GoAwayEvery == 0
}

// ---- the origin ----

// h2Origin is a raw h2c server on 127.0.0.1 built on the Framer: one
// reader and one writer per connection, the writer interleaving the DATA
// of every open stream in chunks of 1 to 7 bytes.
type h2Origin struct {
	*rawServer
	seed uint64

	mu         sync.Mutex
	requests   int        // request heads read
	goAways    int        // GOAWAYs sent
	recent     [64]string // tags of recent requests, for late frames
	violations []string   // requests whose head or body carries another request's tag
}

func startH2Origin(t testing.TB, seed uint64) *h2Origin {
	t.Helper()
	o := &h2Origin{seed: seed}
	o.rawServer = startRawServer(t, "h2 origin", o.serve)
	return o
}

// serve runs one connection: the handshake, a reader, and the writer on
// this goroutine.
func (o *h2Origin) serve(nc net.Conn, n int) {
	c := &h2OriginConn{o: o, nc: nc, rng: rand.New(rand.NewPCG(o.seed, uint64(n))), bw: bufio.NewWriter(nc),
		streams: map[uint32]*h2OriginStream{}, wake: make(chan struct{}, 1), gone: make(chan struct{})}
	br := bufio.NewReader(nc)
	c.fr = http2.NewFramer(c.bw, br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.AllowIllegalWrites = true // frames on closed streams, on purpose
	c.enc = hpack.NewEncoder(&c.hb)

	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	if c.writeFrame(func() error {
		return c.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	}) != nil {
		return
	}
	go c.read()
	goneAway := c.write()
	if goneAway {
		// Every stream below the GOAWAY's last ID is answered: end our
		// side, and let the client close its own after reading it all.
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	} else {
		_ = nc.Close()
	}
	<-c.gone
}

// h2OriginConn is the origin's side of one connection.
type h2OriginConn struct {
	o   *h2Origin
	nc  net.Conn
	rng *rand.Rand // chunk sizes; the writer's only

	wmu sync.Mutex // the Framer's writes, enc, hb and bw
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer

	mu      sync.Mutex
	streams map[uint32]*h2OriginStream // heads read, answers not finished
	ready   []*h2OriginStream          // requests read whole, for the writer
	lastID  uint32                     // the highest stream ID seen
	goAway  bool                       // a GOAWAY was sent: no new streams
	wake    chan struct{}              // the writer has work (cap 1)
	gone    chan struct{}              // closed when the reader has stopped
}

// h2OriginStream is one request and the answer planned for it.
type h2OriginStream struct {
	id         uint32
	tag        string
	path       string
	method     string
	body       []byte
	dispatched bool        // read whole and handed to the writer; under mu
	steps      []h2Step    // what is left to write; the writer's only
	reset      atomic.Bool // the client reset it: write nothing more
}

// h2Step is one thing the writer does on a stream.
type h2Step struct {
	kind   int // stepHead, stepData or stepReset
	status string
	fields []string // name, value pairs
	data   []byte   // what is left of a stepData
	whole  bool     // write data as one frame, not in chunks
	end    bool     // END_STREAM (on the last chunk of a stepData)
	code   http2.ErrCode
}

const (
	stepHead = iota
	stepData
	stepReset
)

func (c *h2OriginConn) writeFrame(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := f(); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *h2OriginConn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// read reads frames until the connection ends: it answers SETTINGS and
// PING, gives back the connection window of every DATA, and collects
// requests for the writer.
func (c *h2OriginConn) read() {
	defer close(c.gone)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			_ = c.writeFrame(func() error {
				if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
					c.enc.SetMaxDynamicTableSizeLimit(v)
				}
				return c.fr.WriteSettingsAck()
			})
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				_ = c.writeFrame(func() error { return c.fr.WritePing(true, data) })
			}
		case *http2.WindowUpdateFrame:
			// Bodies are far smaller than the windows slinkerd offers.
		case *http2.MetaHeadersFrame:
			c.head(f)
		case *http2.DataFrame:
			if n := f.Header().Length; n > 0 {
				_ = c.writeFrame(func() error { return c.fr.WriteWindowUpdate(0, n) })
			}
			c.data(f.StreamID, f.Data(), f.StreamEnded())
		case *http2.RSTStreamFrame:
			c.mu.Lock()
			if s := c.streams[f.StreamID]; s != nil {
				s.reset.Store(true)
				if !s.dispatched {
					delete(c.streams, f.StreamID)
				}
			}
			c.mu.Unlock()
			c.poke()
		}
	}
}

// head takes a request's HEADERS (or its trailers).
func (c *h2OriginConn) head(f *http2.MetaHeadersFrame) {
	c.mu.Lock()
	if s := c.streams[f.StreamID]; s != nil { // the request's trailers
		c.mu.Unlock()
		if f.StreamEnded() {
			c.dispatch(s)
		}
		return
	}
	if c.goAway && f.StreamID > c.lastID {
		c.mu.Unlock() // begun after our GOAWAY: not processed, the client retries it
		return
	}
	c.lastID = max(c.lastID, f.StreamID)
	s := &h2OriginStream{id: f.StreamID, path: f.PseudoValue("path"), method: f.PseudoValue("method")}
	for _, hf := range f.RegularFields() {
		if hf.Name == "x-tag" {
			s.tag = hf.Value
		}
	}
	c.streams[s.id] = s
	c.mu.Unlock()

	o := c.o
	o.mu.Lock()
	o.recent[o.requests%len(o.recent)] = s.tag
	o.requests++
	if p := tagPattern.FindString(s.path); p != s.tag {
		o.violations = append(o.violations, fmt.Sprintf("the origin read %s %s with x-tag %q", s.method, s.path, s.tag))
	}
	o.mu.Unlock()

	if f.StreamEnded() {
		c.dispatch(s)
	}
	if h2GoesAway(o.seed, s.tag) {
		c.sendGoAway()
	}
}

// data takes a request's DATA.
func (c *h2OriginConn) data(id uint32, b []byte, end bool) {
	c.mu.Lock()
	s := c.streams[id]
	if s != nil && !s.dispatched {
		s.body = append(s.body, b...)
	}
	c.mu.Unlock()
	if s != nil && end {
		c.dispatch(s)
	}
}

// dispatch checks a whole request's body, plans its answer and hands it
// to the writer.
func (c *h2OriginConn) dispatch(s *h2OriginStream) {
	c.mu.Lock()
	if s.dispatched || s.reset.Load() {
		c.mu.Unlock()
		return
	}
	s.dispatched = true
	c.mu.Unlock()

	o := c.o
	o.mu.Lock()
	for _, m := range tagPattern.FindAllString(string(s.body), -1) {
		if m != s.tag {
			o.violations = append(o.violations, fmt.Sprintf("the origin read %s %s (x-tag %q) with body %q", s.method, s.path, s.tag, trunc(string(s.body), 80)))
			break
		}
	}
	other := o.otherTag(s.tag)
	o.mu.Unlock()

	s.steps = o.plan(s.tag, other)
	c.mu.Lock()
	c.ready = append(c.ready, s)
	c.mu.Unlock()
	c.poke()
}

// otherTag is a recent request's tag other than tag; o.mu is held.
func (o *h2Origin) otherTag(tag string) string {
	start := int(tagHash(o.seed, tag, "other") % uint64(len(o.recent)))
	for i := range len(o.recent) {
		if t := o.recent[(start+i)%len(o.recent)]; t != "" && t != tag {
			return t
		}
	}
	return "c99-r999"
}

// plan is the answer to tag's request, as pickH2 says; other is another
// request's tag, for late frames.
func (o *h2Origin) plan(tag, other string) []h2Step {
	body := []byte(h2BodyOf(o.seed, tag))
	head := func(cl int) h2Step {
		return h2Step{kind: stepHead, status: "200", fields: []string{"x-tag", tag, "content-length", strconv.Itoa(cl)}}
	}
	ok := []h2Step{head(len(body)), {kind: stepData, data: body, end: true}}
	switch pickH2(o.seed, tag) {
	case h2Trailers:
		return []h2Step{
			{kind: stepHead, status: "200", fields: []string{"x-tag", tag}},
			{kind: stepData, data: body},
			{kind: stepHead, fields: []string{"x-tag-trailer", tag}, end: true},
		}
	case h2ResetMidBody:
		return []h2Step{head(len(body)), {kind: stepData, data: body[:len(body)/2]}, {kind: stepReset, code: http2.ErrCodeInternal}}
	case h2BadLength:
		return []h2Step{head(len(body) + 50), {kind: stepData, data: body, end: true}}
	case h2Storm:
		var steps []h2Step
		for range 12 {
			steps = append(steps, h2Step{kind: stepHead, status: "103", fields: []string{"x-tag", tag, "link", "</a.css>; rel=preload"}})
		}
		return append(steps, ok...)
	case h2Refused:
		return []h2Step{{kind: stepReset, code: http2.ErrCodeRefusedStream}}
	case h2LateFrames:
		return append(ok,
			h2Step{kind: stepData, data: []byte(other), whole: true},
			h2Step{kind: stepHead, status: "200", fields: []string{"x-tag", other, "content-length", strconv.Itoa(len(other))}, end: true})
	}
	return ok
}

// sendGoAway sends a GOAWAY whose last stream ID is the highest seen;
// the writer closes the connection once those streams are answered.
func (c *h2OriginConn) sendGoAway() {
	c.mu.Lock()
	if c.goAway {
		c.mu.Unlock()
		return
	}
	c.goAway = true
	last := c.lastID
	c.mu.Unlock()
	c.o.mu.Lock()
	c.o.goAways++
	c.o.mu.Unlock()
	_ = c.writeFrame(func() error { return c.fr.WriteGoAway(last, http2.ErrCodeNo, nil) })
	c.poke()
}

// write writes the answers of the streams handed over, one step of each
// in turn per round and one flush per round, until the connection ends
// (false) or has gone away with every stream answered (true).
func (c *h2OriginConn) write() bool {
	var active []*h2OriginStream
	for {
		c.mu.Lock()
		active = append(active, c.ready...)
		c.ready = nil
		closing := c.goAway && len(c.streams) == 0
		c.mu.Unlock()
		if closing {
			return true
		}
		if len(active) == 0 {
			select {
			case <-c.wake:
				continue
			case <-c.gone:
				return false
			case <-c.o.done:
				return false
			}
		}
		if err := c.round(&active); err != nil {
			return false
		}
	}
}

// round writes one step of each active stream, drops the finished and
// the reset, and flushes.
func (c *h2OriginConn) round(active *[]*h2OriginStream) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	keep := (*active)[:0]
	for _, s := range *active {
		if !s.reset.Load() {
			if err := c.step(s); err != nil {
				return err
			}
		}
		if s.reset.Load() || len(s.steps) == 0 {
			c.mu.Lock()
			delete(c.streams, s.id)
			c.mu.Unlock()
			continue
		}
		keep = append(keep, s)
	}
	clear((*active)[len(keep):])
	*active = keep
	return c.bw.Flush()
}

// step writes the next frame of s; c.wmu is held.
func (c *h2OriginConn) step(s *h2OriginStream) error {
	st := &s.steps[0]
	switch st.kind {
	case stepHead:
		s.steps = s.steps[1:]
		c.hb.Reset()
		if st.status != "" {
			_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: st.status})
		}
		for i := 0; i+1 < len(st.fields); i += 2 {
			_ = c.enc.WriteField(hpack.HeaderField{Name: st.fields[i], Value: st.fields[i+1]})
		}
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: c.hb.Bytes(), EndStream: st.end, EndHeaders: true})
	case stepData:
		n := len(st.data)
		if !st.whole {
			n = min(n, 1+c.rng.IntN(7))
		}
		chunk := st.data[:n]
		st.data = st.data[n:]
		end := st.end && len(st.data) == 0
		if len(st.data) == 0 {
			s.steps = s.steps[1:]
		}
		return c.fr.WriteData(s.id, end, chunk)
	default:
		s.steps = s.steps[1:]
		return c.fr.WriteRSTStream(s.id, st.code)
	}
}

// ---- the callers and the test ----

// h2CrossCounts is one path's tally.
type h2CrossCounts struct {
	seed       uint64
	mu         sync.Mutex
	own        int // the caller's own answer, whole
	errors     int // 5xx, transport errors and cancellations, also counted below
	status5xx  int
	transport  int
	cancelled  int
	other      int      // another status or an incomplete answer, without a foreign tag
	violations []string // an answer carrying another request's tag
}

// h2Answer is what one caller got for one request.
type h2Answer struct {
	tag, method string
	interim     []string // the x-tag of each 1xx
	resp        *http.Response
	body        []byte
	err         error
	cancelled   bool
}

func TestCrossTalkHTTP2(t *testing.T) {
	seed := crossSeed(t)
	t.Logf("seed %d (ADVERSARIAL_SEED replays a run); %d h2c connections x %d callers x %d requests",
		seed, h2CrossConns, h2CrossStreams, h2CrossRequests)
	forEachPath(t, func(t *testing.T, env map[string]string) {
		o := startH2Origin(t, seed)
		p := startCrossProxy(t, env, o.port)

		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		n := h2CrossCounts{seed: seed}
		var wg sync.WaitGroup
		for ci := range h2CrossConns {
			protos := new(http.Protocols)
			protos.SetUnencryptedHTTP2(true)
			tr := &http.Transport{Protocols: protos, DisableCompression: true, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			for si := range h2CrossStreams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h2CrossCaller(ctx, client, p.URL(), seed, ci*h2CrossStreams+si, &n)
				}()
			}
		}
		wg.Wait()
		name := strings.TrimPrefix(t.Name(), "TestCrossTalkHTTP2/")
		o.mu.Lock()
		originViolations := append([]string(nil), o.violations...)
		t.Logf("%s: %d own answers, %d errors (%d 5xx, %d transport errors, %d cancelled by the caller), %d other, %d answers meant for another request, %d requests the origin read with another's tag; the origin read %d request heads on %d connections and sent %d GOAWAYs",
			name, n.own, n.errors, n.status5xx, n.transport, n.cancelled, n.other, len(n.violations), len(originViolations), o.requests, o.connections(), o.goAways)
		o.mu.Unlock()
		all := append(n.violations, originViolations...)
		for i, v := range all {
			if i == 20 {
				t.Errorf("… and %d more", len(all)-20)
				break
			}
			t.Errorf("cross-talk (seed %d, %s path): %s", seed, name, v)
		}
		total := h2CrossConns * h2CrossStreams * h2CrossRequests
		if n.own < total/3 {
			t.Errorf("only %d of %d requests got their own answer; two in three are answered correctly by the origin", n.own, total)
		}
	})
}

// h2CrossCaller sends h2CrossRequests tagged requests, one at a time, on
// client's connection, and tallies what comes back.
func h2CrossCaller(ctx context.Context, client *http.Client, base string, seed uint64, i int, n *h2CrossCounts) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	for j := range h2CrossRequests {
		tag := fmt.Sprintf("c%02d-r%03d", i, j)
		method := http.MethodGet
		var body io.Reader
		if rng.IntN(10) < 2 {
			method, body = http.MethodPost, strings.NewReader("body of "+tag)
		}
		cancelAfterHead := rng.IntN(h2CancelEvery) == 0
		keep := 1 + rng.IntN(8) // bytes read before cancelling

		a := h2Answer{tag: tag, method: method}
		var mu sync.Mutex // the trace may run on the transport's goroutine
		trace := &httptrace.ClientTrace{Got1xxResponse: func(_ int, h textproto.MIMEHeader) error {
			mu.Lock()
			a.interim = append(a.interim, h.Get("X-Tag"))
			mu.Unlock()
			return nil
		}}
		rctx, stop := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), 10*time.Second)
		req, _ := http.NewRequestWithContext(rctx, method, base+"/x/"+tag, body)
		req.Host = "x"
		req.Header.Set("X-Tag", tag)
		a.resp, a.err = client.Do(req)
		if a.err == nil {
			if cancelAfterHead {
				buf := make([]byte, keep)
				k, _ := io.ReadFull(a.resp.Body, buf)
				a.body = buf[:k]
				stop()
				a.cancelled = true
			} else {
				a.body, a.err = io.ReadAll(io.LimitReader(a.resp.Body, 64<<10))
			}
			_ = a.resp.Body.Close()
		}
		stop()
		mu.Lock()
		interim := a.interim
		mu.Unlock()
		a.interim = interim
		n.mu.Lock()
		n.tally(a)
		n.mu.Unlock()
	}
}

// foreign returns the first tag in s that is not tag.
func foreign(s, tag string) (string, bool) {
	for _, m := range tagPattern.FindAllString(s, -1) {
		if m != tag {
			return m, true
		}
	}
	return "", false
}

// tally classifies one answer; the caller holds n.mu.
func (n *h2CrossCounts) tally(a h2Answer) {
	violation := func(where, what, other string) {
		status := 0
		if a.resp != nil {
			status = a.resp.StatusCode
		}
		n.violations = append(n.violations, fmt.Sprintf("%s %s (origin answered: %s) got %d with %s %s (whose origin answered: %s)",
			a.method, a.tag, h2MisbehaviourNames[pickH2(n.seed, a.tag)], status, where, what, h2MisbehaviourNames[pickH2(n.seed, other)]))
	}
	// Whatever else happened, a foreign tag anywhere is cross-talk.
	for _, v := range a.interim {
		if m, ok := foreign(v, a.tag); ok {
			violation("a 1xx carrying x-tag", strconv.Quote(v), m)
			return
		}
	}
	if a.resp != nil {
		for _, hdr := range []struct {
			where string
			h     http.Header
		}{{"header", a.resp.Header}, {"trailer", a.resp.Trailer}} {
			for k, vs := range hdr.h {
				for _, v := range vs {
					if m, ok := foreign(v, a.tag); ok {
						violation(hdr.where, k+": "+strconv.Quote(v), m)
						return
					}
				}
			}
		}
		if m, ok := foreign(string(a.body), a.tag); ok {
			violation("body", strconv.Quote(trunc(string(a.body), 80)), m)
			return
		}
	}
	switch {
	case a.cancelled:
		n.errors++
		n.cancelled++
	case a.err != nil:
		n.errors++
		n.transport++
	case a.resp.StatusCode >= 500:
		n.errors++
		n.status5xx++
	case a.resp.StatusCode == 200 && a.resp.Header.Get("X-Tag") == a.tag && string(a.body) == h2BodyOf(n.seed, a.tag) &&
		(pickH2(n.seed, a.tag) != h2Trailers || a.resp.Trailer.Get("X-Tag-Trailer") == a.tag):
		n.own++
	default:
		n.other++
	}
}
