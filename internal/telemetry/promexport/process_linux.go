//go:build linux

package promexport

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// readProcess reads the figures from /proc, as the Prometheus client did
// through procfs on Linux: CPU time and virtual and resident memory from
// /proc/self/stat; the start time from it and the boot time in
// /proc/stat; open descriptors from /proc/self/fd; their limit and the
// address space's from /proc/self/limits; and bytes in and out from
// /proc/self/net/netstat. A file that cannot be read or parsed leaves its
// figures out.
func readProcess() processStats {
	var s processStats
	if data, err := os.ReadFile("/proc/self/stat"); err == nil {
		if st, err := parseProcStat(data); err == nil {
			s.cpu = new(float64(st.utime+st.stime) / userHZ)
			s.vsize = new(float64(st.vsize))
			s.rss = new(float64(st.rss * int64(os.Getpagesize())))
			if data, err := os.ReadFile("/proc/stat"); err == nil {
				if boot, err := parseBootTime(data); err == nil {
					s.start = new(float64(boot) + float64(st.starttime)/userHZ)
				}
			}
		}
	}
	if n, err := countOpenFDs(); err == nil {
		s.openFDs = new(float64(n))
	}
	if data, err := os.ReadFile("/proc/self/limits"); err == nil {
		if files, space, err := parseLimits(data); err == nil {
			s.maxFDs, s.maxVSize = new(float64(files)), new(float64(space))
		}
	}
	if data, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		if in, out, err := parseNetstat(data); err == nil {
			s.netIn, s.netOut = new(in), new(out)
		}
	}
	return s
}

// userHZ is the unit of the times in /proc/<pid>/stat, as procfs assumes
// it (USER_HZ is 100 on every Linux ABI Go supports).
const userHZ = 100

// procStat holds the fields of /proc/<pid>/stat the families use.
type procStat struct {
	utime, stime, starttime, vsize uint64 // clock ticks, clock ticks, ticks after boot, bytes
	rss                            int64  // pages
}

// parseProcStat parses /proc/<pid>/stat: the command is in parentheses and
// may hold anything, so the fields are counted from the last ')'.
func parseProcStat(data []byte) (procStat, error) {
	r := bytes.LastIndexByte(data, ')')
	if bytes.IndexByte(data, '(') < 0 || r < 0 {
		return procStat{}, fmt.Errorf("stat: no command in %q", data)
	}
	// Fields from the state (the 3rd, index 0 here) on.
	f := strings.Fields(string(data[r+1:]))
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command, want at least 22", len(f))
	}
	var (
		st   procStat
		errs []error
	)
	u := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		errs = append(errs, err)
		return v
	}
	st.utime, st.stime, st.starttime, st.vsize = u(f[11]), u(f[12]), u(f[19]), u(f[20])
	rss, err := strconv.ParseInt(f[21], 10, 64)
	st.rss = rss
	if err := errors.Join(append(errs, err)...); err != nil {
		return procStat{}, fmt.Errorf("stat: %w", err)
	}
	return st, nil
}

// parseBootTime returns the boot time in /proc/stat (its btime line), in
// seconds since the epoch.
func parseBootTime(data []byte) (uint64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("/proc/stat: no btime")
}

// procSuperMagic is the type statfs reports for procfs.
const procSuperMagic = 0x9fa0

// countOpenFDs counts the process's open descriptors, as procfs does:
// from /proc/self/fd's size, which Linux 6.2 and later set to the count
// on a real procfs, or else from its entries (the directory's own
// descriptor among them).
func countOpenFDs() (int, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/proc", &fs); err != nil {
		return 0, err
	}
	if fs.Type == procSuperMagic {
		fi, err := os.Stat("/proc/self/fd")
		if err != nil {
			return 0, err
		}
		if fi.Size() > 0 {
			return int(fi.Size()), nil
		}
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}

// parseLimits returns the soft limits on open files and on the address
// space from /proc/<pid>/limits, "unlimited" as the largest uint64. Every
// line after the header must read "Max <name>  <soft> <hard> [<unit>]",
// as procfs requires.
func parseLimits(data []byte) (openFiles, addressSpace uint64, err error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 2 {
		return 0, 0, errors.New("limits: no limits")
	}
	for _, line := range lines[1:] {
		name, rest, _ := strings.Cut(line, "  ")
		f := strings.Fields(rest)
		if !strings.HasPrefix(name, "Max ") || len(f) < 2 {
			return 0, 0, fmt.Errorf("limits: cannot parse %q", line)
		}
		var dst *uint64
		switch name {
		case "Max open files":
			dst = &openFiles
		case "Max address space":
			dst = &addressSpace
		default:
			continue
		}
		if f[0] == "unlimited" {
			*dst = math.MaxUint64
			continue
		}
		if *dst, err = strconv.ParseUint(f[0], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("limits: %w", err)
		}
	}
	return openFiles, addressSpace, nil
}

// parseNetstat returns IpExt's InOctets and OutOctets from
// /proc/<pid>/net/netstat, 0 for one that is missing. The file is pairs of
// lines, "Proto: names..." then "Proto: values..."; as procfs, it fails
// when a pair's lengths differ or a value is not a number.
func parseNetstat(data []byte) (in, out float64, err error) {
	if len(data) == 0 {
		return 0, 0, nil
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i += 2 {
		names := strings.Split(lines[i], " ")
		var values []string
		if i+1 < len(lines) {
			values = strings.Split(lines[i+1], " ")
		}
		if len(names) != len(values) {
			return 0, 0, fmt.Errorf("netstat: %s: %d names but %d values", names[0], len(names), len(values))
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseFloat(values[j], 64)
			if err != nil {
				return 0, 0, fmt.Errorf("netstat: %s %s: %w", proto, names[j], err)
			}
			if proto != "IpExt" {
				continue
			}
			switch names[j] {
			case "InOctets":
				in = v
			case "OutOctets":
				out = v
			}
		}
	}
	return in, out, nil
}
