package idtoken

// Idle returns a channel closed once no fetch for audience is running.
func (s *Source) Idle(audience string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byAud[audience]; e != nil && e.inflight != nil {
		return e.inflight
	}
	c := make(chan struct{})
	close(c)
	return c
}
