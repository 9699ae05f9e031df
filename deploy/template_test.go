package deploy_test

import (
	"archive/zip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
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
	// The zips the AWS CLI walkthrough uploads hold the same files.
	for zipName, entry := range map[string]string{"sam/layer.zip": "extensions/slinkerd", "sam/function.zip": "bootstrap"} {
		zr, err := zip.OpenReader(filepath.Join(bin, zipName))
		require.NoError(t, err)
		var found bool
		for _, f := range zr.File {
			if f.Name == entry {
				found = true
				assert.Equal(t, os.FileMode(0o755), f.Mode(), "%s: %s", zipName, entry)
			}
		}
		assert.True(t, found, "%s holds %s", zipName, entry)
		require.NoError(t, zr.Close())
	}
	tpl, err := os.ReadFile(filepath.Join("lambda", "template.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(tpl), "ContentUri: ../../bin/sam/layer")
	assert.Contains(t, string(tpl), "CodeUri: ../../bin/sam/function")
}

// TestSAMTemplateValidates checks the template as `sam validate --lint`
// would, offline: cfn-lint, then the AWS SAM translator (the library the
// SAM CLI runs, through lambda/testdata/sam_translate.py); and then what
// the translation grants and sets: only the two Cloud Map discovery
// calls, limited to the template's namespace; only variables slinkerd
// knows; a default dtab that parses.
func TestSAMTemplateValidates(t *testing.T) {
	tpl := filepath.Join("lambda", "template.yaml")
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not installed (pip install cfn-lint): %v", err)
	}
	out, err := exec.Command(lint, tpl).CombinedOutput()
	require.NoError(t, err, "cfn-lint:\n%s", out)

	cmd := exec.Command("python3", filepath.Join("lambda", "testdata", "sam_translate.py"), tpl)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.NoError(t, err, "the SAM translator rejects the template (pip install aws-sam-translator):\n%s", stderr.String())
	var cfn struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		}
	}
	require.NoError(t, json.Unmarshal(out, &cfn))

	var role, fn map[string]any
	var layers int
	for _, r := range cfn.Resources {
		switch r.Type {
		case "AWS::IAM::Role":
			role = r.Properties
		case "AWS::Lambda::Function":
			fn = r.Properties
		case "AWS::Lambda::LayerVersion":
			layers++
			assert.Equal(t, []any{map[string]any{"Ref": "Architecture"}}, r.Properties["CompatibleArchitectures"])
		}
	}
	require.NotNil(t, role, "an execution role")
	require.NotNil(t, fn, "a function")
	assert.Equal(t, 1, layers, "the slinkerd layer")
	assert.Equal(t, []any{map[string]any{"Ref": "Architecture"}}, fn["Architectures"])

	// Least privilege: the inline policy allows the namer's two calls,
	// on the template's namespace only.
	policies, _ := role["Policies"].([]any)
	require.Len(t, policies, 1, "one inline policy")
	doc := policies[0].(map[string]any)["PolicyDocument"].(map[string]any)
	stmts := doc["Statement"].([]any)
	require.Len(t, stmts, 1)
	st := stmts[0].(map[string]any)
	assert.Equal(t, "Allow", st["Effect"])
	assert.ElementsMatch(t, []any{"servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"}, st["Action"])
	assert.Equal(t, map[string]any{"StringEquals": map[string]any{
		"servicediscovery:NamespaceName": map[string]any{"Ref": "CloudMapNamespace"},
	}}, st["Condition"], "scoped to the namespace")
	// The policy the AWS CLI walkthrough attaches is the same statement.
	b, err := os.ReadFile(filepath.Join("lambda", "iam", "cloudmap-discovery.json"))
	require.NoError(t, err)
	var cli struct{ Statement []map[string]any }
	require.NoError(t, json.Unmarshal(b, &cli))
	require.Len(t, cli.Statement, 1)
	want := map[string]any{}
	for k, v := range st {
		want[k] = v
	}
	want["Condition"] = map[string]any{"StringEquals": map[string]any{"servicediscovery:NamespaceName": "NAMESPACE"}}
	assert.Equal(t, want, cli.Statement[0], "lambda/iam/cloudmap-discovery.json matches the template")

	// The managed policies are only the basic execution and X-Ray ones.
	for _, arn := range role["ManagedPolicyArns"].([]any) {
		s, _ := json.Marshal(arn)
		assert.Regexp(t, `AWSLambdaBasicExecutionRole|AWSXrayWriteOnlyAccess|AWSXRayDaemonWriteAccess`, string(s))
	}

	// Every SLINKERD_* variable set is one slinkerd reads.
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
	}
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	for k := range vars {
		if strings.HasPrefix(k, "SLINKERD_") {
			assert.True(t, known[k], "%s is not a slinkerd variable", k)
		}
	}
	// The default dtab, with the namespace's default, parses.
	ifDtab, _ := vars["SLINKERD_DTAB"].(map[string]any)["Fn::If"].([]any)
	require.Len(t, ifDtab, 3, "SLINKERD_DTAB: !If [DefaultDtab, !Sub …, !Ref Dtab]: %v", vars["SLINKERD_DTAB"])
	sub, _ := ifDtab[1].(map[string]any)["Fn::Sub"].(string)
	require.NotEmpty(t, sub, "the default dtab is a !Sub of the namespace: %v", ifDtab[1])
	_, err = name.ParseDtab(strings.ReplaceAll(sub, "${CloudMapNamespace}", "demo"))
	assert.NoError(t, err, "the default dtab %q", sub)
}
