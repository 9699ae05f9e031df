package dns

import "context"

// WaitIdle waits until no refresh is running.
func (n *SRVNamer) WaitIdle(ctx context.Context) error { return n.cache.WaitIdle(ctx) }
