package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux ABI Go supports without cgo.
const clockTicks = 100

// proc is a child process the benchmark started, in its own process group
// so that it and everything it forks (nginx's workers) are stopped
// together.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // file holding its stderr
	done chan struct{}
	err  error // Wait's result, once done is closed

	stopOnce sync.Once
}

// procs tracks every process the benchmark started, so that all of them
// are stopped on the way out, Ctrl-C included.
var procs struct {
	mu   sync.Mutex
	live map[*proc]bool
}

// startProc starts name's command with its stderr in logDir/<name>.log.
// cpus, when set, pins it with taskset (a CPU list such as "0,1"). The
// caller must stop it; stopAll stops whatever is left.
func startProc(name, logDir, cpus string, env []string, stdin io.Reader, stdout io.Writer, argv ...string) (*proc, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	logPath := filepath.Join(logDir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, lf
	// Own process group, so a group kill reaches forked workers; and die
	// with the benchmark should it be killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	procs.mu.Lock()
	if procs.live == nil {
		procs.live = map[*proc]bool{}
	}
	procs.live[p] = true
	procs.mu.Unlock()
	return p, nil
}

// pid is the process's id, which is also its process group's.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then kills
// the group. It is safe to call more than once.
func (p *proc) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.pid()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
		}
		// Leftovers of the group (a worker the master did not reap).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		procs.mu.Lock()
		delete(procs.live, p)
		procs.mu.Unlock()
	})
}

// wait waits for the process to end by itself, at most d, killing it
// after that or when ctx is done.
func (p *proc) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		p.stop(0)
		return p.err
	case <-ctx.Done():
		p.stop(time.Second)
		return ctx.Err()
	case <-t.C:
		p.stop(time.Second)
		return fmt.Errorf("%s did not finish within %s", p.name, d)
	}
}

// logTail returns the last lines of the process's stderr, for errors.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stopAll stops every process still running.
func stopAll() {
	procs.mu.Lock()
	var ps []*proc
	for p := range procs.live {
		ps = append(ps, p)
	}
	procs.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(2 * time.Second) }()
	}
	wg.Wait()
}

// runTool runs a load tool to completion (bounded by limit and ctx) and
// returns its standard output.
func runTool(ctx context.Context, name, logDir, cpus string, limit time.Duration, argv ...string) (string, error) {
	var out bytes.Buffer
	p, err := startProc(name, logDir, cpus, os.Environ(), nil, &out, argv...)
	if err != nil {
		return "", err
	}
	if err := p.wait(ctx, limit); err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s", name, err, p.logTail())
	}
	return out.String(), nil
}

// tree returns pid and all its descendants that are alive now.
func tree(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(n)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], n)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

type procStat struct {
	ppid         int
	utime, stime uint64 // clock ticks
}

// readStat parses /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces; fields
	// count from after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, errors.New("short stat")
	}
	var st procStat
	st.ppid, _ = strconv.Atoi(f[1])
	st.utime, _ = strconv.ParseUint(f[11], 10, 64)
	st.stime, _ = strconv.ParseUint(f[12], 10, 64)
	return st, nil
}

// cpuSeconds is the user+system CPU time of pid and its live
// descendants.
func cpuSeconds(pid int) float64 {
	var ticks uint64
	for _, p := range tree(pid) {
		if st, err := readStat(p); err == nil {
			ticks += st.utime + st.stime
		}
	}
	return float64(ticks) / clockTicks
}

// memory is the resident memory of pid and its live descendants, summed:
// RSS (what the goal is stated in; shared pages count once per process)
// and PSS (shared pages split between their users), in bytes.
func memory(pid int) (rss, pss uint64) {
	for _, p := range tree(pid) {
		rss += statusKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS:") << 10
		pss += statusKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:") << 10
	}
	return rss, pss
}

// statusKB reads a "Key:   123 kB" line from a /proc file.
func statusKB(path, key string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// rssSampler records the peak memory of a process tree while it runs.
type rssSampler struct {
	stop     chan struct{}
	done     chan struct{}
	peakRSS  uint64
	peakPSS  uint64
	interval time.Duration
}

// sampleMemory samples pid's tree every interval until end is called.
func sampleMemory(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), interval: interval}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rss, pss := memory(pid)
			s.peakRSS, s.peakPSS = max(s.peakRSS, rss), max(s.peakPSS, pss)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peaks.
func (s *rssSampler) end() (rss, pss uint64) {
	close(s.stop)
	<-s.done
	return s.peakRSS, s.peakPSS
}
