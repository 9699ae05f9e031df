package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/config/internal/docgen"
)

// docsPath is docs/config.md, relative to this package's directory.
var docsPath = filepath.Join("..", "..", "docs", "config.md")

// TestDocsUpToDate fails when docs/config.md no longer matches the struct.
func TestDocsUpToDate(t *testing.T) {
	want, err := docgen.Generate(".")
	require.NoError(t, err)
	got, err := os.ReadFile(docsPath)
	require.NoError(t, err, "docs/config.md is missing; generate it with: %s", docgen.Command)
	if string(got) != string(want) {
		t.Fatalf("docs/config.md is out of date; regenerate it from the repository root with:\n\n\t%s\n", docgen.Command)
	}
}

// TestDocsListEveryVariable checks the generated table has one row per
// variable, with its default.
func TestDocsListEveryVariable(t *testing.T) {
	doc, err := docgen.Generate(".")
	require.NoError(t, err)
	for _, v := range config.Variables() {
		def := "*empty*"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		row := "| `" + v.Name + "` | " + v.Type + " | " + def + " | "
		assert.Equal(t, 1, strings.Count(string(doc), row), "row for %s", v.Name)
	}
}
