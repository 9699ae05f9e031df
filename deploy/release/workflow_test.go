package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

var workflowPath = filepath.Join(repoRoot, ".github", "workflows", "release.yml")

// TestReleaseWorkflowLints runs actionlint (installed by `make tools`) on
// every workflow: syntax, expressions, action inputs, job needs and
// permissions.
func TestReleaseWorkflowLints(t *testing.T) {
	lint := filepath.Join(repoRoot, ".tools", "actionlint")
	if _, err := os.Stat(lint); err != nil {
		t.Fatalf("actionlint is not installed in .tools/: run `make tools` (%v)", err)
	}
	cmd := exec.Command(lint, "-color=false")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "actionlint:\n%s", out)

	// And it does catch a broken workflow, so a pass means something.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: missing\n    steps:\n      - run: echo ${{ github.nope }}\n"), 0o644))
	out, err = exec.Command(lint, "-color=false", bad).CombinedOutput()
	assert.Error(t, err, "actionlint passed a broken workflow:\n%s", out)
}

// TestReleaseWorkflowPublishesTheRelease checks that the workflow runs on
// version tags, builds with `make release`, publishes for each
// architecture the layer zip `make release` writes and makes it public,
// and builds the image for both platforms.
func TestReleaseWorkflowPublishesTheRelease(t *testing.T) {
	b, err := os.ReadFile(workflowPath)
	require.NoError(t, err)
	var wf struct {
		On struct {
			Push struct {
				Tags []string `yaml:"tags"`
			} `yaml:"push"`
		} `yaml:"on"`
		Jobs map[string]struct {
			Needs    any `yaml:"needs"`
			Strategy struct {
				Matrix struct {
					Region []string            `yaml:"region"`
					Arch   []map[string]string `yaml:"arch"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
			Steps []struct {
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &wf))
	assert.Equal(t, []string{"v*.*.*"}, wf.On.Push.Tags, "runs on version tags")

	build, ok := wf.Jobs["build"]
	require.True(t, ok, "a build job")
	var runs []string
	for _, s := range build.Steps {
		runs = append(runs, s.Run)
	}
	assert.Contains(t, strings.Join(runs, "\n"), `make release VERSION="$GITHUB_REF_NAME"`)

	layer, ok := wf.Jobs["layer"]
	require.True(t, ok, "a layer job")
	assert.Equal(t, "build", layer.Needs)
	assert.NotEmpty(t, layer.Strategy.Matrix.Region)
	var goarches []string
	lambdaArch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}
	for _, a := range layer.Strategy.Matrix.Arch {
		goarches = append(goarches, a["goarch"])
		assert.Equal(t, lambdaArch[a["goarch"]], a["lambda"], "Lambda's name for %s", a["goarch"])
	}
	assert.ElementsMatch(t, Arches, goarches, "a layer per release architecture")
	var publish string
	var zip string
	for _, s := range layer.Steps {
		if strings.Contains(s.Run, "publish-layer-version") {
			publish, zip = s.Run, s.Env["ZIP"]
		}
	}
	require.NotEmpty(t, publish, "a step publishes the layer")
	for _, arch := range Arches {
		name := strings.TrimPrefix(strings.ReplaceAll(zip, "${{ matrix.arch.goarch }}", arch), "dist/")
		assert.Equal(t, "slinkerd-layer-"+arch+".zip", name, "the zip published is the lean layer `make release` writes")
	}
	assert.Contains(t, publish, "--compatible-architectures")
	assert.Contains(t, publish, "add-layer-version-permission")
	assert.Contains(t, publish, "--principal '*'", "the layer version is public")
	assert.Contains(t, publish, "--action lambda:GetLayerVersion")

	image, ok := wf.Jobs["image"]
	require.True(t, ok, "an image job")
	var pushed bool
	for _, s := range image.Steps {
		if strings.HasPrefix(s.Uses, "docker/build-push-action@") {
			pushed = true
			assert.Equal(t, "deploy/Dockerfile", s.With["file"])
			assert.Equal(t, "linux/amd64,linux/arm64", s.With["platforms"])
			assert.Contains(t, s.With["build-args"], "VERSION=${{ github.ref_name }}")
		}
	}
	assert.True(t, pushed, "the image job builds and pushes the image")
}
