// Package h2spec runs the h2spec HTTP/2 conformance suite
// (github.com/summerwind/h2spec) against a server on 127.0.0.1 and reads
// its JUnit report, for the tests that compare slinkerd's HTTP/2 with Go's
// (internal/h2, test/e2e).
package h2spec

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// junit is the part of h2spec's JUnit report that Run reads.
type junit struct {
	Suites []struct {
		Package string `xml:"package,attr"`
		Name    string `xml:"name,attr"`
		Cases   []struct {
			Package   string    `xml:"package,attr"`
			ClassName string    `xml:"classname,attr"`
			Failure   *struct{} `xml:"failure"`
			Error     *struct{} `xml:"error"`
			Skipped   *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// Result is one h2spec run: every case by ID ("http2/6.5.3/2",
// h2spec's own numbering), and the failed ones.
type Result struct {
	Total, Passed, Skipped int
	Failed                 []string          // IDs, sorted
	Desc                   map[string]string // ID -> "section: description"
}

// String lists the failed cases, one per line.
func (r Result) String() string {
	var b strings.Builder
	for _, id := range r.Failed {
		fmt.Fprintf(&b, "  %s %s\n", id, r.Desc[id])
	}
	return b.String()
}

// Run runs the h2spec binary bin against 127.0.0.1:port, with its JUnit
// report written into reportDir, and reads the report. It touches no
// testing.T, so it can run in a goroutine. sections, if any, limits the
// run to those spec sections ("http2/5.1"); a whole run of fewer than 100
// cases is an error.
func Run(bin, reportDir string, port int, sections ...string) (Result, error) {
	report := filepath.Join(reportDir, fmt.Sprintf("h2spec-%d-%d.xml", port, time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-o", "2", "-j", report}, sections...)
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	// h2spec exits non-zero when any case fails; only a missing report
	// is an error here.
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("h2spec timed out; output:\n%s", tail(string(out), 40))
	}
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		return Result{}, fmt.Errorf("h2spec wrote no report (%v, %v); output:\n%s", err, rerr, tail(string(out), 40))
	}
	var rep junit
	if err := xml.Unmarshal(raw, &rep); err != nil {
		return Result{}, fmt.Errorf("h2spec report: %w", err)
	}
	res := Result{Desc: map[string]string{}}
	for _, s := range rep.Suites {
		for i, c := range s.Cases {
			id := fmt.Sprintf("%s/%d", c.Package, i+1)
			res.Desc[id] = s.Name + ": " + c.ClassName
			res.Total++
			switch {
			case c.Skipped != nil:
				res.Skipped++
			case c.Failure != nil || c.Error != nil:
				res.Failed = append(res.Failed, id)
			default:
				res.Passed++
			}
		}
	}
	slices.Sort(res.Failed)
	if len(sections) == 0 && res.Total < 100 {
		return res, fmt.Errorf("h2spec ran only %d cases; output:\n%s", res.Total, tail(string(out), 40))
	}
	return res, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Comparison is h2spec run against a server and against a reference
// server (Go's own) side by side.
type Comparison struct {
	Got, Ref Result
	// Extra lists the cases the server fails and the reference passes,
	// each "ID section: description", that failed again when their
	// sections ran a second time; Once lists those that passed then (a
	// case can time out on a busy machine).
	Extra, Once []string
}

// Compare runs h2spec against 127.0.0.1:port and 127.0.0.1:refPort at
// once (the runs mostly wait on h2spec's per-case timeouts), then runs
// the sections of the server's extra failures again against it.
func Compare(bin, reportDir string, port, refPort int) (Comparison, error) {
	type run struct {
		res Result
		err error
	}
	refRun := make(chan run, 1)
	go func() {
		res, err := Run(bin, reportDir, refPort)
		refRun <- run{res, err}
	}()
	got, err := Run(bin, reportDir, port)
	ref := <-refRun
	if err != nil {
		return Comparison{}, fmt.Errorf("h2spec against the server: %w", err)
	}
	if ref.err != nil {
		return Comparison{}, fmt.Errorf("h2spec against the reference: %w", ref.err)
	}
	c := Comparison{Got: got, Ref: ref.res}
	var extra, sections []string
	for _, id := range got.Failed {
		if !slices.Contains(ref.res.Failed, id) {
			extra = append(extra, id)
			if sec := id[:strings.LastIndexByte(id, '/')]; !slices.Contains(sections, sec) {
				sections = append(sections, sec)
			}
		}
	}
	if len(extra) == 0 {
		return c, nil
	}
	again, err := Run(bin, reportDir, port, sections...)
	if err != nil {
		return c, fmt.Errorf("h2spec again against the server: %w", err)
	}
	for _, id := range extra {
		if slices.Contains(again.Failed, id) {
			c.Extra = append(c.Extra, id+" "+got.Desc[id])
		} else {
			c.Once = append(c.Once, id+" "+got.Desc[id])
		}
	}
	return c, nil
}
