package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/slinkerd/slinkerd/internal/awsconf"
	"github.com/slinkerd/slinkerd/internal/plugin"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// A part is a piece of slinkerd that registers itself with package discovery when
// its package is imported, and that the slinkerd binary imports unless
// a build tag leaves it out (internal/allplugins): the namers that
// bring a cloud SDK, the SigV4 signer, Google's ID token credentials.
type part struct {
	kind     string   // namer kind, or a description for the others
	prefixes []string // where its namers mount; none for the others
	pkg      string   // the package that registers it
	tag      string   // the build tag that leaves it out of the binary ("" for none)
}

const modulePath = "github.com/slinkerd/slinkerd/"

// knownNamers are the namers slinkerd's own packages register; a dtab
// that names one that is not linked gets an absent namer, whose every
// name fails saying what to import.
var knownNamers = []part{
	{kind: "io.l5d.fs", prefixes: []string{"/#/io.l5d.fs"}, pkg: modulePath + "discovery/fs"},
	{kind: "io.l5d.cloudmap", prefixes: []string{"/#/io.l5d.cloudmap"}, pkg: modulePath + "discovery/cloudmap", tag: "slinkerd_nocloudmap"},
	{kind: "io.l5d.cloudrun", prefixes: []string{"/#/io.l5d.cloudrun"}, pkg: modulePath + "discovery/cloudrun", tag: "slinkerd_nocloudrun"},
	{kind: "io.l5d.lambda", prefixes: []string{"/#/io.l5d.lambda", "/#/io.l5d.lambda.stream"}, pkg: modulePath + "discovery/lambdafn", tag: "slinkerd_nolambdafn"},
}

var (
	sigv4Plugin      = part{kind: "SigV4 signing, sign:<service>", pkg: modulePath + "discovery/sigv4", tag: "slinkerd_nosigv4"}
	googleAuthPlugin = part{kind: "Google ID token credentials", pkg: modulePath + "discovery/idtoken/googleauth", tag: "slinkerd_nocloudrun"}
	// awsSharedConfig is the AWS SDK's whole configuration chain; without
	// it, AWS credentials and region come from the environment only.
	awsSharedConfig = part{kind: "AWS profiles, SSO and shared config files", tag: "slinkerd_noawsconfig"}
)

// missing says how to get a part that is not linked in.
func (p part) missing() string {
	s := "not in this build of slinkerd: a Go program links it by importing " + p.pkg
	if p.tag != "" {
		s += "; the slinkerd binary leaves it out when built with -tags " + p.tag
	}
	return s
}

// leftOutName is how LeftOut names a part.
func (p part) leftOutName() string {
	if p.tag == "" {
		return p.kind + " (" + p.pkg + " not imported)"
	}
	return p.kind + " (-tags " + p.tag + ")"
}

// LeftOut lists the parts that are not linked into this program, as
// "io.l5d.cloudrun (-tags slinkerd_nocloudrun)" for the binary's build
// tags; empty for a full build of the binary.
func LeftOut() []string {
	var out []string
	for _, p := range knownNamers {
		if !discovery.Registered(p.kind) {
			out = append(out, p.leftOutName())
		}
	}
	if plugin.Signer() == nil {
		out = append(out, sigv4Plugin.leftOutName())
	}
	if plugin.IDTokenFetcher() == nil {
		out = append(out, googleAuthPlugin.leftOutName())
	}
	if !awsconf.SharedConfig {
		out = append(out, awsSharedConfig.leftOutName())
	}
	return out
}

// absentNamer stands for a namer that is not linked in: every name under
// it fails, saying why.
type absentNamer struct {
	prefix string // e.g. /#/io.l5d.cloudmap
	p      part
}

// Lookup implements name.Namer.
func (a absentNamer) Lookup(context.Context, name.Path) (name.Tree[name.Bound], error) {
	return name.Tree[name.Bound]{}, fmt.Errorf("%s is %s", a.prefix, a.p.missing())
}

// state is the /admin/discovery.json section of an absent namer.
func (a absentNamer) state() any {
	return map[string]string{"absent": a.p.missing()}
}

// addNamers builds every registered namer, in registration order, and
// mounts an absentNamer for each known one that is not linked in.
func addNamers(d *namerSet, add addFunc, p discovery.Params) error {
	for _, k := range discovery.Namers() {
		ns, err := k.New(p)
		if err != nil {
			return fmt.Errorf("namer %s: %w", k.Kind, err)
		}
		for _, n := range ns {
			if n.Close != nil {
				d.closers = append(d.closers, n.Close)
			}
			if err := add(n.Prefix, n.Namer, n.State); err != nil {
				return err
			}
			for kind, rt := range n.Transports {
				if d.transports == nil {
					d.transports = map[string]http.RoundTripper{}
				}
				d.transports[kind] = rt
			}
		}
	}
	for _, k := range knownNamers {
		if discovery.Registered(k.kind) {
			continue
		}
		for _, prefix := range k.prefixes {
			a := absentNamer{prefix: prefix, p: k}
			if err := add(prefix, a, a.state); err != nil {
				return err
			}
		}
	}
	return nil
}

// addFunc mounts a namer under prefix, with its /admin/discovery.json
// section when state is not nil.
type addFunc func(prefix string, n name.Namer, state func() any) error

// newSigners returns the signer of each sign spec (SLINKERD_SVC_POLICY
// sign:<service>[:<region>]): the registered one (discovery/sigv4). With
// none linked in, a policy with a sign key is refused: sending such
// requests unsigned would only fail later.
func newSigners(entries []retry.PolicyEntry) (func(retry.SignSpec) proxy.Signer, error) {
	if f := plugin.Signer(); f != nil {
		return f()
	}
	for _, e := range entries {
		if e.Fields&retry.FieldSign != 0 && e.Values.Sign.Service != "" {
			return nil, errors.New(e.Prefix + ": sign: " + sigv4Plugin.kind + " is " + sigv4Plugin.missing())
		}
	}
	return func(retry.SignSpec) proxy.Signer { return nil }, nil
}

// idTokenFetcher returns the registered ID token fetcher
// (discovery/idtoken/googleauth: application default credentials, else
// the metadata server, and impersonation), or nil for the metadata
// server's own, which cannot impersonate.
func idTokenFetcher(p discovery.Params) (idtoken.Fetcher, error) {
	if f := plugin.IDTokenFetcher(); f != nil {
		return f(p)
	}
	if p.Config.Discovery.IDTokenImpersonate != "" {
		return nil, errors.New("SLINKERD_ID_TOKEN_IMPERSONATE: " + googleAuthPlugin.kind + " are " + googleAuthPlugin.missing())
	}
	return nil, nil
}
