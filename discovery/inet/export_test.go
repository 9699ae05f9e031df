package inet

// Idle returns a channel closed once no resolution of host is running.
func (n *Inet) Idle(hostname string) <-chan struct{} {
	return n.host(hostname).flight.Idle()
}
