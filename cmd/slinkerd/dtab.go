package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/slinkerd/slinkerd/internal/bind"
)

const dtabUsage = `usage: slinkerd dtab check --source S [--paths /svc/a,/svc/b] [--admin URL] [--json]
  Fetches the candidate dtab from S (ssm:/name, appconfig:app/env/profile,
  https://… or file:/path), parses it, and shows which paths bind
  differently under SLINKERD_DTAB + the candidate than under SLINKERD_DTAB +
  what SLINKERD_DTAB_SOURCE serves now. It checks the --paths, and the
  names a running slinkerd has served (its metrics, from --admin, e.g.
  http://127.0.0.1:9990); with neither, the dentry prefixes of both dtabs.
  Exit status: 0 valid; 1 a path that binds now would be negative;
  2 the candidate does not parse, cannot be fetched, or bad usage.
`

// runDtab runs `slinkerd dtab SUBCOMMAND`.
func runDtab(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, dtabUsage)
		return exitUsage
	}
	return runDtabCheck(args[1:], environ, stdout, stderr)
}

// pathCheck is one path's binding under the current and the candidate
// dtab.
type pathCheck struct {
	Path      string `json:"path"`
	Current   string `json:"current"`
	Candidate string `json:"candidate"`
	Changed   bool   `json:"changed"`
	// Breaks is true when the path binds now and the candidate makes it
	// negative or failed.
	Breaks bool `json:"breaks,omitempty"`
}

// checkOutput is `slinkerd dtab check --json`'s answer.
type checkOutput struct {
	Source           string      `json:"source"`
	Version          string      `json:"version"`
	Candidate        string      `json:"candidate"`
	Current          string      `json:"current"`
	CurrentVersion   string      `json:"currentVersion,omitempty"`
	CurrentSourceErr string      `json:"currentSourceError,omitempty"`
	Paths            []pathCheck `json:"paths"`
}

func runDtabCheck(args, environ []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("dtab check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	source := fl.String("source", "", "the candidate's source: ssm:/name, appconfig:app/env/profile, https://… or file:/path")
	paths := fl.String("paths", "", "comma-separated paths to compare (default: the dtabs' dentry prefixes)")
	admin := fl.String("admin", "", "a running slinkerd's admin URL, e.g. http://127.0.0.1:9990: also check the service names in its metrics")
	asJSON := fl.Bool("json", false, "print JSON")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if *source == "" || fl.NArg() != 0 {
		fmt.Fprint(stderr, dtabUsage)
		return exitUsage
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cand, err := dtabsource.Parse(*source, dtabsource.Options{Auth: cfg.Routing.DtabSourceAuth, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd dtab check: --source: %v\n", err)
		return exitUsage
	}
	candidate, version, err := app.EffectiveDtab(ctx, cfg, cand)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd dtab check: %v\n", err)
		return exitUsage
	}
	out := checkOutput{Source: cand.String(), Version: version, Candidate: candidate.String(), Paths: []pathCheck{}}

	cur, err := app.NewDtabSource(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd dtab check: %v\n", err)
		return exitUsage
	}
	current, curVersion, err := app.EffectiveDtab(ctx, cfg, cur)
	if err != nil {
		// Compare with SLINKERD_DTAB alone, and say so.
		out.CurrentSourceErr = err.Error()
		fmt.Fprintf(stderr, "slinkerd dtab check: the current SLINKERD_DTAB_SOURCE: %v; comparing with SLINKERD_DTAB alone\n", err)
		if current, _, err = app.EffectiveDtab(ctx, cfg, nil); err != nil {
			fmt.Fprintf(stderr, "slinkerd dtab check: %v\n", err)
			return exitUsage
		}
	}
	out.Current, out.CurrentVersion = current.String(), curVersion

	in, closers, err := app.NewInterpreter(cfg, log, false)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd dtab check: %v\n", err)
		return exitUsage
	}
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	list, err := checkPaths(*paths, current, candidate)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd dtab check: --paths: %v\n", err)
		return exitUsage
	}
	if *admin != "" {
		seen, err := servedNames(ctx, *admin)
		if err != nil {
			fmt.Fprintf(stderr, "slinkerd dtab check: --admin: %v\n", err)
			return exitUsage
		}
		if *paths == "" {
			list = nil // the names in use, not the dtabs' prefixes
		}
		list = mergePaths(list, seen)
	}
	breaks := 0
	for _, p := range list {
		pc := pathCheck{Path: p.String(), Current: outcome(ctx, in, current, p), Candidate: outcome(ctx, in, candidate, p)}
		pc.Changed = pc.Current != pc.Candidate
		pc.Breaks = pc.Changed && !isNegative(pc.Current) && isNegative(pc.Candidate)
		if pc.Breaks {
			breaks++
		}
		out.Paths = append(out.Paths, pc)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(out)
	} else {
		fmt.Fprintf(stdout, "candidate %s (version %s) parses: %s\n", out.Source, out.Version, out.Candidate)
		fmt.Fprintf(stdout, "current: %s\n", out.Current)
		for _, pc := range out.Paths {
			mark := "same"
			switch {
			case pc.Breaks:
				mark = "BREAKS"
			case pc.Changed:
				mark = "changed"
			}
			fmt.Fprintf(stdout, "%-8s %s: %s -> %s\n", mark, pc.Path, pc.Current, pc.Candidate)
		}
	}
	if breaks > 0 {
		fmt.Fprintf(stderr, "slinkerd dtab check: the candidate makes %d path(s) negative that bind now\n", breaks)
		return exitNegative
	}
	return exitOK
}

// servedNames reads the service names a running slinkerd has metrics
// for, from its admin server's /admin/metrics.json.
func servedNames(ctx context.Context, adminURL string) ([]name.Path, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(adminURL, "/")+"/admin/metrics.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var doc struct {
		Services []struct {
			Service string `json:"service"`
		} `json:"services"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	var out []name.Path
	for _, s := range doc.Services {
		p, err := name.ParsePath(s.Service)
		if err != nil || len(p) == 0 {
			continue // "other", the overflow series
		}
		out = append(out, p)
	}
	return out, nil
}

// mergePaths appends to list the paths of more it does not hold, sorted.
func mergePaths(list, more []name.Path) []name.Path {
	seen := map[string]bool{}
	for _, p := range list {
		seen[p.String()] = true
	}
	for _, p := range more {
		if !seen[p.String()] {
			seen[p.String()] = true
			list = append(list, p)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	return list
}

// checkPaths parses --paths, or lists the dentry prefixes of both dtabs
// that have no wildcard.
func checkPaths(flagValue string, dtabs ...name.Dtab) ([]name.Path, error) {
	var out []name.Path
	if flagValue != "" {
		for _, s := range strings.Split(flagValue, ",") {
			p, err := name.ParsePath(strings.TrimSpace(s))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, d := range dtabs {
		for _, e := range d {
			s := e.Prefix.String()
			if strings.Contains(s, "*") || seen[s] {
				continue
			}
			p, err := name.ParsePath(s)
			if err != nil || len(p) == 0 || p[0] == "#" || p[0] == "$" {
				continue
			}
			seen[s] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// outcome renders how path binds under dtab: "neg", "fail", "error: …" or
// the bound names with their shares.
func outcome(ctx context.Context, in *bind.Interpreter, dtab name.Dtab, path name.Path) string {
	res, _, err := in.Delegate(ctx, dtab, path)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case res.Kind == name.Neg:
		return "neg"
	case res.Kind == name.Fail:
		return "fail"
	case len(res.Bounds) == 0:
		return "empty"
	}
	parts := make([]string, len(res.Bounds))
	for i, b := range res.Bounds {
		parts[i] = b.Value.String()
		if len(res.Bounds) > 1 {
			parts[i] = fmt.Sprintf("%.2f*%s", b.Weight, parts[i])
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " & ")
}

func isNegative(o string) bool { return o == "neg" || o == "fail" }
