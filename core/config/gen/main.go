// Command gen writes docs/config.md, the reference table of slinkerd's
// environment variables, to standard output (or to the file named by -o):
//
//	go run ./core/config/gen > docs/config.md
//
// It reads the doc comments of package core/config from its source
// directory, which it finds with `go list` (or -dir).
package main

import (
	"flag"
	"fmt"
	"go/build"
	"os"
	"path/filepath"

	"github.com/slinkerd/slinkerd/core/config/internal/docgen"
)

const pkg = "github.com/slinkerd/slinkerd/core/config"

func main() {
	dir := flag.String("dir", "", "source directory of "+pkg+" (default: found with go list)")
	out := flag.String("o", "", "write to this file instead of standard output")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		p, err := build.Import(pkg, wd, build.FindOnly)
		if err != nil {
			return fmt.Errorf("find %s: %w (use -dir)", pkg, err)
		}
		dir = p.Dir
	}
	doc, err := docgen.Generate(dir)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	// Write next to the target and rename, so a failure never leaves a
	// truncated file.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".config.md.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(doc); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
