//go:build slinkerd_nocloudrun

package app

func init() { leftOut = append(leftOut, "io.l5d.cloudrun (-tags slinkerd_nocloudrun)") }

// addCloudRun registers a /#/io.l5d.cloudrun that fails every name: this
// build has no Google SDK.
func addCloudRun(_ *discovery, add addFunc, _ cloudConfig) error {
	n := absentNamer{prefix: "/#/io.l5d.cloudrun", tag: "slinkerd_nocloudrun"}
	return add(n.prefix, n, n.state)
}
