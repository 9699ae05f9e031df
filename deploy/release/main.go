// Command release builds the artifacts of one slinkerd release into a
// directory: for linux/amd64 and linux/arm64, the binary, the Lambda
// layer zips (lean: without the Cloud Run namer, as `make layer` builds
// it; full: every namer), a CycloneDX SBOM of every binary, and
// SHA256SUMS over all of them. `make release VERSION=vX.Y.Z` runs it.
//
// Usage:
//
//	go run ./deploy/release -version v0.1.0 -out dist/v0.1.0 -cyclonedx .tools/cyclonedx-gomod
//
// The output is reproducible: the same source tree, Go toolchain and
// version give the same bytes, wherever the tree is checked out. Binaries
// are built with -trimpath, -buildvcs=false and CGO_ENABLED=0, zip entries are dated
// SOURCE_DATE_EPOCH (2000-01-01 UTC when unset), and the SBOMs carry no
// serial number or timestamp.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/slinkerd/slinkerd/deploy/internal/layerzip"
)

// Arches are the release's target architectures, as GOARCH.
var Arches = []string{"amd64", "arm64"}

// LeanTags leave out of the lean build (the default layer) what a Lambda
// function rarely needs: the Cloud Run namer, with the Google SDK and
// gRPC, and the AWS SDK's shared-config chain (AWS settings come from the
// environment, where Lambda puts them). It is the Makefile's LAYER_TAGS
// (TestLeanTagsAreTheMakefiles).
const LeanTags = "slinkerd_nocloudrun,slinkerd_noawsconfig,slinkerd_nopromproto"

// semver is the form of a release version: vMAJOR.MINOR.PATCH with an
// optional pre-release (-rc.1) and build (+meta) suffix.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func main() {
	version := flag.String("version", "", "the release version, vX.Y.Z (required)")
	out := flag.String("out", "", "the directory to write the artifacts into (default dist/VERSION)")
	cdx := flag.String("cyclonedx", "cyclonedx-gomod", "the cyclonedx-gomod program that writes the SBOMs (`make tools` installs it)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: release -version vX.Y.Z [-out DIR] [-cyclonedx PATH]")
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Join("dist", *version)
	}
	files, err := Build(Options{Version: *version, Out: *out, CycloneDX: *cdx, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(*out, f))
		if err != nil {
			fmt.Fprintln(os.Stderr, "release:", err)
			os.Exit(1)
		}
		fmt.Printf("%10d  %s\n", fi.Size(), filepath.Join(*out, f))
	}
}

// Options say what to build and where.
type Options struct {
	// Version is stamped into every binary and names the release; it must
	// be a semantic version with a leading v (v0.1.0, v1.2.3-rc.1).
	Version string
	// Out is the directory the artifacts are written to. It is emptied
	// first, so that it holds exactly one release.
	Out string
	// CycloneDX is the cyclonedx-gomod program.
	CycloneDX string
	// Log receives the commands run, one per line. May be nil.
	Log io.Writer
}

// Build writes the release into o.Out and returns the names of the files
// written, SHA256SUMS last.
func Build(o Options) ([]string, error) {
	if !semver.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q: want a semantic version with a leading v, e.g. v0.1.0", o.Version)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	cdx, err := exec.LookPath(o.CycloneDX)
	if err != nil {
		return nil, fmt.Errorf("the SBOM tool %s: %w (run `make tools`)", o.CycloneDX, err)
	}
	if err := os.RemoveAll(o.Out); err != nil {
		return nil, fmt.Errorf("empty %s: %w", o.Out, err)
	}
	work := filepath.Join(o.Out, ".work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	mod, err := layerzip.ModTime(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, arch := range Arches {
		full := "slinkerd-linux-" + arch
		if err := goBuild(o, filepath.Join(o.Out, full), arch, ""); err != nil {
			return nil, err
		}
		lean := filepath.Join(work, "lean-"+arch, "slinkerd")
		if err := goBuild(o, lean, arch, LeanTags); err != nil {
			return nil, err
		}
		leanZip := "slinkerd-layer-" + arch + ".zip"
		fullZip := "slinkerd-layer-full-" + arch + ".zip"
		if err := layerzip.Write(filepath.Join(o.Out, leanZip), lean, mod); err != nil {
			return nil, fmt.Errorf("layer %s: %w", leanZip, err)
		}
		if err := layerzip.Write(filepath.Join(o.Out, fullZip), filepath.Join(o.Out, full), mod); err != nil {
			return nil, fmt.Errorf("layer %s: %w", fullZip, err)
		}
		sbomFull := full + ".cdx.json"
		sbomLean := "slinkerd-layer-" + arch + ".cdx.json"
		if err := sbom(o, cdx, filepath.Join(o.Out, full), filepath.Join(o.Out, sbomFull)); err != nil {
			return nil, err
		}
		if err := sbom(o, cdx, lean, filepath.Join(o.Out, sbomLean)); err != nil {
			return nil, err
		}
		files = append(files, full, leanZip, fullZip, sbomFull, sbomLean)
	}
	if err := os.RemoveAll(work); err != nil {
		return nil, err
	}
	sort.Strings(files)
	if err := writeSums(o.Out, files); err != nil {
		return nil, err
	}
	return append(files, "SHA256SUMS"), nil
}

// goBuild builds cmd/slinkerd for linux/arch with the release's flags:
// the same as `make build` and the Dockerfile.
func goBuild(o Options, out, arch, tags string) error {
	// -buildvcs=false: the same source gives the same bytes whether it is
	// a git checkout or an unpacked source archive; the version comes from
	// -X (and the SBOM), not from the VCS stamp.
	args := []string{"build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version=" + o.Version,
		"-tags", tags, "-o", out, "./cmd/slinkerd"}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	return run(o, cmd)
}

// sbom writes the CycloneDX JSON SBOM of bin: the Go toolchain and every
// module linked in, with versions and checksums, read from the binary's
// build information. No serial number and no timestamp, so the same
// binary always gives the same SBOM.
func sbom(o Options, cdx, bin, out string) error {
	cmd := exec.Command(cdx, "bin", "-json", "-noserial", "-notimestamp",
		"-version", o.Version, "-output", out, bin)
	return run(o, cmd)
}

func run(o Options, cmd *exec.Cmd) error {
	fmt.Fprintf(o.Log, "%s %s\n", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "))
	var stderr strings.Builder
	cmd.Stdout = o.Log
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return nil
}

// writeSums writes SHA256SUMS in the format `sha256sum -c` checks: one
// line per file, the hex digest, two spaces, the name.
func writeSums(dir string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		sum, err := sha256File(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, f)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
