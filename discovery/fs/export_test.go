package fs

// Idle returns a channel closed once no background check of nm is
// running (at once when nm has no entry).
func (n *Namer) Idle(nm string) <-chan struct{} {
	n.mu.RLock()
	e := n.entries[nm]
	n.mu.RUnlock()
	if e == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return e.flight.Idle()
}
