package namerkit

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		ok   bool
	}{
		{name: "min", in: "1", want: 1, ok: true},
		{name: "max", in: "65535", want: 65535, ok: true},
		{name: "leading zero", in: "080", want: 80, ok: true},
		{name: "zero", in: "0"},
		{name: "too big", in: "65536"},
		{name: "too long", in: "000080"},
		{name: "sign", in: "+80"},
		{name: "negative", in: "-1"},
		{name: "empty", in: ""},
		{name: "letters", in: "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrPort)
				assert.Contains(t, err.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantIP bool
		ok     bool
	}{
		{name: "ipv4", in: "10.0.0.1", want: "10.0.0.1", wantIP: true, ok: true},
		{name: "ipv6", in: "::1", want: "::1", wantIP: true, ok: true},
		{name: "ipv6 bracketed", in: "[2001:db8::1]", want: "2001:db8::1", wantIP: true, ok: true},
		{name: "ipv6 zone", in: "fe80::1%eth0", want: "fe80::1%eth0", wantIP: true, ok: true},
		{name: "ipv4 mapped", in: "::ffff:10.0.0.1", want: "10.0.0.1", wantIP: true, ok: true},
		{name: "hostname", in: "Users.Default.svc", want: "users.default.svc", ok: true},
		{name: "trailing dot", in: "example.com.", want: "example.com.", ok: true},
		{name: "underscore", in: "my_service", want: "my_service", ok: true},
		{name: "bad ip", in: "10.0.0.256"},
		{name: "empty", in: ""},
		{name: "empty label", in: "a..b"},
		{name: "slash", in: "a/b"},
		{name: "space", in: "a b"},
		{name: "long label", in: string(make([]byte, 64))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ip, err := ParseHost(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrHost)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantIP, ip.IsValid())
		})
	}
}

func TestPublish(t *testing.T) {
	addrs := []name.Address{{Host: "10.0.0.1", Port: 80}}
	v := name.NewVar(name.Addr{}, nil)
	ch := v.Changed()
	assert.True(t, Publish(v, name.Addr{State: name.AddrBound, Addresses: addrs}))
	assert.True(t, isClosed(ch), "first publish wakes waiters")

	ch = v.Changed()
	assert.False(t, Publish(v, name.Addr{State: name.AddrBound, Addresses: []name.Address{{Host: "10.0.0.1", Port: 80}}}))
	assert.False(t, isClosed(ch), "equal publish wakes nobody")

	assert.True(t, Publish(v, name.Addr{State: name.AddrFailed, Err: errors.New("a")}))
	assert.False(t, Publish(v, name.Addr{State: name.AddrFailed, Err: errors.New("a")}))
	assert.True(t, Publish(v, name.Addr{State: name.AddrFailed, Err: errors.New("b")}))
}

func TestFlightSingle(t *testing.T) {
	var f Flight
	<-f.Idle() // idle at first

	release := make(chan struct{})
	runs := 0
	require.True(t, f.Start(func() { runs++; <-release }))
	assert.False(t, f.Start(func() { runs++ }), "second start joins the first")
	idle := f.Idle()
	assert.False(t, isClosed(idle))
	close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-idle:
	case <-ctx.Done():
		t.Fatal("flight never finished")
	}
	assert.Equal(t, 1, runs)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestTrim(t *testing.T) {
	type ent struct {
		used   int64
		weight int
	}
	lastUsed := func(e ent) int64 { return e.used }
	weight := func(e ent) int { return e.weight }
	tests := []struct {
		name       string
		m          map[string]ent
		limit      int
		idleBefore int64
		want       []string
	}{
		{name: "under the limit, nothing idle", m: map[string]ent{"a": {1, 1}, "b": {2, 1}}, limit: 10, want: []string{"a", "b"}},
		{name: "idle entries go", m: map[string]ent{"a": {1, 1}, "b": {5, 1}}, limit: 10, idleBefore: 3, want: []string{"b"}},
		{name: "over the limit: least recently used go, to 90%", limit: 10,
			m:    map[string]ent{"a": {1, 3}, "b": {2, 3}, "c": {3, 3}, "d": {4, 3}, "e": {5, 1}},
			want: []string{"c", "d", "e"}},
		{name: "weight 0 counts 1", limit: 1, m: map[string]ent{"a": {1, 0}, "b": {2, 0}}, want: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := 0
			for _, e := range tt.m {
				size += max(e.weight, 1)
			}
			got := Trim(tt.m, size, tt.limit, tt.idleBefore, lastUsed, weight)
			var keys []string
			want := 0
			for k, e := range tt.m {
				keys = append(keys, k)
				want += max(e.weight, 1)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.want) || got != want {
				t.Errorf("Trim kept %v (size %d), want %v (size %d)", keys, got, tt.want, want)
			}
		})
	}
}

func TestEmptyGrace(t *testing.T) {
	var g EmptyGrace
	t0 := time.Unix(1000, 0)
	assert.Zero(t, g.Empty(t0, time.Minute, false), "no set to keep")
	assert.Equal(t, time.Minute, g.Empty(t0, time.Minute, true))
	assert.Equal(t, t0, g.Since())
	assert.Equal(t, 30*time.Second, g.Empty(t0.Add(30*time.Second), time.Minute, true), "the grace runs from the first empty answer")
	assert.Zero(t, g.Empty(t0.Add(time.Minute), time.Minute, true), "over")
	assert.True(t, g.Since().IsZero())
	g.Empty(t0, time.Minute, true)
	g.Clear()
	assert.True(t, g.Since().IsZero())
	assert.Zero(t, g.Empty(t0, 0, true), "no grace")
}
