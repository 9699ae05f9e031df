//go:build !linux && !darwin

package promexport

// readProcess reads nothing on this platform: the standard library has
// no portable way to. (The Prometheus client read the figures through the
// Windows API, or procfs where mounted.)
func readProcess() processStats { return processStats{} }
