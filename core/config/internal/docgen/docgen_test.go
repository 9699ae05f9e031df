package docgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestGenerateNeedsSource(t *testing.T) {
	_, err := Generate(t.TempDir())
	assert.ErrorContains(t, err, "no struct fields")
}

// TestGenerateRequiresDocs feeds a copy of config.go with a field's doc
// comment changed and checks that generation refuses it.
func TestGenerateRequiresDocs(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "config.go"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{
			name: "missing doc comment",
			edit: func(s string) string {
				return replace(t, s, "\t// MaxEffort is how many times P2C picks again to find an open endpoint\n\t// before it sends to a closed one anyway, in attempts. Defaults to 5.\n", "")
			},
			wantErr: "SLINKERD_MAX_EFFORT (BalancerConfig.MaxEffort) has no doc comment",
		},
		{
			name: "wrong default",
			edit: func(s string) string {
				return replace(t, s, "anyway, in attempts. Defaults to 5.", "anyway, in attempts. Defaults to 6.")
			},
			wantErr: `SLINKERD_MAX_EFFORT (BalancerConfig.MaxEffort): doc comment must state the default: "Defaults to 5."`,
		},
		{
			name: "empty default not stated",
			edit: func(s string) string {
				return replace(t, s, "Defaults to\n\t// empty (no dentries", "Default is\n\t// nothing (no dentries")
			},
			wantErr: `SLINKERD_DTAB (RoutingConfig.Dtab): doc comment must state the default: "Defaults to empty"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "config.go"), []byte(tt.edit(string(src))), 0o600))
			_, err := Generate(dir)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return strings.Replace(s, old, new, 1)
}

func TestDescribe(t *testing.T) {
	vars := config.Variables()
	find := func(name string) config.Variable {
		for _, v := range vars {
			if v.Name == name {
				return v
			}
		}
		t.Fatalf("no %s", name)
		return config.Variable{}
	}
	tests := []struct {
		name string
		doc  string
		v    string
		want string
	}{
		{"drops field name and verb", "Listen is the\n address.", "SLINKERD_LISTEN", "The address."},
		{"drops field name before a verb", "TrustForwarded keeps it.", "SLINKERD_TRUST_FORWARDED", "Keeps it."},
		{"drops field name before a comma", "IdentifierConsume, with Identifier path:N, removes.", "SLINKERD_IDENTIFIER_CONSUME",
			"With `SLINKERD_IDENTIFIER` path:N, removes."},
		{"escapes markdown", "Dtab is a|b * <c>.", "SLINKERD_DTAB", `A\|b \* &lt;c&gt;.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describe(tt.doc, find(tt.v), vars))
		})
	}
}
