package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/deploy/internal/layerzip"
)

// repoRoot is the repository's top directory (this package is two below).
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}()

func cycloneDX(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot, ".tools", "cyclonedx-gomod")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("cyclonedx-gomod is not installed in .tools/: run `make tools` (%v)", err)
	}
	return p
}

// TestReleaseIsReproducible builds the whole release twice, from two
// copies of the source tree at different paths, and requires the same
// files with the same bytes; then checks what each artifact is (issue 15:
// `make release` twice gives byte-identical artifacts).
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	cdx := cycloneDX(t)
	const version = "v0.1.0-test.1"
	var outs [2]string
	for i, dir := range []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "a-longer", "checkout", "path")} {
		copyTree(t, repoRoot, dir)
		outs[i] = filepath.Join(t.TempDir(), "dist")
		cmd := exec.Command("go", "run", "./deploy/release", "-version", version, "-out", outs[i], "-cyclonedx", cdx)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}

	want := []string{
		"SHA256SUMS",
		"slinkerd-layer-amd64.cdx.json", "slinkerd-layer-amd64.zip",
		"slinkerd-layer-arm64.cdx.json", "slinkerd-layer-arm64.zip",
		"slinkerd-layer-full-amd64.zip", "slinkerd-layer-full-arm64.zip",
		"slinkerd-linux-amd64", "slinkerd-linux-amd64.cdx.json",
		"slinkerd-linux-arm64", "slinkerd-linux-arm64.cdx.json",
	}
	assert.Equal(t, want, listDir(t, outs[0]), "the artifact set")
	assert.Equal(t, want, listDir(t, outs[1]), "the artifact set")
	for _, f := range want {
		a, err := os.ReadFile(filepath.Join(outs[0], f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(outs[1], f))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, b), "%s differs between two builds of the same source", f)
	}

	dist := outs[0]
	t.Run("SHA256SUMS", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
		require.Len(t, lines, len(want)-1, "one line per artifact but itself")
		for _, line := range lines {
			sum, name, ok := strings.Cut(line, "  ")
			require.True(t, ok, "%q: want `digest  name`", line)
			b, err := os.ReadFile(filepath.Join(dist, name))
			require.NoError(t, err)
			h := sha256.Sum256(b)
			assert.Equal(t, hex.EncodeToString(h[:]), sum, name)
		}
	})
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, machine := range machines {
		t.Run(arch, func(t *testing.T) {
			bin := filepath.Join(dist, "slinkerd-linux-"+arch)
			checkBinary(t, bin, machine, version, "")
			for zipName, tags := range map[string]string{
				"slinkerd-layer-" + arch + ".zip":      LeanTags,
				"slinkerd-layer-full-" + arch + ".zip": "",
			} {
				extracted := unzipLayer(t, filepath.Join(dist, zipName))
				checkBinary(t, extracted, machine, version, tags)
			}
			for _, sbomName := range []string{"slinkerd-linux-" + arch + ".cdx.json", "slinkerd-layer-" + arch + ".cdx.json"} {
				checkSBOM(t, filepath.Join(dist, sbomName), version)
			}
		})
	}
}

// TestReleaseVersionMustBeSemver: a release needs a real version, checked
// before anything is built or removed.
func TestReleaseVersionMustBeSemver(t *testing.T) {
	for _, v := range []string{"", "0.1.0", "v0.1", "v01.2.3", "v1.2.3 ", "latest"} {
		out := filepath.Join(t.TempDir(), "keep")
		require.NoError(t, os.MkdirAll(out, 0o755))
		_, err := Build(Options{Version: v, Out: out, CycloneDX: "true"})
		assert.ErrorContains(t, err, "semantic version", "%q", v)
		assert.DirExists(t, out, "nothing is removed for a bad version")
	}
	for _, v := range []string{"v0.1.0", "v1.22.333", "v1.0.0-rc.1", "v1.0.0+build.5"} {
		assert.True(t, semver.MatchString(v), v)
	}
}

var hostMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func checkBinary(t *testing.T, path string, machine elf.Machine, version, tags string) {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, machine, f.Machine, "%s: ELF machine", path)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s: static, no ELF interpreter", path)
	}
	bi, err := buildinfo.ReadFile(path)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	// -trimpath keeps -ldflags out of the build information, so look for
	// the stamp itself; and where the binary runs here, ask it.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Contains(b, []byte(version)), "%s: version %s stamped", path, version)
	if runtime.GOOS == "linux" && bi.GoVersion != "" && machine == hostMachine[runtime.GOARCH] {
		require.NoError(t, os.Chmod(path, 0o755))
		out, err := exec.Command(path, "version").Output()
		require.NoError(t, err, path)
		assert.True(t, strings.HasPrefix(string(out), "slinkerd "+version), "%s version: %q", path, out)
	}
	assert.Equal(t, "true", settings["-trimpath"], path)
	assert.Equal(t, "0", settings["CGO_ENABLED"], path)
	assert.Equal(t, tags, settings["-tags"], "%s: build tags", path)
}

func unzipLayer(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"extensions/", layerzip.ExtensionPath}, names, path)
	f := zr.File[1]
	assert.Equal(t, os.FileMode(0o755), f.Mode(), "%s: the extension is executable", path)
	rc, err := f.Open()
	require.NoError(t, err)
	defer rc.Close()
	out := filepath.Join(t.TempDir(), "slinkerd")
	w, err := os.Create(out)
	require.NoError(t, err)
	_, err = io.Copy(w, rc)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out
}

func checkSBOM(t *testing.T, path, version string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var bom struct {
		BOMFormat    string `json:"bomFormat"`
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(b, &bom), path)
	assert.Equal(t, "CycloneDX", bom.BOMFormat, path)
	assert.Empty(t, bom.SerialNumber, "%s: no random serial number", path)
	assert.Empty(t, bom.Metadata.Timestamp, "%s: no timestamp", path)
	assert.Equal(t, "github.com/slinkerd/slinkerd", bom.Metadata.Component.Name, path)
	assert.Equal(t, version, bom.Metadata.Component.Version, path)
	var names []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	assert.Contains(t, names, "github.com/caarlos0/env/v11", "%s: lists the modules linked in", path)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// copyTree copies the source tree at src to dst: the files git tracks
// when src is a git checkout (so build outputs stay behind), else every
// file but bin/, dist/ and .tools/.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	var files []string
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = src
	if out, err := cmd.Output(); err == nil {
		for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
	} else {
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			if d.IsDir() {
				switch rel {
				case "bin", "dist", ".tools", ".git":
					return filepath.SkipDir
				}
				return nil
			}
			files = append(files, rel)
			return nil
		})
		require.NoError(t, err)
	}
	for _, f := range files {
		from := filepath.Join(src, f)
		fi, err := os.Lstat(from)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		require.NoError(t, err)
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		to := filepath.Join(dst, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
		require.NoError(t, os.WriteFile(to, b, fi.Mode().Perm()))
	}
}

// TestLeanTagsAreTheMakefiles: the release's layer is the layer `make
// layer` builds.
func TestLeanTagsAreTheMakefiles(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	var layerTags []string
	for _, line := range strings.Split(string(mk), "\n") {
		if v, ok := strings.CutPrefix(line, "LAYER_TAGS ?="); ok {
			layerTags = strings.Fields(v)
		}
	}
	require.NotEmpty(t, layerTags, "the Makefile sets LAYER_TAGS ?= …")
	assert.Equal(t, layerTags, strings.Split(LeanTags, ","))
}
