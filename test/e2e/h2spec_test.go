package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h2specReport is the part of h2spec's JUnit report the test reads.
type h2specReport struct {
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

// h2specResult is one h2spec run: every case by ID ("http2/6.5.3/2",
// h2spec's own numbering), and the failed ones.
type h2specResult struct {
	total, passed, skipped int
	failed                 []string          // IDs, sorted
	desc                   map[string]string // ID -> "section: description"
}

func (r h2specResult) String() string {
	var b strings.Builder
	for _, id := range r.failed {
		fmt.Fprintf(&b, "  %s %s\n", id, r.desc[id])
	}
	return b.String()
}

// runH2spec runs h2spec against 127.0.0.1:port and reads its JUnit
// report into reportDir. It does not touch t, so it can run in a goroutine.
// sections, if any, limits the run to those spec sections ("http2/5.1").
func runH2spec(bin, reportDir string, port int, sections ...string) (h2specResult, error) {
	report := filepath.Join(reportDir, fmt.Sprintf("h2spec-%d-%d.xml", port, time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-o", "2", "-j", report}, sections...)
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	// h2spec exits non-zero when any case fails; only a missing report
	// is an error here.
	if ctx.Err() != nil {
		return h2specResult{}, fmt.Errorf("h2spec timed out; output:\n%s", tail(string(out), 40))
	}
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		return h2specResult{}, fmt.Errorf("h2spec wrote no report (%v, %v); output:\n%s", err, rerr, tail(string(out), 40))
	}
	var rep h2specReport
	if err := xml.Unmarshal(raw, &rep); err != nil {
		return h2specResult{}, fmt.Errorf("h2spec report: %w", err)
	}
	res := h2specResult{desc: map[string]string{}}
	for _, s := range rep.Suites {
		for i, c := range s.Cases {
			id := fmt.Sprintf("%s/%d", c.Package, i+1)
			res.desc[id] = s.Name + ": " + c.ClassName
			res.total++
			switch {
			case c.Skipped != nil:
				res.skipped++
			case c.Failure != nil || c.Error != nil:
				res.failed = append(res.failed, id)
			default:
				res.passed++
			}
		}
	}
	slices.Sort(res.failed)
	if len(sections) == 0 && res.total < 100 {
		return res, fmt.Errorf("h2spec ran only %d cases; output:\n%s", res.total, tail(string(out), 40))
	}
	return res, nil
}

// TestH2spec runs the h2spec HTTP/2 conformance suite against Go's own h2c
// server and against slinkerd in front of such a server. Issue 3: slinkerd
// may fail only the cases that Go's server fails too.
func TestH2spec(t *testing.T) {
	bin, ok := toolPath("h2spec")
	if !ok {
		t.Skip("h2spec is not installed in .tools/: run `make tools`")
	}
	t.Parallel()
	ok200 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	bare := startH2CBackend(t, ok200)
	behind := startH2CBackend(t, ok200)
	// h2spec's :authority is 127.0.0.1:<port>: every /svc name goes to the
	// backend.
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": fmt.Sprintf("/svc=>/$/inet/127.0.0.1/%d", behind.Port)})
	_, slinkerdPort, err := splitPort(p.ProxyAddr)
	require.NoError(t, err)

	// The two runs mostly wait on h2spec's per-case timeouts: run them
	// side by side.
	dir := t.TempDir()
	type run struct {
		res h2specResult
		err error
	}
	goRun := make(chan run, 1)
	go func() {
		res, err := runH2spec(bin, dir, bare.Port)
		goRun <- run{res, err}
	}()
	slRes, err := runH2spec(bin, dir, slinkerdPort)
	require.NoError(t, err, "h2spec against slinkerd")
	gr := recv(t, goRun, 5*time.Minute, "h2spec against Go's h2c server")
	require.NoError(t, gr.err, "h2spec against Go's h2c server")
	goR := gr.res

	// "Passed" as issue 3 counts it (Go: 140 of 145): every case not
	// failed; h2spec's own summary reports skipped cases apart.
	t.Logf("h2spec: slinkerd passed %d of %d; Go's h2c server passed %d of %d", slRes.total-len(slRes.failed), slRes.total, goR.total-len(goR.failed), goR.total)
	t.Logf("h2spec summaries: slinkerd %d passed, %d skipped, %d failed; Go %d passed, %d skipped, %d failed",
		slRes.passed, slRes.skipped, len(slRes.failed), goR.passed, goR.skipped, len(goR.failed))
	t.Logf("h2spec: Go's h2c server fails:\n%s", goR)
	t.Logf("h2spec: slinkerd fails:\n%s", slRes)
	var extra, sections []string
	for _, id := range slRes.failed {
		if !slices.Contains(goR.failed, id) {
			extra = append(extra, id)
			if sec := id[:strings.LastIndexByte(id, '/')]; !slices.Contains(sections, sec) {
				sections = append(sections, sec)
			}
		}
	}
	if len(extra) > 0 {
		// A case can time out on a busy machine: run the sections of the
		// extra failures again and keep only the failures that repeat.
		again, err := runH2spec(bin, dir, slinkerdPort, sections...)
		require.NoError(t, err, "h2spec again against slinkerd")
		var repeated []string
		for _, id := range extra {
			if slices.Contains(again.failed, id) {
				repeated = append(repeated, id+" "+slRes.desc[id])
			} else {
				t.Logf("h2spec: %s %s failed once against slinkerd, then passed", id, slRes.desc[id])
			}
		}
		assert.Empty(t, repeated, "h2spec cases slinkerd fails (twice) but Go's own h2c server passes")
	}
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port in %q", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	return addr[:i], port, err
}
