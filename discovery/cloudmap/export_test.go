package cloudmap

import "context"

// WaitIdle waits until no refresh is running.
func (n *Namer) WaitIdle(ctx context.Context) error { return n.cache.WaitIdle(ctx) }
