package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
	"github.com/slinkerd/slinkerd/core/name"
)

// parseDtab is the hook cmd/slinkerd passes: the naming core's parser.
func parseDtab(s string) error {
	_, err := name.ParseDtab(s)
	return err
}

func TestDtabHookWithNameParser(t *testing.T) {
	tests := []struct {
		name    string
		dtab    string
		wantErr bool
	}{
		{name: "valid", dtab: "/svc=>/#/io.l5d.fs;/svc/a=>/$/inet/127.0.0.1/80"},
		{name: "with comment", dtab: "/svc=>/#/io.l5d.fs # files\n;/svc/b=>/$/nil"},
		{name: "missing arrow", dtab: "/svc/users", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env("SLINKERD_DTAB", tt.dtab), config.WithDtabValidator(parseDtab))
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), `SLINKERD_DTAB="`+tt.dtab+`": invalid dtab: dtab: offset `)
			var pe *name.ParseError
			assert.ErrorAs(t, err, &pe, "the parser's error is wrapped, not flattened")
		})
	}
}
