package fs

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery"
)

// Kind is the namer kind this package registers: /#/io.l5d.fs, on when
// SLINKERD_FS_DIR names a directory.
const Kind = "io.l5d.fs"

func init() { discovery.RegisterNamer(Kind, newNamers) }

func newNamers(p discovery.Params) ([]discovery.Namer, error) {
	dir := p.Config.Discovery.FSDir
	if dir == "" {
		return nil, nil
	}
	n, err := New(Config{Dir: dir, Watch: p.Watch, EmptyGrace: p.EmptyGrace(), Logger: p.Logger})
	if err != nil {
		return nil, fmt.Errorf("SLINKERD_FS_DIR: %w", err)
	}
	return []discovery.Namer{{Prefix: "/#/" + Kind, Namer: n, State: func() any { return n.State() }, Close: n.Close}}, nil
}
