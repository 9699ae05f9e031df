package inet

// Idle returns a channel closed once no resolution of host is running (at
// once when host is not cached).
func (n *Inet) Idle(hostname string) <-chan struct{} {
	n.mu.Lock()
	h := n.hosts[hostname]
	n.mu.Unlock()
	if h == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return h.flight.Idle()
}
