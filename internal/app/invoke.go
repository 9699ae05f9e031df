package app

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
)

// Activity remembers when the proxy last finished a request, which is
// when its pooled connections last went idle. The Lambda run modes (the
// extension and the in-process client) use it to
// tell a thaw: an invocation that starts long after the last request
// probably follows a freeze, and the pooled connections may be dead
// (servers and NATs drop idle connections while the environment cannot
// answer). Wall-clock time is used because the monotonic clock may not
// advance while the environment is frozen.
type Activity struct {
	last atomic.Int64 // Unix ns, wall clock
}

// NewActivity returns an Activity whose last request ended at now.
func NewActivity(now time.Time) *Activity {
	a := &Activity{}
	a.touch(now)
	return a
}

func (a *Activity) touch(now time.Time) { a.last.Store(now.UnixNano()) }

// Idle returns how long it has been since the last request ended.
func (a *Activity) Idle(now time.Time) time.Duration {
	d := time.Duration(now.UnixNano() - a.last.Load())
	return max(d, 0)
}

// Wrap notes the end of every request through h.
func (a *Activity) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { a.touch(time.Now()) }()
		h.ServeHTTP(w, r)
	})
}

// InvokeStart is what the Lambda run modes do when an invocation starts:
// after a gap of at least thawGap since the last request (never when
// thawGap is negative: Lambda Managed Instances are not frozen), close the
// idle pooled connections (one found dead before the request is written
// is requeued, but one that died silently would swallow the request);
// then start a refresh of the stale names in use. Namers refresh in the
// background; looking the names up is bounded by refreshTimeout.
func (a *App) InvokeStart(ctx context.Context, act *Activity, thawGap time.Duration, now time.Time) (idle time.Duration, closed bool, names int) {
	idle = act.Idle(now)
	if thawGap >= 0 && idle >= thawGap {
		a.Proxy.CloseIdleConnections()
		closed = true
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	return idle, closed, a.RefreshStale(ctx)
}

// refreshTimeout bounds the lookups of refreshStale. A namer answers a
// name it already knows from memory, so this only matters for a namer
// that misbehaves: the invocation must not wait on it.
const refreshTimeout = 100 * time.Millisecond

// RefreshStale samples the addresses of every bound name the proxy has
// used. Sampling runs the namer's on-use hook, which refreshes the name
// in the background when its data is older than its TTL: so discovery is
// refreshed lazily, when an invocation needs it, and no timer has to run
// across a freeze. Names that are fresh cost a map lookup. It returns how
// many names it sampled.
func (a *App) RefreshStale(ctx context.Context) int {
	n := 0
	namers := a.Interpreter.Namers()
	for _, c := range a.Proxy.Clients() {
		id, err := name.ParsePath(c.ID)
		if err != nil {
			continue
		}
		t, err := namers.Lookup(ctx, id)
		if err != nil {
			continue
		}
		_, bounds := name.Eval(name.Simplify(t))
		for _, b := range bounds {
			if b.Value.Addr != nil {
				b.Value.Addr.Sample()
				n++
			}
		}
	}
	return n
}
