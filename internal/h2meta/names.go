package h2meta

// Names converts header names (to canonical keys, to lower case) and
// remembers what it converted, up to MaxNames names, so that the names a
// connection's peer repeats are converted, and allocated, once. It is
// not safe for concurrent use: each side of a connection keeps its own.
type Names struct {
	m map[string]string
	f func(string) string
}

// MaxNames bounds what one Names remembers; names past it are converted
// every time.
const MaxNames = 512

// NewNames returns a Names that converts with f.
func NewNames(f func(string) string) Names {
	return Names{m: make(map[string]string), f: f}
}

// Get returns f(k), remembered.
func (n *Names) Get(k string) string {
	if v, ok := n.m[k]; ok {
		return v
	}
	v := n.f(k)
	if len(n.m) < MaxNames {
		n.m[k] = v
	}
	return v
}
