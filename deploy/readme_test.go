package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeployREADMEReferencesExist keeps deploy/README.md's walkthroughs
// honest: every make target it runs is in the Makefile, every file it
// links to or passes to a command is in the repository, and every test it
// names exists.
func TestDeployREADMEReferencesExist(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	doc := string(b)
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	require.NoError(t, err)

	targets := regexp.MustCompile(`(?m)\bmake ([a-z][a-z0-9-]*)`).FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, targets)
	for _, m := range targets {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(m[1])+`:`, string(mk), "make %s: no such target", m[1])
	}

	// Links relative to deploy/, and paths given to commands relative to
	// the repository root.
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(doc, -1) {
		_, err := os.Stat(m[1])
		assert.NoError(t, err, "link %s", m[1])
	}
	for _, m := range regexp.MustCompile(`(?:file://|-f |--template-file |replace )((?:deploy|examples)/[A-Za-z0-9_./-]+)`).FindAllStringSubmatch(doc, -1) {
		_, err := os.Stat(filepath.Join("..", m[1]))
		assert.NoError(t, err, "path %s", m[1])
	}

	var tests []string
	for _, m := range regexp.MustCompile("`(Test[A-Z][A-Za-z0-9_]*)(\\*)?`").FindAllStringSubmatch(doc, -1) {
		tests = append(tests, m[1])
	}
	require.NotEmpty(t, tests)
	var sources strings.Builder
	err = filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".tools" || d.Name() == "bin" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, "_test.go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sources.Write(src)
		}
		return nil
	})
	require.NoError(t, err)
	for _, name := range tests {
		assert.Contains(t, sources.String(), "func "+name, "%s is named in README.md but no test has that name", name)
	}
}
