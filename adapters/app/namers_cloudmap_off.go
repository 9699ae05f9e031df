//go:build slinkerd_nocloudmap

package app

func init() { leftOut = append(leftOut, "io.l5d.cloudmap (-tags slinkerd_nocloudmap)") }

// addCloudMap registers a /#/io.l5d.cloudmap that fails every name: this
// build has no AWS SDK.
func addCloudMap(_ *discovery, add addFunc, _ cloudConfig) error {
	n := absentNamer{prefix: "/#/io.l5d.cloudmap", tag: "slinkerd_nocloudmap"}
	return add(n.prefix, n, n.state)
}
