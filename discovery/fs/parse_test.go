package fs_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/fs"
	"github.com/slinkerd/slinkerd/discovery/internal/namerkit"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []name.Address
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank lines and comments", in: "\n   \n# a comment\n\t# indented comment\n", want: nil},
		{name: "ipv4", in: "10.0.0.1 8080\n", want: []name.Address{{Host: "10.0.0.1", Port: 8080}}},
		{name: "no final newline", in: "10.0.0.1 8080", want: []name.Address{{Host: "10.0.0.1", Port: 8080}}},
		{name: "ipv6", in: "2001:db8::1 443", want: []name.Address{{Host: "2001:db8::1", Port: 443}}},
		{name: "ipv6 bracketed", in: "[::1] 443", want: []name.Address{{Host: "::1", Port: 443}}},
		{name: "hostname lower-cased", in: "Users.Internal 80", want: []name.Address{{Host: "users.internal", Port: 80}}},
		{name: "weight", in: "10.0.0.1 80 * 0.25", want: []name.Address{{Host: "10.0.0.1", Port: 80, Weight: 0.25}}},
		{name: "integer weight", in: "10.0.0.1 80 * 3", want: []name.Address{{Host: "10.0.0.1", Port: 80, Weight: 3}}},
		{name: "tabs, CRLF, trailing comments", in: "10.0.0.1\t80 * 2 # canary\r\n\r\n10.0.0.2 80\t#x\r\n",
			want: []name.Address{{Host: "10.0.0.1", Port: 80, Weight: 2}, {Host: "10.0.0.2", Port: 80}}},
		{name: "many", in: "# users\n10.0.0.1 80\n\n10.0.0.2 80 * 2.5\nusers-3.internal 8080 # third\n[2001:db8::3] 80\n",
			want: []name.Address{
				{Host: "10.0.0.1", Port: 80},
				{Host: "10.0.0.2", Port: 80, Weight: 2.5},
				{Host: "users-3.internal", Port: 8080},
				{Host: "2001:db8::3", Port: 80},
			}},
		{name: "same host, other port", in: "10.0.0.1 80\n10.0.0.1 81", want: []name.Address{{Host: "10.0.0.1", Port: 80}, {Host: "10.0.0.1", Port: 81}}},
		{name: "zone", in: "10.0.0.1 80 zone=us-east-1a", want: []name.Address{{Host: "10.0.0.1", Port: 80, Meta: map[string]string{"zone": "us-east-1a"}}}},
		{name: "weight and zone", in: "10.0.0.1 80 * 2 zone=b # c\n10.0.0.2 80", want: []name.Address{
			{Host: "10.0.0.1", Port: 80, Weight: 2, Meta: map[string]string{"zone": "b"}}, {Host: "10.0.0.2", Port: 80}}},
		{name: "byte-order mark", in: "\xef\xbb\xbf10.0.0.1 80", want: []name.Address{{Host: "10.0.0.1", Port: 80}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fs.ParseFile("users", []byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
		is   error
	}{
		{name: "host only", in: "10.0.0.1", line: 1, msg: `expected "host port" or "host port * weight", got 1 fields`},
		{name: "host:port", in: "# ok\n10.0.0.1:80", line: 2, msg: `separate host and port with white space`},
		{name: "empty zone", in: "10.0.0.1 80 zone=", line: 1, msg: `empty zone`},
		{name: "zone before weight", in: "10.0.0.1 80 zone=a * 2", line: 1, msg: "got 5 fields"},
		{name: "zone only", in: "zone=a", line: 1, msg: "got 1 fields"},
		{name: "three fields", in: "10.0.0.1 80 2", line: 1, msg: "got 3 fields"},
		{name: "weight glued to star", in: "10.0.0.1 80 *2", line: 1, msg: `separate "*" and the weight`},
		{name: "five fields", in: "a 1 * 2 3", line: 1, msg: "got 5 fields"},
		{name: "no star", in: "10.0.0.1 80 x 2", line: 1, msg: `expected "*" before the weight, got "x"`},
		{name: "bad port", in: "\n\n10.0.0.1 http", line: 3, msg: `invalid port "http"`, is: namerkit.ErrPort},
		{name: "hash inside a field", in: "10.0.0.1 80#x", line: 1, msg: `invalid port "80#x"`, is: namerkit.ErrPort},
		{name: "port zero", in: "10.0.0.1 0", line: 1, msg: `invalid port "0"`, is: namerkit.ErrPort},
		{name: "port too big", in: "10.0.0.1 70000", line: 1, msg: `invalid port "70000"`, is: namerkit.ErrPort},
		{name: "bad ip", in: "10.0.0.256 80", line: 1, msg: `invalid host "10.0.0.256"`, is: namerkit.ErrHost},
		{name: "bad host", in: "users!.internal 80", line: 1, msg: `invalid host "users!.internal"`, is: namerkit.ErrHost},
		{name: "zero weight", in: "10.0.0.1 80 * 0", line: 1, msg: `invalid weight "0": expected a positive number`},
		{name: "negative weight", in: "10.0.0.1 80 * -1", line: 1, msg: `invalid weight "-1"`},
		{name: "nan weight", in: "10.0.0.1 80 * NaN", line: 1, msg: `invalid weight "NaN"`},
		{name: "inf weight", in: "10.0.0.1 80 * +Inf", line: 1, msg: `invalid weight "+Inf"`},
		{name: "huge weight", in: "10.0.0.1 80 * 1e400", line: 1, msg: `invalid weight "1e400"`},
		{name: "word weight", in: "10.0.0.1 80 * heavy", line: 1, msg: `invalid weight "heavy"`},
		{name: "duplicate", in: "10.0.0.1 80\n10.0.0.2 80\n10.0.0.1 80 * 2", line: 3, msg: "duplicate address 10.0.0.1:80: first on line 1"},
		{name: "duplicate ipv6 spelling", in: "::1 80\n0:0::1 80", line: 2, msg: "duplicate address [::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fs.ParseFile("/etc/slinkerd/users", []byte(tt.in))
			require.Error(t, err)
			assert.Nil(t, got)
			var pe *fs.ParseError
			require.True(t, errors.As(err, &pe), "%T is not a *ParseError", err)
			assert.Equal(t, "/etc/slinkerd/users", pe.File)
			assert.Equal(t, tt.line, pe.Line)
			assert.Contains(t, pe.Msg, tt.msg)
			assert.Contains(t, err.Error(), "/etc/slinkerd/users:")
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

func TestParseErrorTruncatesLongLines(t *testing.T) {
	long := "10.0.0.1 80 * " + strings.Repeat("x", 200)
	_, err := fs.ParseFile("f", []byte(long))
	var pe *fs.ParseError
	require.ErrorAs(t, err, &pe)
	assert.LessOrEqual(t, len(pe.Text), 80+len("…"))
}

func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"10.0.0.1 80\n",
		"# c\n\n[::1] 443 * 0.5\r\nusers.internal 8080 # x\n",
		"10.0.0.1:80",
		"a 1 * 1e400",
		"\xef\xbb\xbf::ffff:1.2.3.4 65535 * 1",
		"fe80::1%eth0 1",
		"a 1\na 1",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		addrs, err := fs.ParseFile("fuzz", data)
		if err != nil {
			var pe *fs.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.File != "fuzz" {
				t.Fatalf("bad error %#v", err)
			}
			if addrs != nil {
				t.Fatalf("addresses with an error: %v", addrs)
			}
			return
		}
		seen := map[string]bool{}
		for _, a := range addrs {
			if a.Host == "" || a.Port < 1 || a.Port > 65535 {
				t.Fatalf("bad address %+v", a)
			}
			if a.Weight < 0 || math.IsNaN(a.Weight) || math.IsInf(a.Weight, 0) {
				t.Fatalf("bad weight %+v", a)
			}
			if seen[a.HostPort()] {
				t.Fatalf("duplicate %s", a.HostPort())
			}
			seen[a.HostPort()] = true
		}
	})
}
