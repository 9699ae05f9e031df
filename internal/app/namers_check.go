package app

import (
	"log/slog"
	"strings"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// namerNeeds says what a namer that is off needs, by prefix, for the
// start-up warning.
var namerNeeds = map[string]string{
	"/#/io.l5d.fs": "the io.l5d.fs namer is off: set SLINKERD_FS_DIR to its directory",
}

// warnUnservedLeaves logs one warning for each leaf of dtab under /#/
// that no namer in ns serves, naming the dentry and what is missing: a
// typo (/#/io.l5d.fss) or a namer left off (io.l5d.fs without
// SLINKERD_FS_DIR) would otherwise only show as 502s. A bare /# leaf is
// skipped: the request's path picks the namer.
func warnUnservedLeaves(log *slog.Logger, dtab name.Dtab, ns *bind.Namers) {
	var prefixes []name.Path
	for _, p := range ns.Prefixes() {
		prefixes = append(prefixes, name.MustParsePath(p))
	}
	for _, d := range dtab {
		forEachLeaf(d.Dst, func(leaf name.Path) {
			if len(leaf) < 2 || leaf[0] != "#" {
				return
			}
			for _, p := range prefixes {
				if leaf.HasPrefix(p) {
					return
				}
			}
			why, ok := namerNeeds[name.Path{leaf[0], leaf[1]}.String()]
			if !ok {
				why = "no namer serves " + name.Path{leaf[0], leaf[1]}.String() + " (a typo?); configured namers: " + strings.Join(ns.Prefixes(), ", ")
			}
			log.Warn("dtab: a leaf names a namer that is not configured; names under it are negative (502 when no alternative binds)",
				"leaf", leaf.String(), "dentry", d.String(), "missing", why)
		})
	}
}

// forEachLeaf calls f with every leaf path of t, left to right.
func forEachLeaf(t name.Tree[name.Path], f func(name.Path)) {
	switch t.Kind {
	case name.Leaf:
		f(t.Value)
	case name.Alt:
		for _, a := range t.Alts {
			forEachLeaf(a, f)
		}
	case name.Union:
		for _, b := range t.Branches {
			forEachLeaf(b.Tree, f)
		}
	}
}
