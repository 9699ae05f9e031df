//go:build slinkerd_nocloudmap || slinkerd_nocloudrun || slinkerd_nolambdafn

package app

import (
	"context"
	"fmt"

	"github.com/slinkerd/slinkerd/core/name"
)

// absentNamer stands for a namer that a build tag left out of the
// binary: every name under it fails, saying so.
type absentNamer struct {
	prefix string // e.g. /#/io.l5d.cloudmap
	tag    string // the build tag that left it out
}

// Lookup implements name.Namer.
func (a absentNamer) Lookup(context.Context, name.Path) (name.Tree[name.Bound], error) {
	return name.Tree[name.Bound]{}, fmt.Errorf("%s is not in this build of slinkerd (built with -tags %s); use a build without that tag", a.prefix, a.tag)
}

// state is the /admin/discovery.json section of an absent namer.
func (a absentNamer) state() any {
	return map[string]string{"absent": "not in this build (-tags " + a.tag + ")"}
}
