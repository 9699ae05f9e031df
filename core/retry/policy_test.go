package retry_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/retry"
)

// entry builds the PolicyEntry that sets fields to the values set by mod.
func entry(prefix string, fields retry.PolicyField, mod func(p *retry.Policy)) retry.PolicyEntry {
	var v retry.Policy
	mod(&v)
	return retry.PolicyEntry{Prefix: prefix, Fields: fields, Values: v}
}

func TestParsePolicies(t *testing.T) {
	grpc148, err := retry.NewGRPCClassifier(8, 14)
	require.NoError(t, err)
	tests := []struct {
		name  string
		input string
		want  []retry.PolicyEntry
	}{
		{"empty", "", nil},
		{"blank and stray semicolons", " ;\n ; ", nil},
		{
			"the README example",
			"/svc=classifier:retryableRead5XX,timeout:2s; /svc/users=attempt-timeout:300ms,retry-max-backoff:1s; /svc/pay=classifier:nonRetryable5XX",
			[]retry.PolicyEntry{
				entry("/svc", retry.FieldClassifier|retry.FieldTotalTimeout, func(p *retry.Policy) {
					p.ClassifierName, p.Classifier, p.TotalTimeout = "retryableRead5XX", retry.RetryableRead5XX, 2*time.Second
				}),
				entry("/svc/users", retry.FieldAttemptTimeout|retry.FieldBackoffMax, func(p *retry.Policy) {
					p.AttemptTimeout, p.BackoffMax = 300*time.Millisecond, time.Second
				}),
				entry("/svc/pay", retry.FieldClassifier, func(p *retry.Policy) {
					p.ClassifierName, p.Classifier = "nonRetryable5XX", retry.NonRetryable5XX
				}),
			},
		},
		{
			"every key, spaces and newlines",
			" / = classifier : RETRYABLEALL5XX ,\n timeout:0, attempt-timeout:1m30s, retry-min-backoff:5ms, retry-max-backoff:2s,\n" +
				" retry-budget-ttl:30s, retry-budget-min-per-sec:0, retry-budget-percent:25%, replay-buffer:16KiB ;",
			[]retry.PolicyEntry{entry("/", retry.FieldClassifier|retry.FieldTotalTimeout|retry.FieldAttemptTimeout|
				retry.FieldBackoffMin|retry.FieldBackoffMax|retry.FieldBudgetTTL|retry.FieldBudgetMinPerSec|
				retry.FieldBudgetPercent|retry.FieldReplayBufferBytes, func(p *retry.Policy) {
				p.ClassifierName, p.Classifier = "retryableAll5XX", retry.RetryableAll5XX
				p.AttemptTimeout = 90 * time.Second
				p.BackoffMin, p.BackoffMax = 5*time.Millisecond, 2*time.Second
				p.Budget.TTL, p.Budget.PercentCanRetry = 30*time.Second, 0.25
				p.ReplayBufferBytes = 16 << 10
			})},
		},
		{
			"grpc codes continue the classifier value",
			"/svc/*/grpc=classifier:grpc:14, RESOURCE_EXHAUSTED,timeout:1s",
			[]retry.PolicyEntry{entry("/svc/*/grpc", retry.FieldClassifier|retry.FieldTotalTimeout, func(p *retry.Policy) {
				p.ClassifierName, p.Classifier, p.TotalTimeout = "grpc:8,14", grpc148, time.Second
			})},
		},
		{
			"budget fraction, bytes, special path bytes",
			"/#/io.l5d.fs/a_b:c$d%e-f=retry-budget-percent:0.05,replay-buffer:1000,retry-budget-min-per-sec:7",
			[]retry.PolicyEntry{entry("/#/io.l5d.fs/a_b:c$d%e-f", retry.FieldBudgetPercent|retry.FieldReplayBufferBytes|retry.FieldBudgetMinPerSec, func(p *retry.Policy) {
				p.Budget.PercentCanRetry, p.ReplayBufferBytes, p.Budget.MinRetriesPerSec = 0.05, 1000, 7
			})},
		},
		{
			"replay buffer units",
			"/a=replay-buffer:2MiB; /b=replay-buffer:0; /c=replay-buffer:512b",
			[]retry.PolicyEntry{
				entry("/a", retry.FieldReplayBufferBytes, func(p *retry.Policy) { p.ReplayBufferBytes = 2 << 20 }),
				entry("/b", retry.FieldReplayBufferBytes, func(p *retry.Policy) {}),
				entry("/c", retry.FieldReplayBufferBytes, func(p *retry.Policy) { p.ReplayBufferBytes = 512 }),
			},
		},
		{
			"sign: a service, a service and region, none",
			"/svc/orders=sign:lambda; /svc/api=sign : execute-api:eu-west-1 ; /svc/lattice=sign:vpc-lattice-svcs,timeout:1s; /svc/orders/open=sign:none",
			[]retry.PolicyEntry{
				entry("/svc/orders", retry.FieldSign, func(p *retry.Policy) { p.Sign = retry.SignSpec{Service: "lambda"} }),
				entry("/svc/api", retry.FieldSign, func(p *retry.Policy) { p.Sign = retry.SignSpec{Service: "execute-api", Region: "eu-west-1"} }),
				entry("/svc/lattice", retry.FieldSign|retry.FieldTotalTimeout, func(p *retry.Policy) {
					p.Sign, p.TotalTimeout = retry.SignSpec{Service: "vpc-lattice-svcs"}, time.Second
				}),
				entry("/svc/orders/open", retry.FieldSign, func(p *retry.Policy) {}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retry.ParsePolicies(tt.input)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			// Round trip through the canonical form.
			text := retry.FormatPolicies(got)
			again, err := retry.ParsePolicies(text)
			require.NoError(t, err, "canonical form %q", text)
			assert.Equal(t, got, again, "canonical form %q", text)
			assert.Equal(t, text, retry.FormatPolicies(again))
		})
	}
}

func TestFormatPolicies(t *testing.T) {
	entries, err := retry.ParsePolicies(
		"/svc = timeout:2s , classifier:retryableread5xx ; /svc/*/grpc=classifier:grpc:RESOURCE_EXHAUSTED,14,replay-buffer:65536,retry-budget-percent:20%")
	require.NoError(t, err)
	assert.Equal(t,
		"/svc=classifier:retryableRead5XX,timeout:2s; /svc/*/grpc=classifier:grpc:8,14,retry-budget-percent:0.2,replay-buffer:64KiB",
		retry.FormatPolicies(entries))
	assert.Empty(t, retry.FormatPolicies(nil))
}

func TestParsePoliciesErrors(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		offset int
		entry  string
		msg    string
	}{
		{"sign: upper case", "/svc=sign:Lambda", 10, "/svc=sign:Lambda", `sign: want <service>[:<region>]`},
		{"sign: empty region", "/svc=sign:lambda:", 10, "/svc=sign:lambda:", `region "" is not a region name`},
		{"sign: bad region", "/svc=sign:lambda:us east", 10, "/svc=sign:lambda:us east", `region "us east"`},
		{"no '='", "/svc=timeout:1s;  /svc/users timeout:1s", 18, "/svc/users timeout:1s", "expected '=' between the service prefix and its settings"},
		{"relative prefix", "svc=timeout:1s", 0, "svc=timeout:1s", "expected a service prefix starting with '/'"},
		{"empty prefix", " =timeout:1s", 1, "=timeout:1s", `expected a service prefix starting with '/', e.g. /svc/users, found ""`},
		{"trailing slash", "/svc/=timeout:1s", 5, "/svc/=timeout:1s", "empty segment in prefix"},
		{"double slash", "/a//b=timeout:1s", 3, "/a//b=timeout:1s", "empty segment"},
		{"bad byte", "/svc/us ers=timeout:1s", 7, "/svc/us ers=timeout:1s", `byte ' ' not allowed in prefix "/svc/us ers"`},
		{"star inside a segment", "/svc/u*=timeout:1s", 6, "/svc/u*=timeout:1s", `byte '*' not allowed`},
		{"no settings", "/svc=", 5, "/svc=", "expected key:value, found nothing"},
		{"stray comma", "/svc=timeout:1s,,attempt-timeout:1s", 16, "/svc=timeout:1s,,attempt-timeout:1s", "expected key:value, found nothing"},
		{"missing colon", "/svc=timeout 1s", 5, "/svc=timeout 1s", `expected key:value, e.g. timeout:2s, found "timeout 1s"`},
		{"item without colon after a non-classifier", "/svc=timeout:1s,2s", 16, "/svc=timeout:1s,2s", `found "2s"`},
		{"unknown key", "/svc=retries:3", 5, "/svc=retries:3", `unknown key "retries" (want one of classifier, timeout, attempt-timeout, retry-min-backoff, retry-max-backoff, retry-budget-ttl, retry-budget-min-per-sec, retry-budget-percent, replay-buffer, sign)`},
		{"duplicate key", "/svc=timeout:1s, timeout:2s", 17, "/svc=timeout:1s, timeout:2s", `key "timeout" set twice in one entry`},
		{"empty value", "/svc=timeout: ,attempt-timeout:1s", 13, "/svc=timeout: ,attempt-timeout:1s", "timeout: expected a value after ':'"},
		{"bad duration", "/a=timeout:1s; /svc=attempt-timeout:fast", 36, "/svc=attempt-timeout:fast", `attempt-timeout: want a Go duration such as 300ms or 2s: time: invalid duration "fast"`},
		{"negative duration", "/svc=retry-min-backoff:-1s", 23, "/svc=retry-min-backoff:-1s", "retry-min-backoff: duration -1s is negative"},
		{"min above max", "/svc=retry-min-backoff:2s,retry-max-backoff:1s", 0, "/svc=retry-min-backoff:2s,retry-max-backoff:1s", "retry-min-backoff 2s is above retry-max-backoff 1s"},
		{"unknown classifier", "/svc=classifier:retryableReads", 16, "/svc=classifier:retryableReads", `classifier: want a classifier name: retry: classifier "retryableReads": unknown classifier (allowed: nonRetryable5XX`},
		{"classifier continued by junk", "/svc=classifier:retryableRead5XX,fast", 16, "/svc=classifier:retryableRead5XX,fast", `classifier "retryableRead5XX,fast": unknown classifier`},
		{"bad grpc code", "/svc=classifier:grpc:14,99", 16, "/svc=classifier:grpc:14,99", "code 99 is not a failure code"},
		{"budget ttl too long", "/svc=retry-budget-ttl:2m", 22, "/svc=retry-budget-ttl:2m", "retry-budget-ttl: 2m0s out of range (want 1s to 60s)"},
		{"budget ttl zero", "/svc=retry-budget-ttl:0", 22, "/svc=retry-budget-ttl:0", "out of range"},
		{"budget ttl junk", "/svc=retry-budget-ttl:x", 22, "/svc=retry-budget-ttl:x", "retry-budget-ttl: want a Go duration from 1s to 60s"},
		{"negative min per sec", "/svc=retry-budget-min-per-sec:-1", 30, "/svc=retry-budget-min-per-sec:-1", "want a whole number of retries per second, 0 or more"},
		{"fractional min per sec", "/svc=retry-budget-min-per-sec:1.5", 30, "/svc=retry-budget-min-per-sec:1.5", "want a whole number"},
		{"percent as a bare 20", "/svc=retry-budget-percent:20", 26, "/svc=retry-budget-percent:20", "retry-budget-percent: want a fraction from 0 to 1 (0.2) or a percentage (20%): 20 out of range"},
		{"percent above 100%", "/svc=retry-budget-percent:150%", 26, "/svc=retry-budget-percent:150%", "150% out of range"},
		{"percent NaN", "/svc=retry-budget-percent:NaN", 26, "/svc=retry-budget-percent:NaN", "out of range"},
		{"replay buffer too big", "/svc=replay-buffer:2048MiB", 19, "/svc=replay-buffer:2048MiB", "replay-buffer: want bytes from 0 to 1GiB"},
		{"replay buffer decimal unit", "/svc=replay-buffer:64KB", 19, "/svc=replay-buffer:64KB", "replay-buffer: want bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := retry.ParsePolicies(tt.input)
			require.Error(t, err)
			assert.Nil(t, got)
			var pe *retry.PolicyError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.offset, pe.Offset, "offset in %q: %v", tt.input, err)
			assert.Equal(t, tt.entry, pe.Entry)
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("retry: policy: offset %d in entry %q: ", tt.offset, tt.entry)), err.Error())
		})
	}
}

func TestPolicyErrorUnwraps(t *testing.T) {
	_, err := retry.ParsePolicies("/svc=classifier:nope")
	require.ErrorIs(t, err, retry.ErrUnknownClassifier)
}

func TestResolve(t *testing.T) {
	const policies = "/=retry-budget-percent:0.1;" +
		"/svc=classifier:retryableRead5XX,timeout:2s;" +
		"/svc/users=attempt-timeout:300ms,retry-max-backoff:500ms;" +
		"/svc/pay=classifier:nonRetryable5XX;" +
		"/svc/*/v2=timeout:5s;" +
		"/svc/users=timeout:3s"
	entries, err := retry.ParsePolicies(policies)
	require.NoError(t, err)
	global := retry.DefaultPolicy()
	global.AttemptTimeout = time.Second

	with := func(mod func(p *retry.Policy)) retry.Policy {
		p := global
		p.Budget.PercentCanRetry = 0.1 // "/" matches everything
		mod(&p)
		return p
	}
	read5xx := func(p *retry.Policy) { p.ClassifierName, p.Classifier = "retryableRead5XX", retry.RetryableRead5XX }
	tests := []struct {
		name    string
		service string
		want    retry.Policy
	}{
		{"only the root entry", "/other/thing", with(func(*retry.Policy) {})},
		{"root service", "/", with(func(*retry.Policy) {})},
		{"empty service", "", with(func(*retry.Policy) {})},
		{"prefix itself", "/svc", with(func(p *retry.Policy) { read5xx(p); p.TotalTimeout = 2 * time.Second })},
		{"not a segment prefix", "/svcx/users", with(func(*retry.Policy) {})},
		{"below a prefix", "/svc/orders/x", with(func(p *retry.Policy) { read5xx(p); p.TotalTimeout = 2 * time.Second })},
		{"later entries override earlier ones", "/svc/users", with(func(p *retry.Policy) {
			read5xx(p)
			p.TotalTimeout = 3 * time.Second // the last /svc/users entry
			p.AttemptTimeout = 300 * time.Millisecond
			p.BackoffMax = 500 * time.Millisecond
		})},
		{"wildcard matches one segment", "/svc/orders/v2/x", with(func(p *retry.Policy) { read5xx(p); p.TotalTimeout = 5 * time.Second })},
		{"wildcard then a later exact entry", "/svc/users/v2", with(func(p *retry.Policy) {
			read5xx(p)
			p.TotalTimeout = 3 * time.Second // /svc/users=timeout:3s comes after /svc/*/v2
			p.AttemptTimeout = 300 * time.Millisecond
			p.BackoffMax = 500 * time.Millisecond
		})},
		{"wildcard needs a segment", "/svc/v2", with(func(p *retry.Policy) { read5xx(p); p.TotalTimeout = 2 * time.Second })},
		{"override the classifier", "/svc/pay/refunds", with(func(p *retry.Policy) { p.TotalTimeout = 2 * time.Second })},
		{"no leading slash", "svc/pay", with(func(p *retry.Policy) { p.TotalTimeout = 2 * time.Second })},
		{"users2 is not users", "/svc/users2", with(func(p *retry.Policy) { read5xx(p); p.TotalTimeout = 2 * time.Second })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retry.Resolve(global, entries, tt.service)
			assert.Equal(t, tt.want, got)
			assert.NoError(t, got.Validate())
		})
	}
	assert.Equal(t, global, retry.Resolve(global, nil, "/svc/users"), "no entries: the global policy")
}

func TestResolveDoesNotAllocate(t *testing.T) {
	entries, err := retry.ParsePolicies("/=timeout:1s; /svc/*/v2=attempt-timeout:1s; /svc/users=classifier:grpc")
	require.NoError(t, err)
	global := retry.DefaultPolicy()
	allocs := testing.AllocsPerRun(100, func() { _ = retry.Resolve(global, entries, "/svc/users/v2") })
	assert.Zero(t, allocs)
}

func TestPolicyEntryMatches(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		service string
		want    bool
	}{
		{"root matches all", "/", "/a/b", true},
		{"root matches root", "/", "/", true},
		{"exact", "/a/b", "/a/b", true},
		{"segment prefix", "/a/b", "/a/b/c", true},
		{"trailing slash in service", "/a/b", "/a/b/", true},
		{"partial segment", "/a/b", "/a/bc", false},
		{"longer prefix", "/a/b/c", "/a/b", false},
		{"star", "/a/*/c", "/a/x/c/d", true},
		{"star needs a segment", "/a/*", "/a", false},
		{"star is not a glob", "/a/*", "/b/x", false},
		{"different first segment", "/a", "/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retry.PolicyEntry{Prefix: tt.prefix}.Matches(tt.service))
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := retry.DefaultPolicy()
	assert.Equal(t, "nonRetryable5XX", p.ClassifierName)
	assert.Equal(t, retry.NonRetryable5XX, p.Classifier)
	assert.Equal(t, retry.BudgetConfig{TTL: 10 * time.Second, MinRetriesPerSec: 10, PercentCanRetry: 0.2}, p.Budget)
	assert.Equal(t, 10*time.Millisecond, p.BackoffMin)
	assert.Equal(t, time.Second, p.BackoffMax)
	assert.Zero(t, p.AttemptTimeout)
	assert.Zero(t, p.TotalTimeout)
	assert.Equal(t, 64<<10, p.ReplayBufferBytes)
	require.NoError(t, p.Validate())

	b, err := p.NewBackoff(nil)
	require.NoError(t, err)
	assert.Equal(t, p.BackoffMin, b.Min())
	_, err = retry.NewBudget(p.Budget)
	require.NoError(t, err)
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(p *retry.Policy)
		want []string
	}{
		{"no classifier", func(p *retry.Policy) { p.Classifier = nil }, []string{`no classifier for "nonRetryable5XX"`}},
		{"budget", func(p *retry.Policy) { p.Budget.PercentCanRetry = 2 }, []string{"retry: policy: retry budget: PercentCanRetry 2"}},
		{"backoff", func(p *retry.Policy) { p.BackoffMin = 2 * time.Second }, []string{"backoff min 2s max 1s (want 0 ≤ min ≤ max)"}},
		{"timeouts", func(p *retry.Policy) { p.AttemptTimeout, p.TotalTimeout = -1, -1 }, []string{"attempt timeout -1ns is negative", "total timeout -1ns is negative"}},
		{"replay", func(p *retry.Policy) { p.ReplayBufferBytes = -1 }, []string{"replay buffer -1 bytes is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := retry.DefaultPolicy()
			tt.mod(&p)
			err := p.Validate()
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}

	// Entries can combine into an invalid policy; Validate catches it.
	entries, err := retry.ParsePolicies("/svc=retry-min-backoff:5s")
	require.NoError(t, err)
	assert.ErrorContains(t, retry.Resolve(retry.DefaultPolicy(), entries, "/svc/a").Validate(), "backoff min 5s max 1s")
}

func TestPolicyFieldString(t *testing.T) {
	assert.Equal(t, "classifier|timeout", (retry.FieldClassifier | retry.FieldTotalTimeout).String())
	assert.Equal(t, "replay-buffer", retry.FieldReplayBufferBytes.String())
	assert.Empty(t, retry.PolicyField(0).String())
}

func FuzzParsePolicies(f *testing.F) {
	for _, s := range []string{
		"",
		"/svc=classifier:retryableRead5XX,timeout:2s; /svc/users=attempt-timeout:300ms,retry-max-backoff:1s; /svc/pay=classifier:nonRetryable5XX",
		"/=retry-budget-ttl:10s,retry-budget-min-per-sec:10,retry-budget-percent:20%,replay-buffer:64KiB,retry-min-backoff:0",
		"/svc/*/grpc=classifier:grpc:UNAVAILABLE,8,timeout:1h2m3.5s",
		"/#/io.l5d.fs/x=classifier:grpcAlwaysRetryable;;",
		"/a=retry-budget-percent:1e-3, replay-buffer:+12b",
		"/svc=timeout:1s,,",
		"/svc/=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := retry.ParsePolicies(s)
		if err != nil {
			var pe *retry.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PolicyError", err)
			}
			if pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("offset %d outside the input of %d bytes: %v", pe.Offset, len(s), err)
			}
			return
		}
		for _, e := range entries {
			if (e.Fields&retry.FieldClassifier != 0) != (e.Values.Classifier != nil) {
				t.Fatalf("entry %q: classifier field and value disagree", e)
			}
		}
		text := retry.FormatPolicies(entries)
		again, err := retry.ParsePolicies(text)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", text, s, err)
		}
		if !assert.ObjectsAreEqual(entries, again) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", s, text, again, entries)
		}
		if text2 := retry.FormatPolicies(again); text2 != text {
			t.Fatalf("canonical form not stable: %q then %q", text, text2)
		}
	})
}

func ExampleParsePolicies() {
	entries, err := retry.ParsePolicies(`/svc=classifier:retryableRead5XX,timeout:2s;
		/svc/users=attempt-timeout:300ms,retry-max-backoff:1s;
		/svc/pay=classifier:nonRetryable5XX`)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, svc := range []string{"/svc/users/v2", "/svc/pay", "/web"} {
		p := retry.Resolve(retry.DefaultPolicy(), entries, svc)
		fmt.Printf("%s: %s total=%v attempt=%v backoff=%v..%v\n",
			svc, p.ClassifierName, p.TotalTimeout, p.AttemptTimeout, p.BackoffMin, p.BackoffMax)
	}

	_, err = retry.ParsePolicies("/svc=timeout:2")
	fmt.Println(err)
	// Output:
	// /svc/users/v2: retryableRead5XX total=2s attempt=300ms backoff=10ms..1s
	// /svc/pay: nonRetryable5XX total=2s attempt=0s backoff=10ms..1s
	// /web: nonRetryable5XX total=0s attempt=0s backoff=10ms..1s
	// retry: policy: offset 13 in entry "/svc=timeout:2": timeout: want a Go duration such as 300ms or 2s: time: missing unit in duration "2"
}
