package name

import (
	"context"
	"errors"
	"fmt"
)

// MaxDepth is how many rewrites delegation follows before it gives up, as
// in Finagle. A dtab that loops (/a=>/b;/b=>/a) hits it.
const MaxDepth = 100

// ErrMaxDepth is returned (wrapped) when delegation exceeds MaxDepth.
var ErrMaxDepth = errors.New("delegation exceeded the maximum depth of 100 rewrites (does the dtab loop?)")

// Lookup binds a path that no dentry matches, typically a namer path such
// as /#/io.l5d.fs/users or /$/inet/127.0.0.1/8080, by handing it to the
// namer registered for its prefix. It returns Neg when no namer claims the
// path. internal/bind supplies the usual implementation.
type Lookup func(ctx context.Context, path Path) (Tree[Bound], error)

// Step is one node of a delegation trace, the record of how a path was
// rewritten and bound. Its JSON form follows linkerd's DelegateTree, so the
// playground and `slinkerd delegate` can show each step.
type Step struct {
	// Type is one of "delegate", "alt", "union", "leaf", "neg", "fail",
	// "empty" or "exception".
	Type string `json:"type"`
	// Path is the path delegated at this node; empty for Fail, Neg, Empty
	// written literally in a dtab.
	Path string `json:"path,omitempty"`
	// Dentry is the rule that produced this node; nil at the root and for
	// nodes produced by a namer.
	Dentry *StepDentry `json:"dentry,omitempty"`
	// Weight is the node's weight inside a union.
	Weight float64 `json:"weight,omitempty"`
	// Delegate is the single child of a "delegate" node.
	Delegate *Step `json:"delegate,omitempty"`
	// Alt holds the children of an "alt" node, in the order tried.
	Alt []*Step `json:"alt,omitempty"`
	// Union holds the children of a "union" node.
	Union []*Step `json:"union,omitempty"`
	// Bound is set on "leaf" nodes: what the namer bound.
	Bound *StepBound `json:"bound,omitempty"`
	// Message explains an "exception" node.
	Message string `json:"message,omitempty"`
}

// StepDentry is the JSON form of a dentry in a Step.
type StepDentry struct {
	// Prefix is the dentry's prefix.
	Prefix string `json:"prefix"`
	// Dst is the dentry's destination tree.
	Dst string `json:"dst"`
	// Index is the dentry's position in the dtab, counting from 0.
	Index int `json:"index"`
}

// StepBound is the JSON form of a bound name in a Step.
type StepBound struct {
	// ID is the bound name's identity.
	ID string `json:"id"`
	// Residual is what the namer did not consume.
	Residual string `json:"residual,omitempty"`
	// State is the address set's state: pending, bound, neg or failed.
	State string `json:"state"`
	// Addresses lists endpoints as host:port with their weights.
	Addresses []StepAddress `json:"addresses"`
	// Error says why the address set failed, if it did.
	Error string `json:"error,omitempty"`
}

// StepAddress is one endpoint in a StepBound.
type StepAddress struct {
	// Addr is host:port.
	Addr string `json:"addr"`
	// Weight is the endpoint's weight (1 unless the namer said otherwise).
	Weight float64 `json:"weight"`
}

// Delegator binds paths through a dtab and a Lookup. The zero value is not
// usable; set Dtab and Lookup. Setting Trace records every step.
type Delegator struct {
	// Dtab is the delegation table: base dtab followed by any per-request
	// dentries.
	Dtab Dtab
	// Lookup binds paths that no dentry matches. If nil every such path is
	// negative.
	Lookup Lookup
	// Trace asks Bind to build the step-by-step record. Off on the proxy's
	// hot path.
	Trace bool
}

// Bind delegates path through the dtab and binds the result. It returns the
// bound tree (not yet simplified: Simplify and Eval it), the trace when
// d.Trace is set, and an error when delegation exceeded MaxDepth or a namer
// failed. Delegation follows Finagle: dentries are tried last to first; a
// match replaces its prefix by its tree with the residual appended; each
// resulting path is delegated again; a negative result falls back to the
// next earlier matching dentry or the next alternative; a path no dentry
// matches goes to Lookup.
func (d *Delegator) Bind(ctx context.Context, path Path) (Tree[Bound], *Step, error) {
	t, st, err := d.bindPath(ctx, path, 0, nil)
	return t, st, err
}

func (d *Delegator) newStep(typ string, path Path, dentry *StepDentry) *Step {
	if !d.Trace {
		return nil
	}
	s := &Step{Type: typ, Dentry: dentry}
	if path != nil || typ == "delegate" || typ == "leaf" {
		s.Path = path.String()
	}
	return s
}

func (d *Delegator) stepDentry(i int) *StepDentry {
	if !d.Trace {
		return nil
	}
	e := d.Dtab[i]
	return &StepDentry{Prefix: e.Prefix.String(), Dst: e.Dst.String(), Index: i}
}

// bindPath delegates one path. dentry is the rule that produced it.
func (d *Delegator) bindPath(ctx context.Context, path Path, depth int, dentry *StepDentry) (Tree[Bound], *Step, error) {
	if depth > MaxDepth {
		err := fmt.Errorf("delegate %s: %w", path, ErrMaxDepth)
		st := d.newStep("exception", path, dentry)
		if st != nil {
			st.Message = err.Error()
		}
		return Tree[Bound]{}, st, err
	}
	if err := ctx.Err(); err != nil {
		return Tree[Bound]{}, nil, fmt.Errorf("delegate %s: %w", path, err)
	}

	// Count matches first so the common single-match case allocates nothing.
	n := 0
	for i := range d.Dtab {
		if d.Dtab[i].Prefix.Matches(path) {
			n++
		}
	}
	if n == 0 {
		return d.lookup(ctx, path, dentry)
	}

	st := d.newStep("delegate", path, dentry)
	var alt *Step
	if st != nil && n > 1 {
		alt = &Step{Type: "alt", Path: path.String()}
		st.Delegate = alt
	}
	for i := len(d.Dtab) - 1; i >= 0; i-- {
		e := &d.Dtab[i]
		if !e.Prefix.Matches(path) {
			continue
		}
		residual := path[len(e.Prefix):]
		t, child, err := d.bindTree(ctx, e.Dst, residual, depth+1, d.stepDentry(i))
		if st != nil {
			if alt != nil {
				alt.Alt = append(alt.Alt, child)
			} else {
				st.Delegate = child
			}
		}
		if err != nil {
			return Tree[Bound]{}, st, err
		}
		if t.Kind != Neg {
			return t, st, nil
		}
	}
	return Tree[Bound]{}, st, nil
}

// bindTree binds a dentry's destination tree with residual appended to its
// leaves.
func (d *Delegator) bindTree(ctx context.Context, t Tree[Path], residual Path, depth int, dentry *StepDentry) (Tree[Bound], *Step, error) {
	switch t.Kind {
	case Leaf:
		return d.bindPath(ctx, t.Value.Concat(residual), depth, dentry)
	case Neg:
		return Tree[Bound]{}, d.newStep("neg", nil, dentry), nil
	case Fail:
		return Tree[Bound]{Kind: Fail}, d.newStep("fail", nil, dentry), nil
	case Empty:
		return Tree[Bound]{Kind: Empty}, d.newStep("empty", nil, dentry), nil
	case Alt:
		st := d.newStep("alt", nil, dentry)
		for _, a := range t.Alts {
			b, child, err := d.bindTree(ctx, a, residual, depth, nil)
			if st != nil {
				st.Alt = append(st.Alt, child)
			}
			if err != nil {
				return Tree[Bound]{}, st, err
			}
			// The first non-negative alternative wins; Fail and Empty stop
			// the fallback too.
			if b = Simplify(b); b.Kind != Neg {
				return b, st, nil
			}
		}
		return Tree[Bound]{}, st, nil
	case Union:
		st := d.newStep("union", nil, dentry)
		out := Tree[Bound]{Kind: Union, Branches: make([]Weighted[Bound], 0, len(t.Branches))}
		for _, w := range t.Branches {
			b, child, err := d.bindTree(ctx, w.Tree, residual, depth, nil)
			if st != nil {
				child.Weight = w.Weight
				st.Union = append(st.Union, child)
			}
			if err != nil {
				return Tree[Bound]{}, st, err
			}
			out.Branches = append(out.Branches, Weighted[Bound]{Weight: w.Weight, Tree: b})
		}
		return Simplify(out), st, nil
	}
	return Tree[Bound]{}, nil, fmt.Errorf("delegate: unknown tree kind %d", t.Kind)
}

// lookup hands a path that no dentry matched to the namers.
func (d *Delegator) lookup(ctx context.Context, path Path, dentry *StepDentry) (Tree[Bound], *Step, error) {
	if d.Lookup == nil {
		return Tree[Bound]{}, d.newStep("neg", path, dentry), nil
	}
	t, err := d.Lookup(ctx, path)
	if err != nil {
		err = fmt.Errorf("bind %s: %w", path, err)
		st := d.newStep("exception", path, dentry)
		if st != nil {
			st.Message = err.Error()
		}
		return Tree[Bound]{}, st, err
	}
	if !d.Trace {
		return t, nil, nil
	}
	return t, boundStep(t, path, dentry), nil
}

// boundStep records what a namer returned for path.
func boundStep(t Tree[Bound], path Path, dentry *StepDentry) *Step {
	p := path.String()
	switch t.Kind {
	case Leaf:
		return &Step{Type: "leaf", Path: p, Dentry: dentry, Bound: NewStepBound(t.Value)}
	case Neg:
		return &Step{Type: "neg", Path: p, Dentry: dentry}
	case Fail:
		return &Step{Type: "fail", Path: p, Dentry: dentry}
	case Empty:
		return &Step{Type: "empty", Path: p, Dentry: dentry}
	case Alt:
		st := &Step{Type: "alt", Path: p, Dentry: dentry}
		for _, a := range t.Alts {
			st.Alt = append(st.Alt, boundStep(a, path, nil))
		}
		return st
	case Union:
		st := &Step{Type: "union", Path: p, Dentry: dentry}
		for _, w := range t.Branches {
			c := boundStep(w.Tree, path, nil)
			c.Weight = w.Weight
			st.Union = append(st.Union, c)
		}
		return st
	}
	return &Step{Type: "exception", Path: p, Message: "unknown tree kind"}
}

// NewStepBound describes a bound name and its current addresses.
func NewStepBound(b Bound) *StepBound {
	sb := &StepBound{ID: b.ID.String(), Addresses: []StepAddress{}}
	if len(b.Residual) > 0 {
		sb.Residual = b.Residual.String()
	}
	if b.Addr == nil {
		sb.State = AddrPending.String()
		return sb
	}
	a := b.Addr.Peek()
	sb.State = a.State.String()
	if a.Err != nil {
		sb.Error = a.Err.Error()
	}
	for _, addr := range a.Addresses {
		sb.Addresses = append(sb.Addresses, StepAddress{Addr: addr.HostPort(), Weight: addr.EffectiveWeight()})
	}
	return sb
}
