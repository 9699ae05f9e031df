package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every SLINKERD_* variable the code or the docs tell a user about
// exists: slinkerd refuses unknown variables, so an error message or a
// page that names one sends the user into a second error. (Issue 14,
// defect 11: an error said to set SLINKERD_MAX_RESPONSE_HEADER_BYTES.)
func TestEveryNamedVariableExists(t *testing.T) {
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
	}
	// Names that are not variables: prefixes in prose, build tags.
	notVars := regexp.MustCompile(`^SLINKERD_(NOCLOUD\w*)$`)
	re := regexp.MustCompile(`SLINKERD_[A-Z0-9_]*[A-Z0-9](_\*)?`)
	root := filepath.Join("..", "..")
	var checked int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".tools", "bin", "node_modules", "testdata", "artifacts":
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if (ext != ".go" && ext != ".md") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, m := range re.FindAllString(string(b), -1) {
			if strings.HasSuffix(m, "*") || notVars.MatchString(m) { // a family, SLINKERD_RETRY_*
				continue
			}
			assert.True(t, known[m], "%s names %s, which is not a slinkerd variable", path, m)
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, checked, 50)
}
