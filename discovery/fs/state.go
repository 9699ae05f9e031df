package fs

import (
	"cmp"
	"slices"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
)

// NameState is a snapshot of one name, for the admin server
// (/admin/discovery.json).
type NameState struct {
	// Name is the name, i.e. the file name.
	Name string `json:"name"`
	// File is the file's path.
	File string `json:"file"`
	// State is the state of the name's Var: "bound", "neg", "failed" or
	// "pending".
	State string `json:"state"`
	// Addresses is the last good set; empty when the file is missing or
	// was never valid.
	Addresses []name.Address `json:"addresses"`
	// LastRefresh is when the file was last checked.
	LastRefresh time.Time `json:"lastRefresh"`
	// Age is how long ago LastRefresh was, by the namer's clock.
	Age time.Duration `json:"age"`
	// LastError is the error of the last check, e.g. a malformed line;
	// empty if it succeeded.
	LastError string `json:"lastError,omitempty"`
	// EmptySince is when the file started listing no addresses while the
	// last good set is kept (the empty grace period's start); zero
	// otherwise.
	EmptySince time.Time `json:"emptySince,omitzero"`
}

// State returns a snapshot of every name whose file has existed, sorted
// by name.
func (n *Namer) State() []NameState {
	n.mu.RLock()
	entries := make([]*entry, 0, len(n.entries))
	for _, e := range n.entries {
		entries = append(entries, e)
	}
	n.mu.RUnlock()
	slices.SortFunc(entries, func(a, b *entry) int { return cmp.Compare(a.name, b.name) })

	now := n.clk.Now()
	out := make([]NameState, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		s := NameState{
			Name:        e.name,
			File:        e.file,
			State:       e.v.Peek().State.String(),
			Addresses:   slices.Clone(e.addrs),
			LastRefresh: e.lastRefresh,
			Age:         now.Sub(e.lastRefresh),
			EmptySince:  e.empty.Since(),
		}
		if e.lastErr != nil {
			s.LastError = e.lastErr.Error()
		}
		e.mu.Unlock()
		out = append(out, s)
	}
	return out
}
