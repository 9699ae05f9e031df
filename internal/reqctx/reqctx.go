// Package reqctx is the request context of slinkerd's own servers
// (internal/h1, internal/h2): a context that costs one allocation per
// request, with one synchronous on-end hook that slinkerd's clients
// (internal/h1client, internal/h2client) set instead of registering a
// context.AfterFunc.
package reqctx

import (
	"context"
	"sync"
	"time"
)

// Context is a request's context. Like net/http's, it ends when the
// handler returns or when the caller goes away (context.Canceled), and it
// carries the connection's values (http.LocalAddrContextKey). It is built
// to cost one allocation per request where context.WithCancel and a
// context.AfterFunc on it cost seven:
//
//   - it is nobody's child: the server ends it itself (Cancel, when the
//     caller is gone or the handler returns), so it registers nowhere;
//   - its Done channel is made only when someone asks for it;
//   - it has one on-end hook (SetCancelHook), which the clients use to
//     interrupt an exchange without an AfterFunc registration.
//
// Contexts derived from it with the context package work as with any
// context: it implements AfterFunc, which the context package uses to
// propagate its end to children without a goroutine each.
//
// The handler may give it a deadline (SetDeadline) instead of deriving a
// child with context.WithDeadline, which registers with it, allocates
// five times more, and leaves the clients no hook to set.
type Context struct {
	values context.Context // the connection's values; never ends

	mu      sync.Mutex
	err     error
	done    chan struct{} // made on demand
	hook    func()
	afters  []afterFunc
	afterID uint64

	deadline time.Time   // zero: none
	timer    *time.Timer // ends the context at deadline
	cause    error       // what CancelCause ended it with

	// A child (Child) hears of its parent's end through the parent's
	// hook (hooked), or when another holds that, an AfterFunc (unhook).
	parent *Context
	hooked bool
	unhook func() bool
}

// afterFunc is one AfterFunc registration.
type afterFunc struct {
	id uint64
	f  func()
}

// closedChan is the Done channel of a context asked for it after it ended.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// New returns a live Context that carries the values of values, which
// never ends it.
func New(values context.Context) *Context {
	return &Context{values: values}
}

// Deadline reports the deadline SetDeadline gave the context, or its
// parent's if that is earlier, if any.
func (c *Context) Deadline() (time.Time, bool) {
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	if c.parent != nil {
		if pd, ok := c.parent.Deadline(); ok && (d.IsZero() || pd.Before(d)) {
			d = pd
		}
	}
	return d, !d.IsZero()
}

// Child returns a context that ends when c does, with c's error, or when
// its own Cancel or CancelCause is called, as context.WithCancelCause(c)
// would, at one allocation: it takes c's hook to hear of c's end (an
// AfterFunc of c's if another holds the hook) and offers its own hook to
// the clients. Ending it gives c's hook back, so a child per attempt
// should be cancelled when its attempt fails.
func (c *Context) Child() *Context {
	// hooked is set first: the parent may end, and run the hook, as soon
	// as it is set.
	ch := &Context{values: c, parent: c, hooked: true}
	if c.SetCancelHook(ch.parentEnded) {
		return ch
	}
	ch.hooked = false
	if err := c.Err(); err != nil {
		ch.end(err)
		return ch
	}
	stop := c.AfterFunc(ch.parentEnded)
	ch.mu.Lock()
	if ch.err == nil {
		ch.unhook = stop
		stop = nil
	}
	ch.mu.Unlock()
	if stop != nil {
		stop()
	}
	return ch
}

// parentEnded ends a child with its parent's error.
func (c *Context) parentEnded() { c.end(c.parent.Err()) }

// SetDeadline makes the context end at d with context.DeadlineExceeded,
// unless it ends before, as a child from context.WithDeadline(c, d)
// would: at once if d has passed. Of several deadlines the earliest
// holds, so a later one changes nothing. It costs a timer, made on the
// first call.
//
// It is for the handler that owns the request, which may shorten the
// caller's time but not lend it out longer; the server's own end
// (Cancel, when the handler returns) stops the timer.
func (c *Context) SetDeadline(d time.Time) {
	c.mu.Lock()
	if c.err != nil || !c.deadline.IsZero() && !d.Before(c.deadline) {
		c.mu.Unlock()
		return
	}
	c.deadline = d
	left := time.Until(d)
	if left > 0 {
		if c.timer == nil {
			c.timer = time.AfterFunc(left, c.expire)
		} else {
			c.timer.Reset(left)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.end(context.DeadlineExceeded)
}

// expire ends the context at its deadline.
func (c *Context) expire() { c.end(context.DeadlineExceeded) }

// Value returns the connection's value for key.
func (c *Context) Value(key any) any { return c.values.Value(key) }

// Done returns a channel closed when the context ends.
func (c *Context) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Err returns nil until the context ends, then context.Canceled, or
// context.DeadlineExceeded if it ended at its deadline (or, for a child,
// its parent's).
func (c *Context) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// String names the context, as the context package's do.
func (c *Context) String() string { return "reqctx.Context" }

// AfterFunc runs f on its own goroutine once the context ends (at once if
// it has), as context.AfterFunc does; the context package calls it for
// every child context derived from this one. stop unregisters f and
// reports whether that kept f from running.
func (c *Context) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.afterID++
	id := c.afterID
	c.afters = append(c.afters, afterFunc{id: id, f: f})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, a := range c.afters {
			if a.id == id {
				c.afters = append(c.afters[:i], c.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// SetCancelHook sets f to run, synchronously and once, when the context
// ends. f must not block. It reports false, and sets nothing, if the
// context has ended or a hook is set already: the caller then falls back
// to context.AfterFunc. The HTTP/1.1 client (internal/h1client) uses it.
func (c *Context) SetCancelHook(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.hook != nil {
		return false
	}
	c.hook = f
	return true
}

// ClearCancelHook removes the hook. It reports whether that kept it from
// running, as an AfterFunc's stop does.
func (c *Context) ClearCancelHook() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	had := c.hook != nil
	c.hook = nil
	return had
}

// Cancel ends the context with context.Canceled: it closes Done, runs the
// hook, and starts the AfterFuncs. Later calls, and a later deadline, do
// nothing.
func (c *Context) Cancel() { c.end(context.Canceled) }

// CancelCause ends the context as Cancel does, and keeps cause for
// Cause, as a context.WithCancelCause's cancel func; a nil cause is
// context.Canceled. It has the type of context.CancelCauseFunc.
func (c *Context) CancelCause(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	c.endWith(context.Canceled, cause)
}

// Cause returns what ended the context: the cause given to CancelCause,
// else its error (nil while it lives). context.Cause cannot see it.
func (c *Context) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return c.cause
	}
	return c.err
}

// end ends the context with err, unless it has ended.
func (c *Context) end(err error) { c.endWith(err, nil) }

// endWith ends the context with err and, if not nil, cause, unless it
// has ended.
func (c *Context) endWith(err, cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.cause = err, cause
	if c.timer != nil {
		c.timer.Stop()
	}
	hooked, unhook := c.hooked, c.unhook
	c.hooked, c.unhook = false, nil
	if c.done != nil {
		close(c.done)
	}
	hook, afters := c.hook, c.afters
	c.hook, c.afters = nil, nil
	c.mu.Unlock()
	if hooked {
		// The parent's hook was this child's until now (a parent that
		// ended cleared it itself, and takes no hook again).
		c.parent.ClearCancelHook()
	} else if unhook != nil {
		unhook()
	}
	if hook != nil {
		hook()
	}
	for _, a := range afters {
		go a.f()
	}
}
