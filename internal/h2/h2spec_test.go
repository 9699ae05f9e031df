package h2

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
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

// h2specReport is the part of h2spec's JUnit report the test reads (as
// test/e2e/h2spec_test.go).
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

// h2specResult is one h2spec run: the failed case IDs ("http2/6.5.3/2").
type h2specResult struct {
	total, passed, skipped int
	failed                 []string
	desc                   map[string]string
}

func (r h2specResult) String() string {
	var b strings.Builder
	for _, id := range r.failed {
		fmt.Fprintf(&b, "  %s %s\n", id, r.desc[id])
	}
	return b.String()
}

func runH2spec(bin, dir string, port int, sections ...string) (h2specResult, error) {
	report := filepath.Join(dir, fmt.Sprintf("h2spec-%d-%d.xml", port, time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-o", "2", "-j", report}, sections...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		return h2specResult{}, fmt.Errorf("h2spec timed out; output:\n%s", out)
	}
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		return h2specResult{}, fmt.Errorf("h2spec wrote no report (%v, %v); output:\n%s", err, rerr, out)
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
		return res, fmt.Errorf("h2spec ran only %d cases; output:\n%s", res.total, out)
	}
	return res, nil
}

// h2specBin is .tools/h2spec at the repository's root.
func h2specBin() (string, bool) {
	p, err := filepath.Abs("../../.tools/h2spec")
	if err != nil {
		return "", false
	}
	st, err := os.Stat(p)
	return p, err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// TestH2spec runs h2spec against this server and against net/http's own
// h2c server with the same handler: this server may fail only cases
// net/http fails too.
func TestH2spec(t *testing.T) {
	bin, ok := h2specBin()
	if !ok {
		t.Skip("h2spec is not installed in .tools/: run `make tools`")
	}
	if testing.Short() {
		t.Skip("h2spec takes a while")
	}
	ok200 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	ours := startServer(t, Config{Handler: ok200})
	_, ourPort := splitHostPort(t, ours.addr)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	goSrv := &http.Server{Handler: ok200, Protocols: new(http.Protocols), ErrorLog: log.New(io.Discard, "", 0)}
	goSrv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = goSrv.Serve(ln) }()
	t.Cleanup(func() { _ = goSrv.Close() })
	_, goPort := splitHostPort(t, ln.Addr().String())

	dir := t.TempDir()
	type run struct {
		res h2specResult
		err error
	}
	goRun := make(chan run, 1)
	go func() {
		res, err := runH2spec(bin, dir, goPort)
		goRun <- run{res, err}
	}()
	our, err := runH2spec(bin, dir, ourPort)
	require.NoError(t, err, "h2spec against h2.Server")
	gr := <-goRun
	require.NoError(t, gr.err, "h2spec against net/http")
	t.Logf("h2spec: h2.Server passed %d of %d; net/http passed %d of %d", our.total-len(our.failed), our.total, gr.res.total-len(gr.res.failed), gr.res.total)
	t.Logf("h2spec: net/http fails:\n%s", gr.res)
	t.Logf("h2spec: h2.Server fails:\n%s", our)
	var extra, sections []string
	for _, id := range our.failed {
		if !slices.Contains(gr.res.failed, id) {
			extra = append(extra, id)
			if sec := id[:strings.LastIndexByte(id, '/')]; !slices.Contains(sections, sec) {
				sections = append(sections, sec)
			}
		}
	}
	if len(extra) > 0 {
		// A case can time out on a busy machine: run the sections of the
		// extra failures again and keep the failures that repeat.
		again, err := runH2spec(bin, dir, ourPort, sections...)
		require.NoError(t, err)
		var repeated []string
		for _, id := range extra {
			if slices.Contains(again.failed, id) {
				repeated = append(repeated, id+" "+our.desc[id])
			}
		}
		assert.Empty(t, repeated, "h2spec cases h2.Server fails (twice) but net/http passes")
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return host, port
}
