package h2meta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// pairEncoders is slinkerd's encoder and x/net's, each writing to its own
// buffer; check says where their output first differs.
type pairEncoders struct {
	ours, theirs       bytes.Buffer
	enc                *Encoder
	ref                *hpack.Encoder
	dec                *hpack.Decoder
	decoded, lastBlock []hpack.HeaderField
}

func newPair() *pairEncoders {
	p := &pairEncoders{}
	p.enc = NewEncoder(&p.ours)
	p.ref = hpack.NewEncoder(&p.theirs)
	p.dec = hpack.NewDecoder(initialTableSize, func(f hpack.HeaderField) { p.decoded = append(p.decoded, f) })
	return p
}

func (p *pairEncoders) write(t testing.TB, f hpack.HeaderField) {
	t.Helper()
	if err := p.enc.WriteField(f); err != nil {
		t.Fatal(err)
	}
	_ = p.ref.WriteField(f)
	p.lastBlock = append(p.lastBlock, f)
	if !bytes.Equal(p.ours.Bytes(), p.theirs.Bytes()) {
		t.Fatalf("after %q (sensitive %v): encoded\n%x\nx/net's encoder:\n%x", f.Name+": "+f.Value, f.Sensitive, p.ours.Bytes(), p.theirs.Bytes())
	}
}

// endBlock decodes the block written since the last one with x/net's
// decoder, which keeps its own table in step, and checks the fields.
func (p *pairEncoders) endBlock(t testing.TB) {
	t.Helper()
	p.decoded = p.decoded[:0]
	if _, err := p.dec.Write(p.ours.Bytes()); err != nil {
		t.Fatalf("x/net's decoder refuses the block %x: %v", p.ours.Bytes(), err)
	}
	if err := p.dec.Close(); err != nil {
		t.Fatalf("x/net's decoder: %v", err)
	}
	if len(p.decoded) != len(p.lastBlock) {
		t.Fatalf("decoded %d fields, wrote %d", len(p.decoded), len(p.lastBlock))
	}
	for i, f := range p.lastBlock {
		if got := p.decoded[i]; got.Name != f.Name || got.Value != f.Value || got.Sensitive != f.Sensitive {
			t.Fatalf("field %d decoded as %+v, written as %+v", i, got, f)
		}
	}
	p.ours.Reset()
	p.theirs.Reset()
	p.lastBlock = p.lastBlock[:0]
}

// setLimit sets the table size limit on both encoders and on the decoder
// (what the peer's SETTINGS_HEADER_TABLE_SIZE does).
func (p *pairEncoders) setLimit(v uint32) {
	p.enc.SetMaxDynamicTableSizeLimit(v)
	p.ref.SetMaxDynamicTableSizeLimit(v)
	p.dec.SetAllowedMaxDynamicTableSize(v)
}

func TestStaticTableAsXNet(t *testing.T) {
	dec := hpack.NewDecoder(initialTableSize, nil)
	newest := map[string]uint64{}
	var ents []hpack.HeaderField
	for i := uint64(1); i <= staticLen; i++ {
		fs, err := dec.DecodeFull(appendVarInt(nil, 7, 0x80, i))
		if err != nil || len(fs) != 1 {
			t.Fatalf("static index %d: %v %v", i, fs, err)
		}
		ents = append(ents, fs[0])
		newest[fs[0].Name] = i
	}
	if _, err := dec.DecodeFull(appendVarInt(nil, 7, 0x80, staticLen+1)); err == nil {
		t.Fatalf("index %d decodes with an empty dynamic table: the static table is longer than %d", staticLen+1, staticLen)
	}
	for i, f := range ents {
		idx := uint64(i + 1)
		if got := staticName(f.Name); got != newest[f.Name] {
			t.Errorf("staticName(%q) = %d, want %d", f.Name, got, newest[f.Name])
		}
		if got := staticPair(f.Name, f.Value, newest[f.Name]); got != idx {
			t.Errorf("staticPair(%q, %q) = %d, want %d", f.Name, f.Value, got, idx)
		}
		if got := staticPair(f.Name, f.Value+"x", newest[f.Name]); got != 0 {
			t.Errorf("staticPair(%q, %q) = %d, want 0", f.Name, f.Value+"x", got)
		}
	}
	for _, name := range []string{"", "te", "x-forwarded-for", "Content-Type", ":authority ", "grpc-status"} {
		if got := staticName(name); got != 0 {
			t.Errorf("staticName(%q) = %d, want 0", name, got)
		}
	}
}

func TestEncoderAsXNetOnRequestHeads(t *testing.T) {
	p := newPair()
	for i := range 300 {
		if i == 120 {
			p.setLimit(256) // the peer shrinks the table: evictions, a size update
		}
		if i == 200 {
			p.setLimit(1024) // shrinks it further
		}
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"},
			{Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "bench-grpc"},
			{Name: ":path", Value: fmt.Sprintf("/svc.Service/Method%d", i%7)},
			{Name: "content-type", Value: "application/grpc"},
			{Name: "te", Value: "trailers"},
			{Name: "user-agent", Value: ""},
			{Name: "via", Value: "2 slinkerd"},
			{Name: "x-forwarded-for", Value: fmt.Sprintf("10.0.0.%d", i%5)},
			{Name: "l5d-reqid", Value: fmt.Sprintf("%016x", i*7919), Sensitive: true},
			{Name: "grpc-timeout", Value: fmt.Sprintf("%dm", 100+i), Sensitive: true},
			{Name: "authorization", Value: "Bearer t", Sensitive: true},
			{Name: "x-big", Value: strings.Repeat("v", 50*(i%100))}, // over the table at times
			{Name: "content-length", Value: "5"},
		} {
			p.write(t, f)
		}
		p.endBlock(t)
	}
}

// FuzzEncoderAsXNet drives both encoders with the same fields and table
// size changes, from the input, and wants the same bytes after every
// field; each block also goes through x/net's decoder. A limit change
// starts a block, as a peer's SETTINGS does.
//
//	go test -run '^$' -fuzz FuzzEncoderAsXNet -fuzztime 10m ./internal/h2meta
func FuzzEncoderAsXNet(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x00\x01\x02"))
	f.Add([]byte("\x10\x11\x12\xf0\x00\x01\xe0\x40\x00\x13\x14\x15\x16\x17"))
	f.Add([]byte("\x20\x21\x22\x23\xf8\x00\x24\x25\xf8\x10\x00\x26\x27\x28"))
	names := []string{":method", ":path", ":scheme", ":status", ":authority", "accept-encoding", "content-type",
		"user-agent", "via", "te", "x-a", "x-b", "cookie", "grpc-status", "www-authenticate", "host"}
	values := []string{"", "GET", "POST", "/", "/index.html", "http", "https", "200", "204", "404", "500",
		"gzip, deflate", "trailers", "application/grpc", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\x00\xff"}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newPair()
		for len(data) > 0 {
			op := data[0]
			data = data[1:]
			switch {
			case op >= 0xf0 && len(data) >= 2: // the peer's table size limit
				p.endBlock(t) // settings apply between blocks
				v := uint32(binary.BigEndian.Uint16(data)) % 5000
				data = data[2:]
				p.setLimit(v)
				p.write(t, hpack.HeaderField{Name: "x-a", Value: "after"})
			case op >= 0xd0:
				p.endBlock(t)
			default:
				fld := hpack.HeaderField{Name: names[op&0x0f], Value: values[op>>4&0x07], Sensitive: op&0x80 != 0}
				if op>>4&0x07 == 7 && len(data) > 0 { // a value taken from the input
					n := min(int(data[0]), len(data)-1)
					fld.Value, data = string(data[1:1+n]), data[1+n:]
				}
				p.write(t, fld)
			}
		}
		p.endBlock(t)
	})
}

// The cache in front of the table search gives x/net's index in the
// cases it can get wrong: fields that share a slot, used in turn; an
// entry evicted while its slot still names it, then entered again; and
// a table shrunk to nothing, which no entry fits again.
func TestEncoderRecentCacheAsXNet(t *testing.T) {
	// Fields that share one slot, found by trying values.
	slot := recentSlot("x-c", "v0")
	var same []hpack.HeaderField
	for i := 0; len(same) < 4; i++ {
		if v := fmt.Sprintf("v%d", i); recentSlot("x-c", v) == slot {
			same = append(same, hpack.HeaderField{Name: "x-c", Value: v})
		}
	}
	big := hpack.HeaderField{Name: "x-big", Value: strings.Repeat("b", 3000)}
	p := newPair()
	for round := range 6 {
		for _, f := range same {
			p.write(t, f)
			p.write(t, same[0])
		}
		if round%2 == 1 {
			p.write(t, big) // evicts most of the table, the slot's entry with it
		}
		p.endBlock(t)
	}
	p.setLimit(0) // empties the table
	for _, f := range same {
		p.write(t, f)
	}
	p.endBlock(t)
}

// grpcHead is a request head as slinkerd sends a unary gRPC call on.
var grpcHead = []hpack.HeaderField{
	{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "bench-grpc"},
	{Name: ":path", Value: "/grpc.health.v1.Health/Check"}, {Name: "content-type", Value: "application/grpc"},
	{Name: "te", Value: "trailers"}, {Name: "user-agent", Value: "grpc-go/1.85.0"},
	{Name: "via", Value: "2 slinkerd"}, {Name: "forwarded", Value: "for=127.0.0.1;proto=http;by=127.0.0.1"},
	{Name: "x-forwarded-for", Value: "127.0.0.1"}, {Name: "x-forwarded-proto", Value: "http"},
	{Name: "x-forwarded-host", Value: "bench-grpc"}, {Name: "l5d-dst-service", Value: "/svc/bench-grpc"},
	{Name: "l5d-reqid", Value: "0123456789abcdef", Sensitive: true}, {Name: "content-length", Value: "5"},
}

// BenchmarkEncodeHead compares the encoders on a repeated gRPC request
// head, the steady state of a connection:
//
//	go test -run '^$' -bench EncodeHead -benchmem ./internal/h2meta
func BenchmarkEncodeHead(b *testing.B) {
	b.Run("h2meta", func(b *testing.B) {
		var buf bytes.Buffer
		enc := NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			for _, f := range grpcHead {
				_ = enc.WriteField(f)
			}
		}
	})
	b.Run("x-net", func(b *testing.B) {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			for _, f := range grpcHead {
				_ = enc.WriteField(f)
			}
		}
	})
}
