package deploy_test

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

// codePaths are the properties of a SAM template whose value is local
// code that `sam deploy` (or `sam package`) uploads.
var codePaths = map[string]bool{"CodeUri": true, "ContentUri": true, "DefinitionUri": true}

// The SAM template's code and layer paths are literal local paths: the
// SAM CLI packager uploads only those, and fails on an intrinsic function
// such as !Ref with "'ContentUri' requires Bucket and Key"
// (aws-sam-cli#4767), which cfn-lint does not notice (issue 15).
func TestSAMTemplateCodePathsAreLiteral(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("lambda", "template.yaml"))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(b, &doc))
	var found []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if codePaths[k.Value] {
					found = append(found, v.Value)
					assert.Equal(t, yaml.ScalarNode, v.Kind, "%s (line %d) must be a literal path", k.Value, k.Line)
					assert.False(t, strings.HasPrefix(v.Tag, "!") && v.Tag != "!!str", "%s (line %d) is %s %s: sam deploy cannot upload it", k.Value, k.Line, v.Tag, v.Value)
					assert.False(t, filepath.IsAbs(v.Value), "%s (line %d) must be relative to the template", k.Value, k.Line)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	assert.Len(t, found, 2, "the layer's ContentUri and the function's CodeUri")
}

// make sam-artifacts fills the paths the template names: the layer's
// tree with an executable extensions/slinkerd, and the function's
// bootstrap.
func TestSAMArtifactsFillTheTemplatePaths(t *testing.T) {
	if testing.Short() {
		t.Skip("links two binaries")
	}
	bin := t.TempDir()
	cmd := exec.Command("make", "sam-artifacts", "BIN="+bin)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range []string{"sam/layer/extensions/slinkerd", "sam/function/bootstrap"} {
		fi, err := os.Stat(filepath.Join(bin, p))
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&0o111, "%s is executable", p)
	}
	tpl, err := os.ReadFile(filepath.Join("lambda", "template.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(tpl), "ContentUri: ../../bin/sam/layer")
	assert.Contains(t, string(tpl), "CodeUri: ../../bin/sam/function")
}
