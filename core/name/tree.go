package name

// Kind says which variant of name tree a Tree is.
type Kind uint8

// The variants of a name tree, as in Finagle's NameTree.
const (
	// Neg is a negative location: no binding exists here, so an
	// alternation falls back to its next branch. It is the zero Kind.
	Neg Kind = iota
	// Leaf is a single value.
	Leaf
	// Alt is an alternation (`a | b`): the first non-negative branch wins.
	Alt
	// Union is a weighted union (`0.9 * a & 0.1 * b`): traffic is balanced
	// across all non-negative branches in proportion to their weights.
	Union
	// Fail is a failing location (`!`): it stops fallback.
	Fail
	// Empty is an existing but uninhabited location (`$`): it is not
	// negative, so an alternation stops there.
	Empty
)

var kindNames = [...]string{Neg: "neg", Leaf: "leaf", Alt: "alt", Union: "union", Fail: "fail", Empty: "empty"}

// String returns the lower-case name of k, as used in JSON output.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// DefaultWeight is the weight of a union branch written without one.
const DefaultWeight = 1.0

// Tree is a name tree whose leaves are of type T: Tree[Path] is what a dtab
// holds, Tree[Bound] is the result of binding. The zero value is Neg.
type Tree[T any] struct {
	// Kind is the variant of this node.
	Kind Kind
	// Value is the leaf's value; set only when Kind is Leaf.
	Value T
	// Alts are the branches of an Alt, tried left to right.
	Alts []Tree[T]
	// Branches are the weighted branches of a Union.
	Branches []Weighted[T]
}

// Weighted is one branch of a union with its weight.
type Weighted[T any] struct {
	// Weight is the branch's share relative to its siblings. Defaults to 1.0.
	Weight float64
	// Tree is the branch itself.
	Tree Tree[T]
}

// NewLeaf returns a leaf holding v.
func NewLeaf[T any](v T) Tree[T] { return Tree[T]{Kind: Leaf, Value: v} }

// NewAlt returns an alternation of trees. Like Finagle it keeps a
// single-branch or empty alternation as written; Simplify folds it.
func NewAlt[T any](trees ...Tree[T]) Tree[T] { return Tree[T]{Kind: Alt, Alts: trees} }

// NewUnion returns a union of weighted branches.
func NewUnion[T any](branches ...Weighted[T]) Tree[T] {
	return Tree[T]{Kind: Union, Branches: branches}
}

// Map returns a tree of the same shape with each leaf value replaced by f(v).
func Map[T, U any](t Tree[T], f func(T) U) Tree[U] {
	switch t.Kind {
	case Leaf:
		return Tree[U]{Kind: Leaf, Value: f(t.Value)}
	case Alt:
		alts := make([]Tree[U], len(t.Alts))
		for i, a := range t.Alts {
			alts[i] = Map(a, f)
		}
		return Tree[U]{Kind: Alt, Alts: alts}
	case Union:
		bs := make([]Weighted[U], len(t.Branches))
		for i, b := range t.Branches {
			bs[i] = Weighted[U]{Weight: b.Weight, Tree: Map(b.Tree, f)}
		}
		return Tree[U]{Kind: Union, Branches: bs}
	default:
		return Tree[U]{Kind: t.Kind}
	}
}

// Simplify returns an evaluation-equivalent tree with empty and
// single-branch alternations and unions folded, negative branches removed,
// and alternations cut after a Fail, exactly as Finagle's NameTree.simplify.
// A union keeps the weight of a lone surviving branch only implicitly: the
// branch replaces the union.
func Simplify[T any](t Tree[T]) Tree[T] {
	switch t.Kind {
	case Alt:
		var out []Tree[T]
		for _, a := range t.Alts {
			s := Simplify(a)
			if s.Kind == Fail {
				out = append(out, s)
				break
			}
			if s.Kind != Neg {
				out = append(out, s)
			}
		}
		switch len(out) {
		case 0:
			return Tree[T]{}
		case 1:
			return out[0]
		}
		return Tree[T]{Kind: Alt, Alts: out}
	case Union:
		var out []Weighted[T]
		for _, b := range t.Branches {
			s := Simplify(b.Tree)
			switch s.Kind {
			case Fail:
				return s
			case Neg, Empty:
				continue
			}
			out = append(out, Weighted[T]{Weight: b.Weight, Tree: s})
		}
		switch len(out) {
		case 0:
			// A union of only Empty branches is Empty; of only Neg, Neg.
			for _, b := range t.Branches {
				if Simplify(b.Tree).Kind == Empty {
					return Tree[T]{Kind: Empty}
				}
			}
			return Tree[T]{}
		case 1:
			return out[0].Tree
		}
		return Tree[T]{Kind: Union, Branches: out}
	}
	return t
}

// Eval evaluates t the default way: an Alt takes its first non-negative
// branch, a Union the union of its non-negative branches, Fail anywhere in
// the chosen path fails. It returns the kind of the result (Leaf when a set
// of values, possibly empty, was found; Neg or Fail otherwise) and, for
// Leaf, the weighted values. A value's weight is the product of the union
// weights above it, normalised within each union so sibling branches share
// their parent's weight in proportion.
func Eval[T any](t Tree[T]) (Kind, []WeightedValue[T]) {
	return eval(t, 1)
}

// WeightedValue is a leaf value reached by Eval with its share of traffic.
type WeightedValue[T any] struct {
	// Weight is the value's share of traffic, in (0, 1] across one Eval.
	Weight float64
	// Value is the leaf value.
	Value T
}

func eval[T any](t Tree[T], w float64) (Kind, []WeightedValue[T]) {
	switch t.Kind {
	case Neg:
		return Neg, nil
	case Fail:
		return Fail, nil
	case Empty:
		return Leaf, nil
	case Leaf:
		return Leaf, []WeightedValue[T]{{Weight: w, Value: t.Value}}
	case Alt:
		for _, a := range t.Alts {
			k, vs := eval(a, w)
			if k != Neg {
				return k, vs
			}
		}
		return Neg, nil
	case Union:
		// Only branches that evaluate non-negative share the weight.
		type res struct {
			w  float64
			vs []WeightedValue[T]
		}
		var found []res
		total := 0.0
		for _, b := range t.Branches {
			k, vs := eval(b.Tree, 1)
			switch k {
			case Fail:
				return Fail, nil
			case Neg:
				continue
			}
			found = append(found, res{w: b.Weight, vs: vs})
			total += b.Weight
		}
		if len(found) == 0 {
			return Neg, nil
		}
		var out []WeightedValue[T]
		for _, f := range found {
			share := 1 / float64(len(found))
			if total > 0 {
				share = f.w / total
			}
			for _, v := range f.vs {
				out = append(out, WeightedValue[T]{Weight: v.Weight * w * share, Value: v.Value})
			}
		}
		return Leaf, out
	}
	return Neg, nil
}
