// Package buildinfo says which build of slinkerd is running, for
// `slinkerd version`, the start-up log line, the dashboard,
// /admin/metrics.json and the slinkerd_build_info metric: one answer
// everywhere.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// version is stamped at link time:
//
//	go build -ldflags "-X github.com/slinkerd/slinkerd/internal/buildinfo.version=v0.1.0"
//
// (or -X main.version=…, which cmd/slinkerd passes on through Set).
var version string

var (
	mu  sync.Mutex
	set string
)

// Set records the version stamped into the main package, if any; it wins
// over everything else. An empty v is ignored.
func Set(v string) {
	mu.Lock()
	defer mu.Unlock()
	if v != "" {
		set = v
	}
}

// Version returns the version of this build: the one stamped at link
// time; else the module version Go recorded (a `go install …@vX.Y.Z`
// build); else the VCS revision Go recorded, shortened, with "-dirty" for
// a modified tree; else "dev".
func Version() string {
	mu.Lock()
	s := set
	mu.Unlock()
	if s != "" {
		return s
	}
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}
