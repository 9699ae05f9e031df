// Command slinkerd is the slinkerd RPC proxy: one small binary that reads
// its configuration from SLINKERD_* environment variables, picks its run
// mode, and routes requests by name.
//
// Usage:
//
//	slinkerd                         run the proxy (SLINKERD_MODE picks how)
//	slinkerd delegate [--dtab D] [--text] PATH
//	                                 print how PATH delegates, as JSON
//	slinkerd dtab check --source S [--paths P1,P2] [--json]
//	                                 check a candidate dtab (dtab.go)
//	slinkerd config [--json]         print the effective configuration
//	slinkerd version                 print the version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/slinkerd/slinkerd/adapters/cloudrun"
	"github.com/slinkerd/slinkerd/adapters/container"
	"github.com/slinkerd/slinkerd/adapters/lambdaext"
	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/app"
	"github.com/slinkerd/slinkerd/internal/buildinfo"
	"github.com/slinkerd/slinkerd/internal/telemetry/promexport"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// processStart is when the process started, as near as Go lets a program
// tell: package variables are set before main runs, after the runtime
// has started. The Lambda extension logs the time from it to ready.
var processStart = time.Now()

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK       = 0
	exitNegative = 1 // delegate: the path is negative, failed, or bound to no endpoints
	exitUsage    = 2 // bad input: flags, path, dtab or configuration
)

func run(args, environ []string, stdout, stderr io.Writer) int {
	if version != "dev" {
		buildinfo.Set(version) // stamped with -X main.version
	}
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "run":
		return runProxy(environ, stderr)
	case "delegate":
		return runDelegate(args, environ, stdout, stderr)
	case "config":
		return runConfig(args, environ, stdout, stderr)
	case "dtab":
		return runDtab(args, environ, stdout, stderr)
	case "version", "--version", "-v":
		out := app.LeftOut()
		if promexport.LeftOut != "" {
			out = append(out, promexport.LeftOut)
		}
		if len(out) > 0 {
			fmt.Fprintln(stdout, "slinkerd", buildinfo.Version(), "without", strings.Join(out, ", "))
		} else {
			fmt.Fprintln(stdout, "slinkerd", buildinfo.Version())
		}
		return exitOK
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "slinkerd: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

const usage = `usage:
  slinkerd                              run the proxy (SLINKERD_MODE picks how)
  slinkerd delegate [--dtab D] [--text] PATH
                                        show how PATH delegates and binds
  slinkerd dtab check --source S [--paths P1,P2] [--json]
                                        check a candidate dtab against the current one
  slinkerd config [--json]              print the effective configuration
  slinkerd version                      print the version
Configuration is read from SLINKERD_* environment variables; see docs/config.md.
`

func loadConfig(environ []string) (*config.Config, error) {
	return config.Load(config.EnvironMap(environ), app.Validators()...)
}

// runProxy runs the proxy in the mode SLINKERD_MODE picks: a Lambda
// extension, a Cloud Run sidecar, or a plain long-lived process.
func runProxy(environ []string, stderr io.Writer) int {
	env := config.EnvironMap(environ)
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd: invalid configuration:\n%s\n", indent(err.Error()))
		if lambdaMode(env) {
			// Tell Lambda why the init failed, so the function's error
			// says it, not only this log.
			log := app.NewLogger(config.Default(), config.ModeLambda)
			_ = lambdaext.Run(context.Background(), lambdaext.Options{ConfigErr: err,
				RuntimeAPI: env[config.EnvLambdaRuntimeAPI], Log: log, Started: processStart})
		}
		return exitUsage
	}
	mode := cfg.ResolveMode(env)
	log := app.NewLogger(cfg, mode)
	for _, k := range cfg.IgnoredVariables() {
		log.Warn("ignoring an unknown variable (SLINKERD_STRICT_ENV=off)", "variable", k)
	}
	slog.SetDefault(log)
	ctx := context.Background()
	switch mode {
	case config.ModeLambda:
		err = lambdaext.Run(ctx, lambdaext.Options{Config: cfg, RuntimeAPI: env[config.EnvLambdaRuntimeAPI],
			Log: log, Started: processStart})
	case config.ModeCloudRun:
		err = cloudrun.Run(ctx, cfg, env, log)
	default:
		err = container.Run(ctx, cfg, log)
	}
	if err != nil {
		var se *app.StartError
		if errors.As(err, &se) {
			log.Error("slinkerd failed to start", "err", err)
			return exitUsage
		}
		log.Error("slinkerd stopped with an error", "err", err)
		return 1
	}
	log.Info("slinkerd stopped")
	return exitOK
}

// lambdaMode reports whether the environment asks for lambda mode, for
// when the configuration could not be loaded.
func lambdaMode(env map[string]string) bool {
	c := config.Config{Mode: config.Mode(env["SLINKERD_MODE"])}
	return c.ResolveMode(env) == config.ModeLambda && env[config.EnvLambdaRuntimeAPI] != ""
}

func runDelegate(args, environ []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("delegate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dtab := fl.String("dtab", "", "dtab to delegate with (default: SLINKERD_DTAB)")
	text := fl.Bool("text", false, "print a readable tree instead of JSON")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(stderr, "slinkerd delegate: want exactly one PATH, e.g. /svc/users")
		return exitUsage
	}
	hasDtab := false
	fl.Visit(func(f *flag.Flag) { hasDtab = hasDtab || f.Name == "dtab" })

	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in, closers, err := app.NewInterpreter(cfg, log, false)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd delegate: %v\n", err)
		return exitUsage
	}
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, status := admin.Delegate(ctx, in, *dtab, hasDtab, fl.Arg(0))
	if status != 200 {
		fmt.Fprintf(stderr, "slinkerd delegate: %s\n", out.Error)
		return exitUsage
	}
	if *text {
		printText(stdout, out)
	} else {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(out)
	}
	if out.Result == "error" {
		fmt.Fprintf(stderr, "slinkerd delegate: %s\n", out.Error)
		return exitUsage
	}
	if out.Result != "bound" {
		// The proxy would answer 502 for this name: say why.
		fmt.Fprintf(stderr, "slinkerd delegate: %s\n", out.Error)
		return exitNegative
	}
	return exitOK
}

// printText renders the delegation as an indented tree.
func printText(w io.Writer, out admin.DelegateOutput) {
	fmt.Fprintf(w, "%s  (dtab: %s)\n", out.Path, out.Dtab)
	var walk func(s *name.Step, depth int)
	walk = func(s *name.Step, depth int) {
		if s == nil {
			return
		}
		pad := strings.Repeat("  ", depth)
		line := pad + s.Type
		if s.Path != "" {
			line += " " + s.Path
		}
		if s.Dentry != nil {
			line += fmt.Sprintf("   [dentry %d: %s=>%s]", s.Dentry.Index, s.Dentry.Prefix, s.Dentry.Dst)
		}
		if s.Weight != 0 {
			line += fmt.Sprintf("   weight %g", s.Weight)
		}
		if s.Message != "" {
			line += "   " + s.Message
		}
		fmt.Fprintln(w, line)
		walk(s.Delegate, depth+1)
		for _, c := range s.Alt {
			walk(c, depth+1)
		}
		for _, c := range s.Union {
			walk(c, depth+1)
		}
	}
	walk(out.Tree, 1)
	fmt.Fprintf(w, "result: %s\n", out.Result)
	for _, b := range out.Bound {
		fmt.Fprintf(w, "  %s (share %.3g, %s)\n", b.ID, b.Share, b.State)
		if b.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", b.Error)
		}
		for _, a := range b.Addresses {
			fmt.Fprintf(w, "    %s weight %g\n", a.Addr, a.Weight)
		}
	}
	if out.Error != "" {
		fmt.Fprintf(w, "error: %s\n", out.Error)
	}
}

func runConfig(args, environ []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("config", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "print JSON instead of VAR=value lines")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "slinkerd: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	format := "text"
	if *asJSON {
		format = "json"
	}
	if err := cfg.Print(stdout, format); err != nil {
		fmt.Fprintf(stderr, "slinkerd config: %v\n", err)
		return 1
	}
	return exitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
