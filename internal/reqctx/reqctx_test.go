package reqctx

import (
	"context"
	"errors"
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
