package h2meta

import (
	"io"

	"golang.org/x/net/http2/hpack"
)

// Encoder is an HPACK encoder (RFC 7541) that writes, byte for byte, the
// blocks x/net's hpack.Encoder writes for the same fields and table
// settings, with fewer table lookups. x/net's encoder looks a field up in
// the static table by name and value, then by name, then in the dynamic
// table by name and value (three hashes of the strings for a field the
// dynamic table holds); this one finds the static index with a switch and
// looks in the dynamic table only where x/net's answer could come from
// it: one hash for such a field, none for a never-indexed field with a
// static name. Under gRPC load the lookups were the largest single cost
// of encoding a request head.
type Encoder struct {
	w   io.Writer
	buf []byte

	// The dynamic table, as x/net keeps it: ents[0] is the oldest entry;
	// an entry's id is its position plus evictCount plus one, and HPACK
	// index 62 is the newest entry.
	ents        []hpack.HeaderField
	evictCount  uint64
	byName      map[string]uint64
	byNameValue map[pair]uint64
	recent      [recentSlots]recentEntry // in front of byNameValue
	size        uint32
	maxSize     uint32

	// sizeUpdate says a size update is due at the start of the next
	// block: the peer's SETTINGS_HEADER_TABLE_SIZE shrank the table.
	sizeUpdate bool
}

type pair struct{ name, value string }

// recentSlots is the size of the encoder's direct-mapped cache of table
// entries by name and value, 1<<recentBits. A request or response on a
// connection mostly repeats the fields of the one before, and finding
// them here costs two string comparisons where the map hashes both
// strings.
const (
	recentBits  = 6
	recentSlots = 1 << recentBits
)

// recentEntry is a dynamic table entry, by its id: valid while the id
// is past the evicted ones. An entry is never entered twice while it is
// in the table, so a valid id is the newest one with its name and value,
// as in byNameValue.
type recentEntry struct {
	name, value string
	id          uint64
}

// recentSlot is the cache slot of a name and value: their lengths, the
// name's last byte and the value's last and middle bytes, in which a
// connection's repeated fields differ most, mixed by a Fibonacci hash.
func recentSlot(name, value string) int {
	h := uint64(len(name))<<16 | uint64(len(value))
	if len(name) > 0 {
		h = h<<8 | uint64(name[len(name)-1])
	}
	if len(value) > 0 {
		h = h<<16 | uint64(value[len(value)-1])<<8 | uint64(value[len(value)/2])
	}
	return int(h * 0x9E3779B97F4A7C15 >> (64 - recentBits))
}

// initialTableSize is the dynamic table's size before any setting (RFC
// 7541 §4.2, RFC 9113 §6.5.2).
const initialTableSize = 4096

// staticLen is the number of entries in the static table (RFC 7541
// Appendix A).
const staticLen = 61

// NewEncoder returns an encoder that writes to w, with a dynamic table of
// 4096 bytes, as hpack.NewEncoder.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{
		w:           w,
		byName:      map[string]uint64{},
		byNameValue: map[pair]uint64{},
		maxSize:     initialTableSize,
	}
}

// SetMaxDynamicTableSizeLimit caps the dynamic table's size (the peer's
// SETTINGS_HEADER_TABLE_SIZE); a table over the cap shrinks to it, and
// the change is announced at the start of the next block. The table
// never grows past its initial 4096 bytes, as x/net's encoder's does not
// unless told to.
func (e *Encoder) SetMaxDynamicTableSizeLimit(v uint32) {
	if e.maxSize > v {
		e.sizeUpdate = true
		e.setMaxSize(v)
	}
}

// WriteField encodes f and writes it to the encoder's writer.
func (e *Encoder) WriteField(f hpack.HeaderField) error {
	b := e.buf[:0]
	if e.sizeUpdate {
		e.sizeUpdate = false
		b = appendTableSize(b, e.maxSize)
	}
	idx, exact := e.search(f)
	switch {
	case exact:
		b = appendVarInt(b, 7, 0x80, idx)
	default:
		indexing := !f.Sensitive && fieldSize(f) <= e.maxSize
		if indexing {
			e.add(f)
		}
		var first byte
		switch {
		case f.Sensitive:
			first = 0x10
		case indexing:
			first = 0x40
		}
		if idx == 0 {
			b = append(b, first)
			b = appendString(b, f.Name)
		} else if indexing {
			b = appendVarInt(b, 6, first, idx)
		} else {
			b = appendVarInt(b, 4, first, idx)
		}
		b = appendString(b, f.Value)
	}
	e.buf = b
	n, err := e.w.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// search returns the index x/net's encoder would use for f: a static
// entry with f's name and value, else a dynamic one, else the newest
// static entry with f's name, else the newest dynamic one (0: none).
// Sensitive fields match by name only.
func (e *Encoder) search(f hpack.HeaderField) (idx uint64, exact bool) {
	s := staticName(f.Name)
	if s != 0 && !f.Sensitive {
		if i := staticPair(f.Name, f.Value, s); i != 0 {
			return i, true
		}
	}
	if !f.Sensitive {
		r := &e.recent[recentSlot(f.Name, f.Value)]
		if r.id > e.evictCount && r.name == f.Name && r.value == f.Value {
			return e.index(r.id), true
		}
		if id := e.byNameValue[pair{f.Name, f.Value}]; id != 0 {
			*r = recentEntry{f.Name, f.Value, id}
			return e.index(id), true
		}
	}
	if s != 0 {
		return s, false
	}
	if id := e.byName[f.Name]; id != 0 {
		return e.index(id), false
	}
	return 0, false
}

// index is the HPACK index of the dynamic entry with id.
func (e *Encoder) index(id uint64) uint64 {
	return uint64(len(e.ents)) - (id - e.evictCount) + 1 + staticLen
}

// add enters f in the dynamic table and evicts what no longer fits.
func (e *Encoder) add(f hpack.HeaderField) {
	id := uint64(len(e.ents)) + e.evictCount + 1
	e.byName[f.Name] = id
	e.byNameValue[pair{f.Name, f.Value}] = id
	e.recent[recentSlot(f.Name, f.Value)] = recentEntry{f.Name, f.Value, id}
	e.ents = append(e.ents, f)
	e.size += fieldSize(f)
	e.evict()
}

func (e *Encoder) setMaxSize(v uint32) {
	e.maxSize = v
	e.evict()
}

// evict drops the oldest entries until the table fits its size.
func (e *Encoder) evict() {
	n := 0
	for e.size > e.maxSize && n < len(e.ents) {
		f := e.ents[n]
		e.size -= fieldSize(f)
		id := e.evictCount + uint64(n) + 1
		if e.byName[f.Name] == id {
			delete(e.byName, f.Name)
		}
		if p := (pair{f.Name, f.Value}); e.byNameValue[p] == id {
			delete(e.byNameValue, p)
		}
		if r := &e.recent[recentSlot(f.Name, f.Value)]; r.id == id {
			*r = recentEntry{} // so the strings can be collected
		}
		n++
	}
	if n == 0 {
		return
	}
	k := copy(e.ents, e.ents[n:])
	clear(e.ents[k:]) // so the strings can be collected
	e.ents = e.ents[:k]
	e.evictCount += uint64(n)
}

// fieldSize is a field's size in the table (RFC 7541 §4.1).
func fieldSize(f hpack.HeaderField) uint32 {
	return uint32(len(f.Name) + len(f.Value) + 32)
}

// appendVarInt appends i as an HPACK integer with an n-bit prefix, the
// first byte's other bits set from first (RFC 7541 §5.1).
func appendVarInt(dst []byte, n uint, first byte, i uint64) []byte {
	k := uint64(1)<<n - 1
	if i < k {
		return append(dst, first|byte(i))
	}
	dst = append(dst, first|byte(k))
	i -= k
	for ; i >= 128; i >>= 7 {
		dst = append(dst, byte(0x80|i&0x7f))
	}
	return append(dst, byte(i))
}

func appendTableSize(dst []byte, v uint32) []byte {
	return appendVarInt(dst, 5, 0x20, uint64(v))
}

// appendString appends s as an HPACK string literal, Huffman-coded when
// that is shorter (RFC 7541 §5.2), as x/net does.
func appendString(dst []byte, s string) []byte {
	if n := hpack.HuffmanEncodeLength(s); n < uint64(len(s)) {
		dst = appendVarInt(dst, 7, 0x80, n)
		return hpack.AppendHuffmanString(dst, s)
	}
	dst = appendVarInt(dst, 7, 0, uint64(len(s)))
	return append(dst, s...)
}

// staticPair returns the static index of the entry with name and value,
// 0 if there is none; s is the newest static index with name (not 0).
func staticPair(name, value string, s uint64) uint64 {
	switch name {
	case ":method":
		switch value {
		case "GET":
			return 2
		case "POST":
			return 3
		}
	case ":path":
		switch value {
		case "/":
			return 4
		case "/index.html":
			return 5
		}
	case ":scheme":
		switch value {
		case "http":
			return 6
		case "https":
			return 7
		}
	case ":status":
		switch value {
		case "200":
			return 8
		case "204":
			return 9
		case "206":
			return 10
		case "304":
			return 11
		case "400":
			return 12
		case "404":
			return 13
		case "500":
			return 14
		}
	case "accept-encoding":
		if value == "gzip, deflate" {
			return 16
		}
	default:
		// Every other static entry has an empty value.
		if value == "" {
			return s
		}
	}
	return 0
}

// staticName returns the newest (highest) static index of an entry named
// name, 0 if there is none.
func staticName(name string) uint64 {
	switch name {
	case ":authority":
		return 1
	case ":method":
		return 3
	case ":path":
		return 5
	case ":scheme":
		return 7
	case ":status":
		return 14
	case "accept-charset":
		return 15
	case "accept-encoding":
		return 16
	case "accept-language":
		return 17
	case "accept-ranges":
		return 18
	case "accept":
		return 19
	case "access-control-allow-origin":
		return 20
	case "age":
		return 21
	case "allow":
		return 22
	case "authorization":
		return 23
	case "cache-control":
		return 24
	case "content-disposition":
		return 25
	case "content-encoding":
		return 26
	case "content-language":
		return 27
	case "content-length":
		return 28
	case "content-location":
		return 29
	case "content-range":
		return 30
	case "content-type":
		return 31
	case "cookie":
		return 32
	case "date":
		return 33
	case "etag":
		return 34
	case "expect":
		return 35
	case "expires":
		return 36
	case "from":
		return 37
	case "host":
		return 38
	case "if-match":
		return 39
	case "if-modified-since":
		return 40
	case "if-none-match":
		return 41
	case "if-range":
		return 42
	case "if-unmodified-since":
		return 43
	case "last-modified":
		return 44
	case "link":
		return 45
	case "location":
		return 46
	case "max-forwards":
		return 47
	case "proxy-authenticate":
		return 48
	case "proxy-authorization":
		return 49
	case "range":
		return 50
	case "referer":
		return 51
	case "refresh":
		return 52
	case "retry-after":
		return 53
	case "server":
		return 54
	case "set-cookie":
		return 55
	case "strict-transport-security":
		return 56
	case "transfer-encoding":
		return 57
	case "user-agent":
		return 58
	case "vary":
		return 59
	case "via":
		return 60
	case "www-authenticate":
		return 61
	}
	return 0
}
