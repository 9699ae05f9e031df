package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

func TestParseIdentifier(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    config.Identifier
		wantErr bool
	}{
		{name: "header", in: "header", want: config.Identifier{Kind: config.IdentifierHeader}},
		{name: "method-host", in: "method-host", want: config.Identifier{Kind: config.IdentifierMethodHost}},
		{name: "path 1", in: "path:1", want: config.Identifier{Kind: config.IdentifierPath, Segments: 1}},
		{name: "path 100", in: "path:100", want: config.Identifier{Kind: config.IdentifierPath, Segments: 100}},
		{name: "named header", in: "header:l5d-name", want: config.Identifier{Kind: config.IdentifierHeaderPath, Header: "l5d-name"}},
		{name: "named header tchars", in: "header:X-Svc_Name.v1", want: config.Identifier{Kind: config.IdentifierHeaderPath, Header: "X-Svc_Name.v1"}},
		{name: "empty", in: "", wantErr: true},
		{name: "unknown", in: "host", wantErr: true},
		{name: "path without N", in: "path", wantErr: true},
		{name: "path 0", in: "path:0", wantErr: true},
		{name: "path 101", in: "path:101", wantErr: true},
		{name: "path sign", in: "path:+2", wantErr: true},
		{name: "header empty name", in: "header:", wantErr: true},
		{name: "header with colon", in: "header::authority", wantErr: true},
		{name: "header with space", in: "header:a b", wantErr: true},
		{name: "method-host with arg", in: "method-host:1", wantErr: true},
		{name: "case matters", in: "Header", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseIdentifier(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String(), "String round-trips")
		})
	}
}

func TestParsedIdentifier(t *testing.T) {
	cfg, err := config.Load(env("SLINKERD_IDENTIFIER", "path:2", "SLINKERD_IDENTIFIER_CONSUME", "true"))
	require.NoError(t, err)
	id, err := cfg.Routing.ParsedIdentifier()
	require.NoError(t, err)
	assert.Equal(t, config.Identifier{Kind: config.IdentifierPath, Segments: 2}, id)
	assert.True(t, cfg.Routing.IdentifierConsume)
}
