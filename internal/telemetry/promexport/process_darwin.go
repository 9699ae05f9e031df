//go:build darwin

package promexport

import (
	"os"
	"syscall"
	"time"
)

// readProcess reads the figures the standard library can reach on macOS,
// as the Prometheus client read them there: CPU time (getrusage), open
// descriptors (/dev/fd, less the one reading it) and the soft limits on
// descriptors and address space (getrlimit). The client also read the
// start time with sysctl, and the memory sizes with cgo only; those are
// left out.
func readProcess() processStats {
	var s processStats
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.cpu = new(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds())
	}
	if d, err := os.Open("/dev/fd"); err == nil {
		names, err := d.Readdirnames(0)
		_ = d.Close()
		if err == nil {
			s.openFDs = new(float64(len(names) - 1))
		}
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		s.maxFDs = new(float64(rl.Cur))
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil {
		s.maxVSize = new(float64(rl.Cur))
	}
	return s
}
