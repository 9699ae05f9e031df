//go:build !slinkerd_nopromproto

package promexport_test

// leanBuild tells whether the package was built with the lean, text-only
// exposition (-tags slinkerd_nopromproto).
const leanBuild = false
