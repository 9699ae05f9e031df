package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
)

// Policy is the retry and timeout policy of one service: the runtime form
// of a retry.Policy, built by NewPolicy. The proxy asks Config.Policy for
// it once per service name that binds and keeps it, so Budget is shared
// by all of the service's requests.
//
// Numbers mean the same as in retry.Policy and the SLINKERD_* settings: a
// zero is never replaced by a default ("0 means none" or "0 means never",
// as each field says). Only nil fields get defaults.
type Policy struct {
	// Classifier decides success, failure and retryable failure.
	// Nil means retry.NonRetryable5XX.
	Classifier retry.Classifier
	// GRPCClassifier replaces Classifier for gRPC requests, reading
	// grpc-status. Nil means the gRPC classifier that retries
	// UNAVAILABLE.
	GRPCClassifier retry.Classifier
	// Budget bounds retries and requeues. Nil means a budget with
	// retry.DefaultBudgetConfig.
	Budget *retry.Budget
	// Backoff spaces application retries (requeues never wait). Nil means
	// no wait.
	Backoff retry.Backoff
	// AttemptTimeout bounds each attempt up to its response headers.
	// Zero means none.
	AttemptTimeout time.Duration
	// TotalTimeout bounds the whole request over all attempts, response
	// body included. Zero means none.
	TotalTimeout time.Duration
	// ReplayLimit is how many request body bytes are kept so that the
	// request can be sent again (retry.Policy.ReplayBufferBytes,
	// SLINKERD_RETRY_BUFFER_BYTES); a longer body is never retried once
	// sent. Zero means bodies are never replayed: only a request that has
	// sent no body byte can be requeued. Must not be negative. NewPolicy
	// and a nil Config.Policy use retry.DefaultReplayBufferBytes (64 KiB).
	ReplayLimit int
	// Signer signs every attempt's request to the service (AWS SigV4 for
	// IAM-authenticated targets: SLINKERD_SVC_POLICY's sign key). Nil, the
	// default, means requests are sent unsigned and no signing header is
	// added.
	Signer Signer
}

// Signer signs each attempt's request to a service whose endpoints
// authenticate callers by a request signature (AWS SigV4). The proxy calls
// Sign once per attempt, on that attempt's own request, after every other
// header is set and the endpoint's Host is in place, so a signature
// covers one attempt to one endpoint at one time and never carries over.
type Signer interface {
	// NeedsPayload reports whether Sign wants the request body's bytes to
	// hash. If so, the proxy reads the body into the service's replay
	// buffer (Policy.ReplayLimit) before the first attempt.
	NeedsPayload() bool
	// Sign signs req in place. When whole is true, payload is the whole
	// request body (nil for none); when false, the body is longer than the
	// replay buffer (or NeedsPayload is false) and streams unread. An
	// error fails the request before anything is sent; a *Error is
	// answered as it is, any other error as 502.
	Sign(ctx context.Context, req *http.Request, payload []byte, whole bool) error
}

// TokenHeaderer is implemented by a TokenSource whose tokens go in a
// header other than Authorization. TokenHeader returns the header's
// canonical name, e.g. "X-Serverless-Authorization" (Cloud Run accepts
// it in place of Authorization, leaving the caller's Authorization to the
// application). The proxy then owns that header: a caller's own value is
// removed on every attempt, and only endpoints with an audience get one.
type TokenHeaderer interface {
	TokenHeader() string
}

// NewPolicy builds the Policy of a service from its settings: a new
// budget from s.Budget, the decorrelated-jitter backoff between
// s.BackoffMin and s.BackoffMax, and the timeouts and replay buffer as
// they are. grpc classifies gRPC requests; nil means the gRPC classifier
// that retries UNAVAILABLE. When s.Classifier is itself a gRPC classifier
// it classifies gRPC requests too.
func NewPolicy(s retry.Policy, grpc retry.Classifier) (*Policy, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: policy: %w", err)
	}
	budget, err := retry.NewBudget(s.Budget)
	if err != nil {
		return nil, fmt.Errorf("proxy: policy: %w", err)
	}
	backoff, err := s.NewBackoff(nil)
	if err != nil {
		return nil, fmt.Errorf("proxy: policy: %w", err)
	}
	pol := &Policy{
		Classifier:     s.Classifier,
		GRPCClassifier: grpc,
		Budget:         budget,
		Backoff:        backoff,
		AttemptTimeout: s.AttemptTimeout,
		TotalTimeout:   s.TotalTimeout,
		ReplayLimit:    s.ReplayBufferBytes,
	}
	if _, isGRPC := s.Classifier.(retry.GRPCClassifier); isGRPC {
		pol.GRPCClassifier = s.Classifier
	}
	return withPolicyDefaults(pol)
}

// MaxServicePolicies caps how many services get a policy entry of their
// own, with their own retry budget (DESIGN.md §8: state keyed by
// attacker-chosen input is capped). A service is admitted the first time
// its name binds, and an admitted entry is never evicted, so its budget is
// never reset: an evicted and re-created budget would come back with a
// full reserve, handing a flood of new names a way to refill the budget
// of a service in a retry storm. Services first seen past the cap still
// get their own policy (classifier, timeouts, replay buffer), but share
// one budget, reported by Services as OverflowService: sharing is the
// conservative direction, as a shared budget allows fewer retries in all
// than separate ones would. The policies of those services are kept in a
// second table of the same size, evicted oldest first (they hold no state
// of their own), so a name is not resolved again on every request.
const MaxServicePolicies = 1000

// OverflowService is the Service of the ServiceState that reports the
// budget shared by the services past MaxServicePolicies. Services are
// paths, so it names none of them.
const OverflowService = "other"

// policyEntry is the policy of one service name, resolved once.
type policyEntry struct {
	once   sync.Once
	shared bool                   // past MaxServicePolicies: the budget is the overflow's
	p      atomic.Pointer[Policy] // set once resolved, when err is nil
	err    error                  // written before once.Do returns
}

// policyTable holds the services' policies: MaxServicePolicies entries of
// their own, then up to as many that share the overflow budget.
type policyTable struct {
	m sync.Map // service string -> *policyEntry

	mu       sync.Mutex
	own      []ownPolicy   // admitted entries, in order of arrival
	shared   []string      // keys of shared entries, a ring
	next     int           // oldest key in shared once it is full
	overflow *retry.Budget // the shared budget, made by the first shared entry
}

type ownPolicy struct {
	key string
	e   *policyEntry
}

// policy returns the policy of svc, whose rendering is key, resolving it
// with Config.Policy the first time. Call it only for names that bind.
func (p *Proxy) policy(key string, svc name.Path) (*Policy, error) {
	t := &p.policies
	v, ok := t.m.Load(key)
	if !ok {
		v = t.add(key)
	}
	e := v.(*policyEntry)
	e.once.Do(func() {
		pol, err := p.resolvePolicy(t, e, svc)
		e.err = err
		if err == nil {
			e.p.Store(pol)
		}
	})
	return e.p.Load(), e.err
}

// add returns key's entry, adding it when absent.
func (t *policyTable) add(key string) any {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m.Load(key); ok {
		return v
	}
	e := &policyEntry{}
	if len(t.own) < MaxServicePolicies {
		t.own = append(t.own, ownPolicy{key: key, e: e})
	} else {
		e.shared = true
		if len(t.shared) < MaxServicePolicies {
			t.shared = append(t.shared, key)
		} else {
			t.m.Delete(t.shared[t.next])
			t.shared[t.next] = key
			t.next = (t.next + 1) % len(t.shared)
		}
	}
	t.m.Store(key, e)
	return e
}

// resolvePolicy asks Config.Policy for svc's policy and fills in its
// defaults; an entry past the cap gets the overflow budget.
func (p *Proxy) resolvePolicy(t *policyTable, e *policyEntry, svc name.Path) (*Policy, error) {
	in := &Policy{ReplayLimit: retry.DefaultReplayBufferBytes}
	if p.cfg.Policy != nil {
		var err error
		if in, err = p.cfg.Policy(svc); err != nil {
			return nil, err
		}
	}
	pol, err := withPolicyDefaults(in)
	if err != nil {
		return nil, fmt.Errorf("proxy: policy for %s: %w", svc, err)
	}
	if e.shared {
		t.mu.Lock()
		if t.overflow == nil {
			t.overflow = pol.Budget
		}
		pol.Budget = t.overflow
		t.mu.Unlock()
	}
	return pol, nil
}

// withPolicyDefaults returns a copy of in (nil: the zero Policy) with its
// nil fields set to their defaults. Numbers are kept as they are.
func withPolicyDefaults(in *Policy) (*Policy, error) {
	var p Policy
	if in != nil {
		p = *in
	}
	if p.ReplayLimit < 0 {
		return nil, fmt.Errorf("ReplayLimit %d is negative (want 0, never replayed, or more)", p.ReplayLimit)
	}
	if p.Classifier == nil {
		p.Classifier = retry.NonRetryable5XX
	}
	if p.GRPCClassifier == nil {
		c, err := retry.NewGRPCClassifier(retry.GRPCCode(14))
		if err != nil {
			return nil, err
		}
		p.GRPCClassifier = c
	}
	if p.Budget == nil {
		b, err := retry.NewBudget(retry.DefaultBudgetConfig())
		if err != nil {
			return nil, err
		}
		p.Budget = b
	}
	if p.Backoff == nil {
		p.Backoff = retry.NoWait{}
	}
	return &p, nil
}

// ServiceState is a snapshot of one service's retry budget.
type ServiceState struct {
	// Service is the logical name, or OverflowService for the budget the
	// services past MaxServicePolicies share.
	Service string
	// BudgetBalance is how many retries the budget allows now.
	BudgetBalance int
	// BudgetExhausted counts retries refused because the budget was empty.
	BudgetExhausted uint64
}

// Services returns a snapshot of the retry budget of every service with
// its own (at most MaxServicePolicies), then of the shared overflow
// budget once a service uses it.
func (p *Proxy) Services() []ServiceState {
	t := &p.policies
	t.mu.Lock()
	own := t.own[:len(t.own):len(t.own)]
	overflow := t.overflow
	t.mu.Unlock()
	out := make([]ServiceState, 0, len(own)+1)
	for _, o := range own {
		if pol := o.e.loaded(); pol != nil {
			out = append(out, ServiceState{Service: o.key, BudgetBalance: pol.Budget.Balance(), BudgetExhausted: pol.Budget.Exhausted()})
		}
	}
	if overflow != nil {
		out = append(out, ServiceState{Service: OverflowService, BudgetBalance: overflow.Balance(), BudgetExhausted: overflow.Exhausted()})
	}
	return out
}

// loaded returns the entry's policy once resolved: nil before, or when
// the resolution failed.
func (e *policyEntry) loaded() *Policy { return e.p.Load() }
