// Package discovery is where namers, and the other parts that bring a
// cloud SDK with them, register themselves, as database/sql drivers and
// grpc-go resolvers do: a program links only the ones it imports.
//
//	import _ "github.com/slinkerd/slinkerd/discovery/cloudmap" // /#/io.l5d.cloudmap
//
// The slinkerd binary imports every one (build tags leave the cloud ones
// out of the Lambda layer); a Go program using the library imports the
// namers its dtab names. /$/inet, /$/nil, /$/fail and /#/io.l5d.dnssrv
// are always there; the packages under discovery/ register the rest:
//
//   - discovery/fs: /#/io.l5d.fs (files in SLINKERD_FS_DIR);
//   - discovery/cloudmap: /#/io.l5d.cloudmap (AWS Cloud Map);
//   - discovery/cloudrun: /#/io.l5d.cloudrun (Cloud Run services);
//   - discovery/lambdafn: /#/io.l5d.lambda and /#/io.l5d.lambda.stream
//     (Lambda functions invoked by name);
//   - discovery/sigv4: sign:<service> in SLINKERD_SVC_POLICY;
//   - discovery/idtoken/googleauth: ID tokens from application default
//     credentials and impersonation (without it, the metadata server's);
//     these two register with slinkerd's internal registry, not here;
//   - discovery/dtabsource/awsstore: SLINKERD_DTAB_SOURCE=ssm:… and
//     appconfig:… (https: and file: are always there).
//
// Register functions are called from init functions; they panic on a
// second registration of one kind, as a programming error.
package discovery

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
)

// Params is what a namer is built from.
type Params struct {
	// Config is the whole configuration; a namer reads its own settings
	// from it (Config.Discovery).
	Config *config.Config
	// Logger receives the namer's warnings.
	Logger *slog.Logger
	// Watch says whether the namer may refresh in the background: false
	// on Lambda, whose environment is frozen between invocations, where
	// a namer refreshes when a name is used.
	Watch bool
}

// EmptyGrace returns SLINKERD_DISCOVERY_EMPTY_GRACE as the namers take
// it: a negative duration for none (the variable's 0).
func (p Params) EmptyGrace() time.Duration {
	if p.Config.Discovery.EmptyGrace == 0 {
		return -1
	}
	return p.Config.Discovery.EmptyGrace
}

// Namer is one namer that a NamerFactory built.
type Namer struct {
	// Prefix is where the namer is mounted, e.g. /#/io.l5d.cloudmap.
	Prefix string
	// Namer binds the names under Prefix.
	Namer name.Namer
	// State, if not nil, returns the namer's section of
	// /admin/discovery.json.
	State func() any
	// Close, if not nil, stops the namer's background work.
	Close func() error
	// Transports are RoundTrippers for endpoints the namer binds that are
	// not HTTP addresses, by the "transport" metadata key of the
	// endpoints (e.g. Lambda functions invoked through the AWS API).
	Transports map[string]http.RoundTripper
}

// NamerFactory builds the namers of one kind from the configuration. It
// must not call out (no network, no SDK client): a namer is built at
// start-up, and calls nothing until a name under it is first used.
type NamerFactory func(Params) ([]Namer, error)

// NamerKind is one registered kind of namer.
type NamerKind struct {
	// Kind names it, e.g. io.l5d.cloudmap.
	Kind string
	// New builds its namers.
	New NamerFactory
}

var (
	mu     sync.Mutex
	namers []NamerKind
)

// RegisterNamer adds a kind of namer, built by f at start-up. Namers are
// built in the order they were registered.
func RegisterNamer(kind string, f NamerFactory) {
	mu.Lock()
	defer mu.Unlock()
	if kind == "" || f == nil {
		panic("discovery: RegisterNamer with an empty kind or a nil factory")
	}
	for _, k := range namers {
		if k.Kind == kind {
			panic(fmt.Sprintf("discovery: namer kind %q registered twice", kind))
		}
	}
	namers = append(namers, NamerKind{Kind: kind, New: f})
}

// Namers returns the registered kinds of namers, in registration order.
func Namers() []NamerKind {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(namers)
}

// Registered says whether a kind of namer is registered.
func Registered(kind string) bool {
	mu.Lock()
	defer mu.Unlock()
	return slices.ContainsFunc(namers, func(k NamerKind) bool { return k.Kind == kind })
}
