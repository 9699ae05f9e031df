package app

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestZoneFunc(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name string
		env  map[string]string
		nil_ bool
		want string
	}{
		{name: "explicit", env: map[string]string{"SLINKERD_ZONE": "us-east-1a"}, want: "us-east-1a"},
		{name: "off", env: map[string]string{"SLINKERD_ZONE": "us-east-1a", "SLINKERD_ZONE_AWARE": "off"}, nil_: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.env)
			require.NoError(t, err)
			f := zoneFunc(cfg, log)
			if tt.nil_ {
				assert.Nil(t, f)
				return
			}
			require.NotNil(t, f)
			assert.Equal(t, tt.want, f())
		})
	}
}
