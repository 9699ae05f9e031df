package reqctx

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type ctxKey struct{}

// The request context behaves as a context.WithCancel child of the
// connection's values would, for every way the context package and its
// users read it.
func TestReqContextIsAContext(t *testing.T) {
	values := context.WithValue(context.Background(), ctxKey{}, "v")
	c := New(values)
	if c.Value(ctxKey{}) != "v" {
		t.Fatal("the connection's values are lost")
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("a request context has no deadline of its own")
	}
	done := c.Done()
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	deadlined, cancelDl := context.WithDeadline(c, time.Now().Add(time.Hour))
	defer cancelDl()
	fired := make(chan struct{})
	context.AfterFunc(c, func() { close(fired) })
	stopped := make(chan struct{})
	stop := context.AfterFunc(c, func() { close(stopped) })
	if !stop() {
		t.Fatal("stop of an AfterFunc that has not run reports false")
	}
	hooked := 0
	if !c.SetCancelHook(func() { hooked++ }) {
		t.Fatal("SetCancelHook on a fresh context failed")
	}
	if c.SetCancelHook(func() {}) {
		t.Fatal("a second hook was taken")
	}
	for _, x := range []context.Context{c, child, deadlined} {
		if x.Err() != nil {
			t.Fatalf("%v ended early: %v", x, x.Err())
		}
	}

	c.Cancel()
	c.Cancel() // twice does nothing

	<-done
	<-child.Done()
	<-deadlined.Done()
	<-fired
	<-c.Done() // asked for after the end
	if hooked != 1 {
		t.Fatalf("hook ran %d times, want 1", hooked)
	}
	if c.ClearCancelHook() {
		t.Fatal("ClearCancelHook after the hook ran reports true")
	}
	for _, x := range []context.Context{c, child, deadlined} {
		if !errors.Is(x.Err(), context.Canceled) {
			t.Fatalf("%v: Err = %v, want Canceled", x, x.Err())
		}
		if !errors.Is(context.Cause(x), context.Canceled) {
			t.Fatalf("%v: Cause = %v, want Canceled", x, context.Cause(x))
		}
	}
	select {
	case <-stopped:
		t.Fatal("a stopped AfterFunc ran")
	default:
	}
	if c.SetCancelHook(func() {}) {
		t.Fatal("a hook was set on an ended context")
	}
	late := make(chan struct{})
	if context.AfterFunc(c, func() { close(late) })() {
		t.Fatal("stop of an AfterFunc on an ended context reports true")
	}
	<-late
}

// The hook removed before the end does not run.
func TestReqContextClearedHookDoesNotRun(t *testing.T) {
	c := New(context.Background())
	ran := false
	c.SetCancelHook(func() { ran = true })
	if !c.ClearCancelHook() {
		t.Fatal("ClearCancelHook of a set hook reports false")
	}
	c.Cancel()
	if ran {
		t.Fatal("a cleared hook ran")
	}
}

// waitDone waits for ctx to end, failing after a bound far past any
// deadline the tests set.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context did not end")
	}
}

// A deadline ends the context as a context.WithDeadline child would: Err
// says DeadlineExceeded, Done closes, the hook and the AfterFuncs run,
// and children see the deadline and end with it.
func TestSetDeadlineEndsTheContext(t *testing.T) {
	c := New(context.Background())
	d := time.Now().Add(50 * time.Millisecond)
	c.SetDeadline(d)
	if got, ok := c.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, d)
	}
	if c.Err() != nil {
		t.Fatalf("Err() before the deadline = %v", c.Err())
	}
	hooked := make(chan struct{})
	if !c.SetCancelHook(func() { close(hooked) }) {
		t.Fatal("SetCancelHook failed")
	}
	after := make(chan struct{})
	context.AfterFunc(c, func() { close(after) })
	child, cancel := context.WithTimeout(c, time.Hour)
	defer cancel()
	if got, _ := child.Deadline(); !got.Equal(d) {
		t.Fatalf("a child's deadline is %v; want the parent's %v", got, d)
	}
	waitDone(t, c)
	if time.Now().Before(d) {
		t.Fatal("the context ended before its deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(c), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, Cause = %v; want DeadlineExceeded", c.Err(), context.Cause(c))
	}
	<-hooked
	<-after
	waitDone(t, child)
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("child Err() = %v; want DeadlineExceeded", child.Err())
	}
	c.Cancel()
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Cancel after the deadline changed Err() to %v", c.Err())
	}
}

// Of several deadlines the earliest holds; one already past ends the
// context at once.
func TestSetDeadlineEarliestHolds(t *testing.T) {
	now := time.Now()
	c := New(context.Background())
	c.SetDeadline(now.Add(time.Hour))
	c.SetDeadline(now.Add(2 * time.Hour)) // later: no change
	if got, _ := c.Deadline(); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("a later deadline moved it to %v", got)
	}
	c.SetDeadline(now.Add(30 * time.Millisecond)) // earlier: the timer moves
	waitDone(t, c)
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v; want DeadlineExceeded", c.Err())
	}

	past := New(context.Background())
	hooked := false
	past.SetCancelHook(func() { hooked = true })
	past.SetDeadline(now.Add(-time.Second))
	if !errors.Is(past.Err(), context.DeadlineExceeded) || !hooked {
		t.Fatalf("a passed deadline: Err() = %v, hook ran %v; want DeadlineExceeded at once", past.Err(), hooked)
	}
}

// Cancel before the deadline ends the context with Canceled, and the
// deadline that comes later changes nothing; a deadline set after the
// end is ignored.
func TestCancelBeforeDeadline(t *testing.T) {
	c := New(context.Background())
	c.SetDeadline(time.Now().Add(20 * time.Millisecond))
	c.Cancel()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err() = %v; want Canceled", c.Err())
	}
	// The timer was stopped; a context that outlived the deadline would
	// still say Canceled. Wait past it on a context of the test's own.
	wait, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	<-wait.Done()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("after the deadline, Err() = %v; want Canceled", c.Err())
	}
	c.SetDeadline(time.Now().Add(-time.Second))
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("a deadline after the end changed Err() to %v", c.Err())
	}
}

// A child ends with its parent, with the parent's error, runs its own
// hook, and sees the parent's values and deadline; ending the child
// alone leaves the parent alive, with its hook free again.
func TestChildEndsWithItsParent(t *testing.T) {
	for _, how := range []string{"cancel", "deadline"} {
		t.Run(how, func(t *testing.T) {
			p := New(context.WithValue(context.Background(), ctxKey{}, "v"))
			d := time.Now().Add(time.Hour)
			if how == "deadline" {
				d = time.Now().Add(30 * time.Millisecond)
			}
			p.SetDeadline(d)
			ch := p.Child()
			if ch.Value(ctxKey{}) != "v" {
				t.Fatal("the child lost the connection's values")
			}
			if got, ok := ch.Deadline(); !ok || !got.Equal(d) {
				t.Fatalf("child Deadline() = %v, %v; want the parent's %v", got, ok, d)
			}
			hooked := make(chan error, 1)
			if !ch.SetCancelHook(func() { hooked <- ch.Err() }) {
				t.Fatal("the child offers no hook")
			}
			want := context.DeadlineExceeded
			if how == "cancel" {
				p.Cancel()
				want = context.Canceled
			}
			waitDone(t, ch)
			if err := <-hooked; !errors.Is(err, want) {
				t.Fatalf("the child's hook saw %v; want %v", err, want)
			}
			if !errors.Is(ch.Err(), want) || !errors.Is(ch.Cause(), want) {
				t.Fatalf("child Err() = %v, Cause() = %v; want %v", ch.Err(), ch.Cause(), want)
			}
		})
	}

	p := New(context.Background())
	ch := p.Child()
	cause := errors.New("attempt timed out")
	ch.CancelCause(cause)
	if !errors.Is(ch.Err(), context.Canceled) || ch.Cause() != cause {
		t.Fatalf("child Err() = %v, Cause() = %v; want Canceled and its cause", ch.Err(), ch.Cause())
	}
	if p.Err() != nil {
		t.Fatalf("ending the child ended the parent: %v", p.Err())
	}
	if !p.SetCancelHook(func() {}) {
		t.Fatal("the parent's hook is still taken after its child ended")
	}
}

// With the parent's hook held by another, a child registers an AfterFunc
// instead and leaves that hook alone; a child of an ended parent is born
// ended.
func TestChildWhenTheHookIsTaken(t *testing.T) {
	p := New(context.Background())
	other := make(chan struct{})
	if !p.SetCancelHook(func() { close(other) }) {
		t.Fatal("SetCancelHook failed")
	}
	gone := p.Child()
	gone.Cancel() // unregisters its AfterFunc; the other hook stays
	ch := p.Child()
	p.Cancel()
	<-other
	waitDone(t, ch)
	if !errors.Is(ch.Err(), context.Canceled) {
		t.Fatalf("child Err() = %v; want Canceled", ch.Err())
	}
	late := p.Child()
	if !errors.Is(late.Err(), context.Canceled) {
		t.Fatalf("a child of an ended parent: Err() = %v; want Canceled", late.Err())
	}
}

// A parent and its children ending at once, from several goroutines:
// each ends once, with one error, and no hook runs twice (run with
// -race).
func TestChildEndsConcurrently(t *testing.T) {
	for range 200 {
		p := New(context.Background())
		ch := p.Child()
		var runs atomic.Int32
		ch.SetCancelHook(func() { runs.Add(1) })
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); p.Cancel() }()
		go func() { defer wg.Done(); ch.CancelCause(errors.New("attempt")) }()
		go func() { defer wg.Done(); p.SetDeadline(time.Now()) }()
		wg.Wait()
		if ch.Err() == nil || p.Err() == nil || runs.Load() != 1 {
			t.Fatalf("parent %v, child %v, child's hook ran %d times", p.Err(), ch.Err(), runs.Load())
		}
	}
}
