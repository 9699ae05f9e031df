// Package deploy_test checks the deploy artifacts that no other test
// runs. `docker build` is not available where slinkerd is developed and
// tested, so the Dockerfile is validated by parts: its go build command is
// read from it and run with the same environment and flags, and the
// binary must come out static (no ELF interpreter, no dynamic section),
// stripped, and carrying the version; its stages must put that binary at
// /opt/extensions/slinkerd in a minimal image that runs as non-root.
package deploy_test

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, …
	Args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	require.NoError(t, err)
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	return out
}

// shellWords splits s as sh would for the simple commands a Dockerfile
// RUN uses: blanks separate words, double and single quotes group.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unbalanced quotes in %q", s)
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// goBuild is the Dockerfile's go build command.
type goBuild struct {
	Env  map[string]string // the VAR=value words before go
	Args []string          // after "go build"
	Out  string            // the -o value
}

func findGoBuild(t *testing.T, ins []instruction) goBuild {
	t.Helper()
	for _, in := range ins {
		if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
			continue
		}
		words := shellWords(t, in.Args)
		gb := goBuild{Env: map[string]string{}}
		i := 0
		for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
			k, v, _ := strings.Cut(words[i], "=")
			gb.Env[k] = v
		}
		require.GreaterOrEqual(t, len(words), i+2, "RUN %s", in.Args)
		require.Equal(t, []string{"go", "build"}, words[i:i+2], "the RUN line must run go build directly: %s", in.Args)
		gb.Args = words[i+2:]
		for j, a := range gb.Args {
			if a == "-o" && j+1 < len(gb.Args) {
				gb.Out = gb.Args[j+1]
			}
		}
		return gb
	}
	t.Fatal("no RUN … go build line in the Dockerfile")
	return goBuild{}
}

// expand replaces ${NAME} with vars[NAME].
func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

func TestDockerfileStages(t *testing.T) {
	ins := readDockerfile(t)
	gb := findGoBuild(t, ins)

	// The last stage is the image: minimal base, non-root, the binary at
	// /opt/extensions/slinkerd as its entrypoint.
	last := 0
	for i, in := range ins {
		if in.Cmd == "FROM" {
			last = i
		}
	}
	final := ins[last:]
	base := final[0].Args
	assert.True(t, strings.HasPrefix(base, "gcr.io/distroless/static") || base == "scratch", "final base image %q", base)
	var user, entrypoint string
	var copies []string
	for _, in := range final {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entrypoint = in.Args
		case "COPY":
			copies = append(copies, in.Args)
		}
	}
	require.NotEmpty(t, user, "the image must set USER")
	name, _, _ := strings.Cut(user, ":")
	assert.NotContains(t, []string{"root", "0"}, name, "USER must not be root")
	assert.Contains(t, copies, "--from=build "+gb.Out+" /opt/extensions/slinkerd")
	assert.Equal(t, `["/opt/extensions/slinkerd"]`, entrypoint)

	// The layer stage holds the layer's tree.
	var layer []string
	inLayer := false
	for _, in := range ins {
		if in.Cmd == "FROM" {
			inLayer = strings.HasSuffix(in.Args, " AS layer")
			if inLayer {
				assert.Equal(t, "scratch AS layer", in.Args)
			}
			continue
		}
		if inLayer && in.Cmd == "COPY" {
			layer = append(layer, in.Args)
		}
	}
	assert.Equal(t, []string{"--from=build " + gb.Out + " /extensions/slinkerd"}, layer)
}

// TestDockerfileBuildIsStatic runs the Dockerfile's go build as docker
// would (same environment, flags and package; GOOS and GOARCH for this
// machine) and checks the binary.
// BuildKit's predefined platform arguments. A default given to one of
// them in a stage overrides the value BuildKit derives from --platform
// (docker/buildx#510): `--platform linux/arm64` would then build an
// amd64 binary.
var platformArgs = []string{"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
	"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"}

func TestDockerfilePlatformArgsHaveNoDefaults(t *testing.T) {
	var declared []string
	for _, in := range readDockerfile(t) {
		if in.Cmd != "ARG" {
			continue
		}
		for _, a := range strings.Fields(in.Args) {
			name, _, hasDefault := strings.Cut(a, "=")
			if slices.Contains(platformArgs, name) {
				declared = append(declared, name)
				assert.False(t, hasDefault, "ARG %s: a predefined platform argument must not have a default", a)
			}
		}
	}
	assert.Contains(t, declared, "TARGETARCH", "the build stage must declare TARGETARCH to read it")
}

// The Dockerfile's build, run for each architecture the image is
// published for, as BuildKit runs it under --platform: static, stripped,
// versioned, and of that architecture's ELF machine.
func TestDockerfileBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("links the whole binary")
	}
	for _, arch := range []struct {
		goarch  string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}} {
		t.Run(arch.goarch, func(t *testing.T) { dockerfileBuild(t, arch.goarch, arch.machine) })
	}
}

func dockerfileBuild(t *testing.T, goarch string, machine elf.Machine) {
	gb := findGoBuild(t, readDockerfile(t))
	vars := map[string]string{"TARGETOS": "linux", "TARGETARCH": goarch, "VERSION": "dockerfile-test"}
	assert.Equal(t, "0", gb.Env["CGO_ENABLED"], "CGO_ENABLED=0 makes the binary static")
	assert.Contains(t, gb.Args, "-trimpath")
	var ldflags string
	for i, a := range gb.Args {
		if a == "-ldflags" && i+1 < len(gb.Args) {
			ldflags = gb.Args[i+1]
		}
	}
	assert.Contains(t, strings.Fields(ldflags), "-s", "strip the symbol table")
	assert.Contains(t, strings.Fields(ldflags), "-w", "strip DWARF")
	require.NotEmpty(t, gb.Out)

	out := filepath.Join(t.TempDir(), "slinkerd")
	args := []string{"build"}
	for i := 0; i < len(gb.Args); i++ {
		a := expand(gb.Args[i], vars)
		if a == "-o" {
			args = append(args, "-o", out)
			i++
			continue
		}
		args = append(args, a)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // the Dockerfile builds from the repository root
	cmd.Env = os.Environ()
	var envs []string
	for k, v := range gb.Env {
		envs = append(envs, k+"="+expand(v, vars))
	}
	slices.Sort(envs)
	cmd.Env = append(cmd.Env, envs...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), b)
	t.Logf("built as the Dockerfile does: %s go %q", envs, args)

	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no ELF interpreter")
		assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "a static binary has no dynamic segment")
	}
	assert.Nil(t, f.Section(".interp"))
	assert.Nil(t, f.Section(".dynamic"))
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs, "no shared libraries")
	assert.Nil(t, f.Section(".symtab"), "-s strips the symbol table")
	assert.Equal(t, elf.ELFOSABI_NONE, f.OSABI)
	assert.Equal(t, machine, f.Machine, "GOARCH=%s from TARGETARCH", goarch)

	if goarch != runtime.GOARCH {
		return // cannot run it here
	}
	if v, err := exec.Command(out, "version").Output(); assert.NoError(t, err) {
		assert.Equal(t, "slinkerd dockerfile-test\n", string(v), "-X main.version is applied")
	}
}
