package namerkit

import (
	"cmp"
	"slices"
)

// Trim bounds a namer's cache map m, whose entries add up to size (an
// entry adds weight(v), at least 1). It deletes every entry whose last
// use, lastUsed(v) in Unix nanoseconds, is before idleBefore (0 deletes
// none for idleness); then, if size still exceeds limit, the least
// recently used entries until size is at most 90% of limit, so that a
// cache at its limit is trimmed once per tenth of it, not on every
// insert. It returns the new size.
//
// A deleted entry's name.Var keeps working for whoever holds it (its
// onUse hook refers to the entry, not to the map); only later lookups
// create a new entry. m's lock must be held.
func Trim[K comparable, V any](m map[K]V, size, limit int, idleBefore int64, lastUsed func(V) int64, weight func(V) int) int {
	w := func(v V) int { return max(weight(v), 1) }
	if idleBefore != 0 {
		for k, v := range m {
			if lastUsed(v) < idleBefore {
				delete(m, k)
				size -= w(v)
			}
		}
	}
	if size <= limit {
		return size
	}
	type use struct {
		k  K
		at int64
	}
	uses := make([]use, 0, len(m))
	for k, v := range m {
		uses = append(uses, use{k, lastUsed(v)})
	}
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(a.at, b.at) })
	target := limit - limit/10
	for _, u := range uses {
		if size <= target {
			break
		}
		size -= w(m[u.k])
		delete(m, u.k)
	}
	return size
}
